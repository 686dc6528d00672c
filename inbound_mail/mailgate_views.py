"""The mailgate's intake endpoint on the platform host: `bin/helpdesk-mailgate`, run by an MTA's
pipe transport, posts each message here with MAILGATE_SECRET as its bearer token.

The body is the raw message (any content type); `recipient` query parameters carry the envelope
recipients (Postfix's ${recipient}). The answer is 200 only after the message is stored and
committed through the same intake as every other door; 503 while MAILGATE_SECRET is unset or
when the database or the storage is unavailable, 401 for a wrong secret, 400 for an empty or
malformed request, 413 for a message far over the intake limit. The mailgate turns every
answer but 200 into exit status 75, and the MTA keeps the message queued.
"""

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from inbound_mail.models import Source
from inbound_mail.services import intake

logger = logging.getLogger(__name__)

MAX_RECIPIENTS = 100
MAX_ADDRESS = 320  # RFC 5321 4.5.3.1: 64 for the local part, 255 for the domain, and the @


def _text(body: str, status: int) -> HttpResponse:
    return HttpResponse(body + "\n", status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt  # an MTA posts without a CSRF token; the shared secret is checked instead
@require_POST
def mailgate(request: HttpRequest) -> HttpResponse:
    secret = settings.MAILGATE_SECRET
    if not secret:
        # Refused while unconfigured: anyone could post mail in any sender's name.
        return _text("the mailgate needs MAILGATE_SECRET", 503)
    if not _authorized(request, secret):
        response = _text("wrong or missing bearer token", 401)
        response["WWW-Authenticate"] = 'Bearer realm="mailgate"'
        return response
    recipients = request.GET.getlist("recipient")
    if len(recipients) > MAX_RECIPIENTS or any(len(r) > MAX_ADDRESS for r in recipients):
        return _text(f"at most {MAX_RECIPIENTS} recipients of {MAX_ADDRESS} characters", 400)
    raw = _message(request)
    if raw is None:
        return _text("message too large", 413)
    if not raw:
        return _text("no message in the body", 400)
    try:
        receipt = intake.inbound_receive(
            raw=raw, source=Source.MAILGATE, envelope_recipients=recipients
        )
    except (DatabaseError, OSError) as exc:
        logger.warning("mailgate: not stored: %s", exc)
        return _text("not stored, try again later", 503)
    unclaimed = " (no tenant claims it: kept in the platform quarantine)"
    return _text(f"stored {receipt.sha256}{unclaimed if receipt.unclaimed_id else ''}", 200)


def _authorized(request: HttpRequest, secret: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # compare_digest: the time taken does not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), secret.encode()
    )


def _message(request: HttpRequest) -> bytes | None:
    """The body, read from the stream (request.body stops at DATA_UPLOAD_MAX_MEMORY_SIZE,
    2.5 MB); None when it is over twice the intake limit (mail over the limit itself is
    still kept, quarantined with its reason, as every door keeps it)."""
    limit = 2 * settings.INBOUND_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return None
    raw = request.read(limit + 1)
    return None if len(raw) > limit else raw
