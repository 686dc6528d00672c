"""Which addresses a tenant may claim as inbound addresses, and the proofs for custom domains.

A tenant owns the platform's per-tenant domains, `<slug>.<MAIL_DOMAIN>` and `<slug>.<BASE_DOMAIN>`,
and every custom mail domain it verified by a DNS TXT record (`helpdesk-verification=<token>` at
the domain or at `_helpdesk.<domain>`). One address on a domain it has not verified becomes its
own when a confirmation mail with a signed code, sent to that address, comes back through
intake (or an admin enters the code from it). Never the platform's own domains, never another
tenant's subdomain, never a reserved mailbox name, never another tenant's user's address.

Reads only; the services in inbound_mail.services.addresses and .mail_domains act on the answers.
`txt_records` is the one call to public DNS, a module attribute that tests replace.
"""

import re
from datetime import timedelta

import dns.exception
import dns.resolver
from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django_scopes import scopes_disabled

from inbound_mail.models import AddressConfirmation, InboundAddress, MailDomain
from tenants.models import Membership, Organization, User

# RFC 2142 sections 4 and 5 (network operations and services; section 3's business names such as
# support@ and sales@ are exactly what a helpdesk is for), plus the names mail systems and
# certificate authorities rely on: bounces (RFC 5321 4.5.5 mailer-daemon) and the CA/Browser
# Forum's domain-validation mailboxes (admin, administrator, hostmaster, postmaster, webmaster).
RESERVED_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "noc",
        "security",
        "postmaster",
        "hostmaster",
        "usenet",
        "news",
        "webmaster",
        "www",
        "uucp",
        "ftp",
        "root",
        "admin",
        "administrator",
        "mailer-daemon",
        "no-reply",
        "noreply",
        "bounce",
        "bounces",
    }
)

TXT_PREFIX = "helpdesk-verification="
TXT_LABEL = "_helpdesk"
# How long a confirmation code mailed to an address stays good.
CONFIRMATION_VALID = timedelta(days=7)
CODE_PATTERN = re.compile(r"hdconfirm-(\d{1,18})-([0-9a-f]{24})")
_CODE_SALT = "inbound_mail.domains.address_confirmation"
# A confirmation mail is small; a code further into a message than this is not looked for.
CODE_SCAN_BYTES = 256 * 1024

ALREADY_IN_USE = "This address is already in use."


def platform_domains() -> set[str]:
    """The platform's own domains: nobody's inbound addresses live at them."""
    return {settings.BASE_DOMAIN.lower(), settings.MAIL_DOMAIN.lower()}


def tenant_platform_domains(organization: Organization) -> list[str]:
    """The per-tenant domains the platform gives every tenant, mail domain first."""
    return [
        f"{organization.slug}.{d}".lower() for d in (settings.MAIL_DOMAIN, settings.BASE_DOMAIN)
    ]


def under_platform(domain: str) -> bool:
    """The domain is a platform domain or below one (every tenant's subdomain is)."""
    return any(domain == d or domain.endswith("." + d) for d in platform_domains())


def split(address: str) -> tuple[str, str]:
    local, _, domain = address.strip().lower().rpartition("@")
    return local, domain


def address_refusal(
    *, organization: Organization, address: str, confirmed_by_mail: bool = False
) -> str | None:
    """Why this tenant may not use the address as an inbound address; None when it may.

    `confirmed_by_mail`: the address itself came back by mail, so its custom domain need not be
    verified (a domain another tenant verified still belongs to that tenant).
    """
    local, domain = split(address)
    if not local or not domain:
        return "Enter a complete address."
    if local.partition("+")[0] in RESERVED_LOCAL_PARTS:
        return f"{local}@ is reserved for mail systems on every domain; choose another name."
    return (
        _domain_refusal(organization, domain, confirmed_by_mail)
        or _taken_refusal(address.strip().lower())
        or _user_refusal(organization, address.strip().lower())
    )


