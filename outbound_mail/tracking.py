"""ESP tracking webhooks (django-anymail): delivered, bounced and complained update our rows.

anymail verifies the webhook (HTTP basic auth with ANYMAIL WEBHOOK_SECRET for every ESP,
Mailgun's HMAC signature with MAILGUN_WEBHOOK_SIGNING_KEY, SendGrid's signature when its
verification key is set) and normalises every ESP's payload into one AnymailTrackingEvent; the
receiver hands its plain values, and the ESP it came from, to a service.

These views refuse to run unprotected (503, as the inbound webhooks do): without a secret anyone
could mark any tenant's mail bounced and its contact undeliverable. A body that is not what the
ESP sends (not JSON, the wrong shape, no message id, too large) is a 400, never a 500: a 500 is
what tells an ESP to retry, which is for our failures only.
"""

from contextlib import contextmanager

from anymail.exceptions import AnymailAPIError
from anymail.signals import tracking
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.base import AnymailCoreWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from outbound_mail.services.sending import outgoing_track

# Postmark and Mailgun post one event, SendGrid batches of up to a few hundred small ones, SES
# one SNS notification (at most 256 KB): a megabyte is far above any of them.
MAX_BODY = 1024 * 1024

# What anymail's parsers raise on a body of the wrong shape (a list where an object belongs,
# a missing key, text that is not JSON or not UTF-8); AnymailAPIError for SES's SNS envelope.
MALFORMED = (ValueError, KeyError, TypeError, AttributeError, IndexError, AnymailAPIError)


@contextmanager
def _malformed_is_bad_request():
    try:
        yield
    except MALFORMED as exc:
        raise BadRequest(f"malformed tracking webhook: {type(exc).__name__}") from exc


class StrictTrackingMixin:
    """Refuses bodies that are too large or that anymail cannot read, with a 400."""

    def run_validators(self, request) -> None:
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY or len(request.body) > MAX_BODY:
            raise BadRequest("tracking webhook body too large")
        with _malformed_is_bad_request():
            super().run_validators(request)  # type: ignore[misc]  # mixed into anymail's views

    def parse_events(self, request) -> list:
        with _malformed_is_bad_request():
            events = list(super().parse_events(request))  # type: ignore[misc]  # as above
        for event in events:
            if not isinstance(event.message_id, str) or not event.message_id:
                raise BadRequest("tracking event names no message")
            if not isinstance(event.event_type, str):
                raise BadRequest("tracking event has no type")
        return events


VIEWS = {
    "mailgun": MailgunTrackingWebhookView,
    "postmark": PostmarkTrackingWebhookView,
    "sendgrid": SendGridTrackingWebhookView,
    "amazon_ses": AmazonSESTrackingWebhookView,
}


def tracking_view(esp: str):
    """The ESP's anymail view, strict about bodies and refusing to run without its secrets."""
    strict: type[AnymailCoreWebhookView] = type(
        f"Strict{VIEWS[esp].__name__}", (StrictTrackingMixin, VIEWS[esp]), {}
    )
    view = strict.as_view()

    @csrf_exempt  # ESPs post without a CSRF token; the shared secret is checked instead
    def guarded(request, *args, **kwargs):
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            return HttpResponse("tracking webhooks need ANYMAIL_WEBHOOK_SECRET", status=503)
        if esp == "mailgun" and not settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"):
            return HttpResponse("Mailgun needs MAILGUN_WEBHOOK_SIGNING_KEY", status=503)
        return view(request, *args, **kwargs)

    return guarded


def on_tracking(sender, event, esp_name, **kwargs) -> None:
    # The ESP's own words (Postmark "Description", SendGrid "reason", an MTA's SMTP reply).
    reason = event.description or event.mta_response or ""
    outgoing_track(
        esp_name=esp_name,
        provider_message_id=event.message_id,
        event_type=event.event_type,
        description=str(reason)[:1000],
    )


def connect() -> None:
    tracking.connect(on_tracking, dispatch_uid="outbound_mail.tracking")
