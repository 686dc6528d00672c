"""Sending the outbox: claim due rows, send them outside any transaction, record each answer
(sent, retried later, failed), return rows a dead worker left in flight, send a test message,
and apply what the mail system tells us later (bounces, ESP tracking events)."""

import logging
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django_scopes import scopes_disabled

from outbound_mail import delivery, selectors, transport
from outbound_mail.kinds import Kind
from outbound_mail.models import OutgoingMessage
from outbound_mail.selectors import normalize_message_id
from outbound_mail.services.outbox import Queued
from tenants.models import Organization, User
from tenants.scoping import tenant_scope
from tickets.mail_tokens import make_message_id
from tickets.models import Contact
from tickets.services.contacts import contact_mark_undeliverable

logger = logging.getLogger(__name__)
Status = OutgoingMessage.Status

BATCH_SIZE = 50
RETRY_FOR = timedelta(days=1)
BACKOFF_MINUTES = (1, 2, 5, 10, 20, 40, 60, 120, 240)
STUCK_AFTER = timedelta(minutes=10)


def outgoing_claim(
    *, now: datetime, limit: int = BATCH_SIZE, ids: list[int] | None = None
) -> tuple[str, list[OutgoingMessage]]:
    """Mark up to `limit` due rows `sending` under a fresh claim token (STYLE: claim first).

    PostgreSQL: rows another worker holds are skipped (SKIP LOCKED). SQLite: the transaction
    takes the write lock at BEGIN (IMMEDIATE), so claimers queue. Either way the UPDATE's
    `status = pending` condition lets only one claimer have a row.
    """
    token = uuid.uuid4().hex
    due = OutgoingMessage.objects.filter(status=Status.PENDING, send_after__lte=now)
    if ids is not None:
        # Named rows: one conditional UPDATE claims them (a row another worker is claiming
        # waits for its lock, then no longer matches `pending`).
        claimed = _mark_claimed(due.filter(pk__in=ids[:limit]), token, now)
    else:
        with transaction.atomic():
            pks = list(
                due.select_for_update(skip_locked=True)
                .order_by("send_after", "id")
                .values_list("pk", flat=True)[:limit]
            )
            claimed = _mark_claimed(due.filter(pk__in=pks), token, now) if pks else 0
    if not claimed:
        return token, []
    return token, list(OutgoingMessage.objects.filter(claim_token=token, status=Status.SENDING))


def _mark_claimed(rows, token: str, now: datetime) -> int:
    return rows.update(
        status=Status.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
        first_attempt_at=Coalesce(F("first_attempt_at"), now),
        updated_at=now,
    )


def outgoing_send_due(
    *,
    organization: Organization,
    now: datetime,
    limit: int = BATCH_SIZE,
    ids: list[int] | None = None,
) -> int:
    """Claim the active tenant's due mail, send it outside any transaction, record each answer.

    Returns how many rows were claimed (a full batch means there may be more).
    """
    token, rows = outgoing_claim(now=now, limit=limit, ids=ids)
    if rows:
        _send(rows, delivery.sender_for(organization, selectors.smtp_connection()), token, now)
    return len(rows)


def outgoing_send_claimed(*, organization: Organization, queued: Queued, now: datetime) -> int:
    """Send the rows `notify_event(claim=True)` stored claimed, outside any transaction."""
    if queued.claimed:
        sender = delivery.sender_for(organization, queued.connection)
        _send(queued.claimed, sender, queued.token, now)
    return len(queued.claimed)


RECORD_EVERY = 10


def _send(rows: list[OutgoingMessage], sender, token: str, now: datetime) -> None:
    """Send claimed rows over one connection; failures are recorded at once, successes a few
    at a time in one statement (a worker dying before that records them sends them again,
    with the same Message-IDs, when the sweeper returns them)."""
    sent: list[tuple[OutgoingMessage, transport.Outcome]] = []
    for row in rows:
        outcome = _deliver(row, sender)
        if not outcome.ok:
            _record(row, outcome, token=token, now=now)
            continue
        sent.append((row, outcome))
        if len(sent) >= RECORD_EVERY:
            _record_sent(sent, token=token, now=now)
            sent = []
    if sent:
        _record_sent(sent, token=token, now=now)


def _record_sent(sent: list[tuple[OutgoingMessage, transport.Outcome]], *, token, now) -> None:
    def per_row(value):
        return Case(*[When(pk=row.pk, then=Value(value(o))) for row, o in sent], default=Value(""))

    OutgoingMessage.objects.filter(
        pk__in=[row.pk for row, _ in sent], status=Status.SENDING, claim_token=token
    ).update(
        status=Status.SENT,
        sent_at=now,
        provider_response=per_row(lambda o: o.response[:500]),
        provider_message_id=per_row(lambda o: o.provider_message_id[:255]),
        esp_name=per_row(lambda o: o.esp_name[:32]),
        last_error="",
        updated_at=now,
    )


def _deliver(row: OutgoingMessage, sender: delivery.Sender) -> transport.Outcome:
    try:
        message = delivery.build(row, sender)
    except Exception as exc:  # an attachment the storage cannot read right now
        logger.exception("cannot build outgoing message %s", row.pk)
        return transport.Outcome(ok=False, temporary=True, response=transport.describe(exc))
    return sender.send(message)