def _domain_refusal(organization: Organization, domain: str, confirmed_by_mail: bool) -> str | None:
    own = tenant_platform_domains(organization)
    if domain in platform_domains():
        return f"{domain} is the platform's own domain; use an address at {own[0]}."
    if under_platform(domain):
        return None if domain in own else f"{domain} is not a domain of this account."
    verified_by = verified_owner_id(domain)
    if verified_by == organization.pk:
        return None
    if verified_by is None and confirmed_by_mail:
        return None
    if verified_by is not None and confirmed_by_mail:
        return f"{domain} is not a domain of this account."
    return (
        f"{domain} is not verified: add it under Mail domains and verify it by DNS, "
        "or confirm this one address by mail."
    )


def verified_owner_id(domain: str) -> int | None:
    """The tenant that verified this custom domain, if any (at most one can)."""
    # Ownership of a domain is a platform-wide fact; only the tenant's id is read.
    with scopes_disabled():  # which tenant, if any, verified the domain
        row = MailDomain.objects.filter(domain=domain, verified=True).values("organization_id")
        found = row.first()
    return found["organization_id"] if found else None


def _taken_refusal(address: str) -> str | None:
    # Yes or no across tenants, never whose it is.
    with scopes_disabled():  # uniqueness across tenants
        taken = InboundAddress.objects.filter(address__iexact=address).exists()
    return ALREADY_IN_USE if taken else None


def _user_refusal(organization: Organization, address: str) -> str | None:
    users = User.objects.filter(email__iexact=address)
    if not users.exists():
        return None
    # Memberships of this tenant only: whether the user belongs to any other stays unsaid.
    with scopes_disabled():  # membership of these users in this one tenant
        member = Membership.objects.filter(organization=organization, user__in=users).exists()
    return None if member else "This address belongs to a user of another account."


# -- DNS -------------------------------------------------------------------------------------


def txt_records(name: str) -> list[str]:
    """The TXT strings published at a name; none when it has none or DNS does not answer."""
    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=5.0)
    except dns.exception.DNSException:
        return []
    return [b"".join(getattr(r, "strings", ())).decode("utf-8", "replace") for r in answer]


def txt_names(domain: str) -> list[str]:
    """Where the verification record may be: the domain itself or `_helpdesk.<domain>`."""
    return [domain, f"{TXT_LABEL}.{domain}"]


def txt_value(mail_domain: MailDomain) -> str:
    return f"{TXT_PREFIX}{mail_domain.token}"


def txt_verifies(mail_domain: MailDomain) -> bool:
    """Whether DNS now publishes this tenant's record for the domain."""
    wanted = txt_value(mail_domain)
    return any(
        record.strip() == wanted
        for name in txt_names(mail_domain.domain)
        for record in txt_records(name)
    )


# -- confirmation codes ----------------------------------------------------------------------


def confirmation_code(confirmation: AddressConfirmation) -> str:
    """`hdconfirm-<id>-<mac>`: names the request, signed for its tenant, address and time."""
    return f"hdconfirm-{confirmation.pk}-{_mac(confirmation)}"


def _mac(confirmation: AddressConfirmation) -> str:
    value = ":".join(
        [
            str(confirmation.organization_id),
            str(confirmation.pk),
            confirmation.address,
            confirmation.created_at.isoformat(),
        ]
    )
    return salted_hmac(_CODE_SALT, value, algorithm="sha256").hexdigest()[:24]


def find_code(text: str) -> tuple[int, str] | None:
    """The (request id, mac) of the first confirmation code in the text."""
    match = CODE_PATTERN.search(text)
    return (int(match.group(1)), match.group(2)) if match else None


def confirmation_for(code: tuple[int, str]) -> AddressConfirmation | None:
    """The pending request a code names, when its signature holds and it has not expired."""
    pk, mac = code
    # The code names its tenant; the signature is what makes that trustworthy.
    with scopes_disabled():  # the tenant is not known until the signed code is checked
        confirmation = (
            AddressConfirmation.objects.select_related("organization").filter(pk=pk).first()
        )
    if confirmation is None or not constant_time_compare(mac, _mac(confirmation)):
        return None
    if confirmation.created_at < timezone.now() - CONFIRMATION_VALID:
        return None
    return confirmation
