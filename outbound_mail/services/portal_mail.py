"""The portal's own mail: the one-time sign-in link a contact asked for (portal.services.auth).

One outbox row about no ticket, from the shipped template (no tenant template can hide what a
security notice says), branded like every other mail, and sent whatever the contact's mail
choices: they asked for it a moment ago. The normal sender sends it (`outgoing_send_due`); a
send for the tenant is queued once the row is committed, so the contact need not wait for
beat's next `dispatch_due`.
"""

from datetime import datetime

from celery import current_app
from django.db import transaction
from django.utils import timezone

from outbound_mail import delivery, rendering, safety, selectors
from outbound_mail.kinds import AUTO_SUBMITTED, Kind
from outbound_mail.models import OutgoingMessage
from outbound_mail.services.templates import branding_of
from tenants.models import Organization
from tickets.mail_tokens import make_message_id
from tickets.models import Contact

Status = OutgoingMessage.Status
# outbound_mail.tasks registers it under this name; services never import tasks.
SEND_DUE_TASK = "outbound_mail.send_due"


def portal_link_send(
    *,
    organization: Organization,
    contact: Contact,
    url: str,
    expires_minutes: int,
    to_address: str = "",
    now: datetime | None = None,
) -> OutgoingMessage:
    """Store the sign-in link's message to the contact (at `to_address`, one of their
    addresses, else their primary one) and have it sent after commit."""
    now = now or timezone.now()
    address = (to_address or contact.email).strip().lower()
    values = {
        "recipient_name": contact.name or address,
        "organization_name": delivery.display_name(organization),
        "sign_in_url": url,
        "expires_minutes": str(expires_minutes),
    }
    rendered = rendering.brand(
        rendering.render(rendering.default_source(Kind.PORTAL_SIGN_IN), values),
        branding_of(organization),
    )
    withheld = _withheld(address)
    row = OutgoingMessage.objects.create(
        organization=organization,
        kind=Kind.PORTAL_SIGN_IN,
        automatic=True,
        contact=contact,
        to_address=address,
        to_name=contact.name,
        subject=rendered.subject,
        body_text=rendered.body_text,
        body_html=rendered.body_html,
        headers={
            "Auto-Submitted": AUTO_SUBMITTED[Kind.PORTAL_SIGN_IN],
            # Exchange and Outlook honour this instead of RFC 3834 ([MS-OXCMAIL] 2.2.3.2.20).
            "X-Auto-Response-Suppress": "All",
        },
        message_id=make_message_id(organization.pk, 0),
        status=Status.SUPPRESSED if withheld else Status.PENDING,
        last_error=withheld,
        send_after=now,
        created_at=now,
        updated_at=now,
    )
    if not withheld:
        organization_id = organization.pk
        # robust: the row is stored either way; beat's dispatch_due sends it if this fails.
        transaction.on_commit(lambda: _queue_send(organization_id), robust=True)
    return row


def _withheld(address: str) -> str:
    """Only our own addresses are refused (the link would loop back in as a ticket); an
    address marked undeliverable still gets it: its owner is asking for it right now."""
    connection = selectors.smtp_connection()
    extra = (connection.from_address, connection.reply_to_address) if connection else ()
    if safety.is_own_address(address, safety.own_addresses(extra)):
        return "Not sent: this is one of our own addresses (it would loop back as a ticket)."
    return ""


def _queue_send(organization_id: int) -> None:
    current_app.tasks[SEND_DUE_TASK].delay(organization_id=organization_id)