def _record(row, outcome: transport.Outcome, *, token: str, now: datetime, retry=True) -> None:
    """Store the answer, if the row is still ours (the sweeper may have taken it back)."""
    mine = OutgoingMessage.objects.filter(pk=row.pk, status=Status.SENDING, claim_token=token)
    if outcome.ok:
        _record_sent([(row, outcome)], token=token, now=now)
    elif retry and outcome.temporary and now - (row.first_attempt_at or now) < RETRY_FOR:
        mine.update(
            status=Status.PENDING,
            send_after=now + retry_delay(row.attempts),
            claim_token="",
            last_error=f"Attempt {row.attempts} failed, will retry: {outcome.response}"[:2000],
            updated_at=now,
        )
    else:
        gave_up = " (gave up after a day of retries)" if retry and outcome.temporary else ""
        mine.update(
            status=Status.FAILED, last_error=f"{outcome.response}{gave_up}"[:2000], updated_at=now
        )


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 5, 10, 20, 40 minutes, ... then every 4 hours, until a day has passed."""
    return timedelta(minutes=BACKOFF_MINUTES[min(attempts, len(BACKOFF_MINUTES)) - 1])


def outgoing_sweep_stuck(*, now: datetime, stuck_after: timedelta = STUCK_AFTER) -> int:
    """Return rows left `sending` by a worker that died to `pending`; how many.

    At-least-once: if the worker died after the server accepted the message and before the
    row said so, it goes out again, with the same Message-ID, which clients deduplicate.
    """
    with scopes_disabled():  # one statement across tenants from beat; no row leaves it
        return OutgoingMessage.objects.filter(
            status=Status.SENDING, claimed_at__lt=now - stuck_after
        ).update(
            status=Status.PENDING,
            claim_token="",
            send_after=now,
            last_error="The worker stopped while sending; sent again.",
            updated_at=now,
        )


def outgoing_send_test(
    *, organization: Organization, to_address: str, user: User | None, now: datetime
) -> transport.Outcome:
    """Send a test message through the tenant's saved connection now; the server's answer.

    An outbox row like any other (claimed from the start), but not retried: the admin is
    waiting for the answer.
    """
    connection = selectors.smtp_connection(enabled_only=False)
    sender = delivery.sender_for(organization, connection)
    token = uuid.uuid4().hex
    row = OutgoingMessage.objects.create(
        organization=organization,
        kind=Kind.TEST,
        user=user,
        to_address=to_address.lower(),
        subject=f"Test email from {delivery.display_name(organization)}",
        body_text=f"This message tests how {organization.name} sends mail. No reply needed.\n",
        headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
        message_id=make_message_id(organization.pk, 0),
        status=Status.SENDING,
        claim_token=token,
        claimed_at=now,
        attempts=1,
        first_attempt_at=now,
        send_after=now,
        created_at=now,
        updated_at=now,
    )
    if sender.smtp is not None:
        transport.pool.discard(sender.smtp)  # test a fresh login, not a pooled session
    outcome = _deliver(row, sender)
    _record(row, outcome, token=token, now=now, retry=False)
    return outcome


# -- what the mail system tells us later ---------------------------------------------------------


@transaction.atomic
def outgoing_mark_bounced(
    *, organization: Organization, original_message_id: str, recipients: list[str], reason: str
) -> int:
    """Mark our message(s) with this Message-ID bounced; returns how many rows changed.

    Rows are per recipient, so the Message-ID alone names the row. The recipients narrow it
    when they match; a DSN often names the final mailbox after aliasing instead of the address
    we sent to, so when none match, every row of that Message-ID is the bounced one.
    """
    rows = OutgoingMessage.objects.filter(
        organization=organization, message_id=normalize_message_id(original_message_id)
    )
    wanted = {r.strip().lower() for r in recipients if r.strip()}
    if wanted and rows.filter(to_address__in=wanted).exists():
        rows = rows.filter(to_address__in=wanted)
    return rows.update(status=Status.BOUNCED, last_error=reason[:2000])


def outgoing_track(
    *, esp_name: str, provider_message_id: str, event_type: str, description: str
) -> int:
    """Apply an ESP's tracking event (delivered, bounced, complained) to our row; rows changed.

    ESP webhooks reach the platform host, where no tenant is active: the row is found by the
    ESP's message id among the rows that ESP accepted (an id another ESP issued, or a row sent
    over SMTP, is not this ESP's to change), and its own tenant is entered to change it.
    """
    if not provider_message_id or not esp_name:
        return 0
    with scopes_disabled():  # find the one row the ESP names; it is changed in its own tenant
        row = (
            OutgoingMessage.objects.filter(
                provider_message_id=provider_message_id, esp_name=esp_name
            )
            .select_related("organization")
            .first()
        )
    if row is None:
        return 0
    with tenant_scope(row.organization), transaction.atomic():
        return _apply_tracking(row, event_type, description)


def _apply_tracking(row: OutgoingMessage, event_type: str, description: str) -> int:
    this = OutgoingMessage.objects.filter(pk=row.pk)
    if event_type == "delivered":
        return this.filter(status=Status.SENT).update(status=Status.DELIVERED)
    if event_type in ("bounced", "rejected"):
        _contact_undeliverable(row, f"bounced: {description}" if description else "bounced")
        return this.update(status=Status.BOUNCED, last_error=description or event_type)
    if event_type in ("complained", "unsubscribed"):
        _contact_undeliverable(row, f"{event_type}: the recipient asked for no more mail")
        return this.update(last_error=f"The recipient {event_type}. {description}".strip())
    return 0


def _contact_undeliverable(row: OutgoingMessage, reason: str) -> None:
    contact = row.contact or Contact.objects.filter(email=row.to_address).first()
    if contact is not None:
        contact_mark_undeliverable(contact=contact, reason=reason)
