"""What keeps robots off the public contact form, without a third-party captcha: a honeypot
field people never see, a signed token of when the form was shown (too fast or too old is
refused), a limit of submissions per client address and tenant (tenants.throttle: counted in
the cache, Redis in production), and for the embeddable form, which third-party frames cannot
give a CSRF cookie, a check that the POST comes from a page of this host.

The token binds the tenant: one shown on another tenant's host does not count here."""

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core import signing

from tenants import throttle
from tenants.models import Organization

# The honeypot's field name: one that form-filling robots like to fill.
HONEYPOT_FIELD = "website"
TOKEN_FIELD = "shown"  # noqa: S105  # a form field's name, not a secret
TOKEN_SALT = "portal.contact-form.shown"  # noqa: S105  # a namespace, not a secret
MIN_SECONDS = 3  # a person takes longer than this to read and fill the form
MAX_SECONDS = 24 * 60 * 60

TOO_FAST = "That was quicker than we expected. Please check your message and send it again."
TOO_OLD = "This form was open for a long time. Please check your message and send it again."
BROKEN = "We could not read this form. Please check your message and send it again."

CONTACT_FORM = throttle.Policy(
    name="contact-form",
    message="Too many messages from your network; please try again in {wait}.",
    per_account=0,  # never counted per account: the sender's address is anyone's to type
    per_address=5,
    window=10 * 60,
    first_lock=10 * 60,
)


@dataclass(frozen=True)
class TokenProblem:
    message: str


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=TOKEN_SALT)


def token_issue(organization: Organization) -> str:
    """The token a form carries: this tenant's id, signed with the time it was shown."""
    return _signer().sign(str(organization.pk))


def token_problem(organization: Organization, token: str) -> TokenProblem | None:
    """Why this token does not let a submission through (None: it does)."""
    try:
        value = _signer().unsign(token or "", max_age=MAX_SECONDS)
    except signing.SignatureExpired:
        return TokenProblem(TOO_OLD)
    except signing.BadSignature:
        return TokenProblem(BROKEN)
    if value != str(organization.pk):
        return TokenProblem(BROKEN)
    shown_at = signing.b62_decode(token.rsplit(":", 2)[1])
    if time.time() - shown_at < MIN_SECONDS:
        return TokenProblem(TOO_FAST)
    return None


def honeypot_filled(data) -> bool:
    return bool((data.get(HONEYPOT_FIELD) or "").strip())


def _address_key(organization: Organization, request) -> str:
    # Per tenant: one tenant's visitors never use up another's allowance. Requests without
    # an address share one allowance.
    return f"{organization.pk}|{throttle.client_address(request) or 'unknown'}"


def rate_check(organization: Organization, request) -> None:
    """Raise throttle.Throttled while the client's address has used up its allowance."""
    throttle.check(CONTACT_FORM, account=None, address=_address_key(organization, request))


def rate_count(organization: Organization, request) -> None:
    """Count one submission of the client's address (the one that reaches the limit still
    goes through; the next ones wait until the lock ends)."""
    throttle.fail(CONTACT_FORM, account=None, address=_address_key(organization, request))


def from_this_host(request) -> bool:
    """The POST came from a page of this host (the browser's Origin, else its Referer): what
    the CSRF cookie cannot prove inside another site's frame."""
    source = request.META.get("HTTP_ORIGIN") or request.META.get("HTTP_REFERER") or ""
    parts = urlsplit(source)
    host = request.get_host().lower()
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host
