"""ESP inbound webhooks through django-anymail: Mailgun, Postmark, SendGrid, Amazon SES.

anymail verifies each post as its docs describe (HTTP basic auth with ANYMAIL WEBHOOK_SECRET
for all four; Mailgun's HMAC signature with MAILGUN_WEBHOOK_SIGNING_KEY; SES's SNS header and
body consistency) and sends its `inbound` signal; the receiver stores the raw MIME through the
same intake as every other door. The HTTP 200 goes out only after the message is committed;
an exception means a 500, and the ESP retries.
"""

import base64
import logging

from anymail.signals import inbound
from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from anymail.webhooks.sendgrid import SendGridInboundWebhookView
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from inbound_mail.services import intake

logger = logging.getLogger(__name__)

VIEWS = {
    "mailgun": MailgunInboundWebhookView,
    "postmark": PostmarkInboundWebhookView,
    "sendgrid": SendGridInboundWebhookView,
    "amazon_ses": AmazonSESInboundWebhookView,
}


def raw_mime(esp_name: str, event) -> bytes:
    """The message exactly as the ESP received it, where the ESP posts it (the raw MIME
    options: Mailgun forward() to a URL ending in "mime", Postmark "include raw email",
    SendGrid "POST the raw, full MIME message", SES SNS action); else anymail's rebuilt copy."""
    esp_event = event.esp_event
    raw = None
    if esp_name == "Mailgun":
        raw = esp_event.POST.get("body-mime")
    elif esp_name == "SendGrid":
        raw = esp_event.POST.get("email")
    elif esp_name == "Postmark":
        raw = esp_event.get("RawEmail")
    elif esp_name == "Amazon SES":
        raw = _ses_content(esp_event)
    if raw is None:
        return event.message.as_bytes()
    # Form and JSON fields arrive decoded as text; 8-bit bytes that were not UTF-8 are kept
    # as surrogate escapes by nothing upstream, so UTF-8 is the faithful way back.
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")


def _ses_content(ses_event: dict) -> bytes | str | None:
    content = ses_event.get("content")
    if content is None:
        return None  # S3 action: anymail streamed it from the bucket
    if ses_event.get("receipt", {}).get("action", {}).get("encoding") == "BASE64":
        return base64.b64decode(content)
    return content


def receive(sender, event, esp_name, **kwargs) -> None:
    message = event.message
    recipients = [message.envelope_recipient] if message.envelope_recipient else []
    receipt = intake.inbound_receive(
        raw=raw_mime(esp_name, event), source="webhook", envelope_recipients=recipients
    )
    logger.info("inbound webhook from %s stored %s", esp_name, receipt)


def connect() -> None:
    inbound.connect(receive, dispatch_uid="inbound_mail.webhooks.receive")


def webhook_view(esp: str):
    """The anymail view, refusing to run unprotected: without a WEBHOOK_SECRET anyone could
    post mail in any sender's name. 503 makes the ESP keep retrying until it is configured."""
    view = VIEWS[esp].as_view()

    @csrf_exempt  # ESPs post without a CSRF token; the shared secret is checked instead
    def guarded(request, *args, **kwargs):
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            return HttpResponse("inbound webhooks need ANYMAIL_WEBHOOK_SECRET", status=503)
        if esp == "mailgun" and not settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"):
            return HttpResponse("Mailgun needs MAILGUN_WEBHOOK_SIGNING_KEY", status=503)
        return view(request, *args, **kwargs)

    return guarded
