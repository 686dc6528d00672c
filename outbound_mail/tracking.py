"""ESP tracking webhooks (django-anymail): delivered, bounced and complained update our rows.

anymail verifies the webhook (basic auth, the ESP's signature) and normalises every ESP's
payload into one AnymailTrackingEvent; the receiver hands its plain values to a service.
"""

from anymail.signals import tracking

from outbound_mail.services.sending import outgoing_track


def on_tracking(sender, event, esp_name, **kwargs) -> None:
    # The ESP's own words (Postmark "Description", SendGrid "reason", an MTA's SMTP reply).
    reason = event.description or event.mta_response or ""
    outgoing_track(
        provider_message_id=str(event.message_id or ""),
        event_type=event.event_type or "",
        description=str(reason)[:1000],
    )


def connect() -> None:
    tracking.connect(on_tracking, dispatch_uid="outbound_mail.tracking")
