"""Every state change of inbound mail: intake, processing, retries, the quarantine, settings.

Intake stores the raw bytes, records one InboundMessage per tenant the recipients name (or an
UnclaimedMessage when none does), commits, and only then queues its processing: one
`process_inbound` per lone message, one `process_inbound_batch` per INBOUND_BATCH_SIZE messages
stored together. Processing claims the rows, parses, classifies, threads and applies in one
transaction under the thread's locks (see locks.py), so a message is applied once however often
it is delivered or queued. `decide` holds the rules; it reads through `Reads`, which batch.py
answers for many messages at once.
"""

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, Func, Value
from django.utils import timezone
from django_scopes import get_scope, scopes_disabled

from inbound_mail import classify, imap, locks, raw_mail, routing, selectors, subjects
from inbound_mail.models import (
    InboundAddress,
    InboundMessage,
    Mailbox,
    SpamRule,
    ThreadReference,
    UnclaimedMessage,
)
from inbound_mail.parsing import Address, ParsedMessage, parse_message
from inbound_mail.threading import Lookup, Sender, ThreadMatch, find_ticket, thread_ids
from tenants.models import Membership, Organization, User
from tenants.scoping import bulk_create_checked, tenant_scope
from tickets import mail_tokens
from tickets import services as ticket_services
from tickets.models import Comment, Contact, StatusCategory, Ticket

logger = logging.getLogger(__name__)

Status = InboundMessage.Status

# A row still `received` or `processing` this long after it was queued or claimed lost its
# task or its worker: the sweeper queues it again.
STUCK_AFTER = timedelta(minutes=10)
# Waits before the 2nd, 3rd, ... attempt; after the last attempt the row is quarantined.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


# -- intake ----------------------------------------------------------------------------------


@dataclass
class Receipt:
    """What intake recorded: one row per tenant, or the platform quarantine row."""

    sha256: str
    inbound_ids: list[int] = field(default_factory=list)
    unclaimed_id: int | None = None


def inbound_receive(
    *,
    raw: bytes,
    source: str,
    envelope_recipients: Iterable[str] = (),
    mailbox: Mailbox | None = None,
    fallback_organization: Organization | None = None,
) -> Receipt:
    """Store a message as received and queue its processing once that is committed.

    A mailbox's mail belongs to the mailbox's tenant. Other mail is routed by its recipients;
    `fallback_organization` takes what no tenant claimed (`ingest_email --tenant`).
    """
    [receipt] = inbound_receive_many(
        raws=[raw],
        source=source,
        mailbox=mailbox,
        fallback_organization=fallback_organization,
        envelope_recipients=envelope_recipients,
    )
    return receipt


def inbound_receive_many(
    *,
    raws: Sequence[bytes],
    source: str,
    mailbox: Mailbox | None = None,
    fallback_organization: Organization | None = None,
    envelope_recipients: Iterable[str] = (),
) -> list[Receipt]:
    """Store messages that arrived together (an mbox, an IMAP fetch) as `inbound_receive`
    stores one, in one transaction, and queue their processing in batches once that is
    committed. One receipt per message, in the order of `raws`.

    The statements do not grow with the batch: one routing query, an insert and a read-back
    per tenant, and the same for the platform quarantine.
    """
    envelope = [r.strip().lower() for r in envelope_recipients if r and "@" in r]
    # Mail is data first: the bytes are in storage before any row names them.
    arrivals = [_Arrival(raw_mail.store(raw), len(raw), routing.summarize(raw)) for raw in raws]
    if not arrivals:
        return []
    owners = _owners(arrivals, envelope, mailbox, fallback_organization)
    with transaction.atomic():
        rows, unclaimed = _record(
            arrivals, owners, source=source, envelope=envelope, mailbox=mailbox
        )
        for organization_id, inbound_ids in _waiting(arrivals, owners, rows).items():
            _enqueue_chunks_after_commit(organization_id, inbound_ids)
    return [
        Receipt(
            sha256=a.sha256,
            inbound_ids=[rows[o.pk][a.sha256][0] for o in organizations],
            unclaimed_id=None if organizations else unclaimed[a.sha256],
        )
        for a, organizations in zip(arrivals, owners, strict=True)
    ]


@dataclass(frozen=True)
class _Arrival:
    """One message of an intake: its stored bytes' name and size, and its header summary."""

    sha256: str
    size: int
    summary: routing.HeaderSummary


def _owners(
    arrivals: list[_Arrival],
    envelope: list[str],
    mailbox: Mailbox | None,
    fallback: Organization | None,
) -> list[list[Organization]]:
    """The tenants of each message; an empty list for the platform quarantine."""
    if mailbox is not None:
        owners = [[mailbox.organization] for _ in arrivals]
    else:
        summaries = [a.summary for a in arrivals]
        owners = routing.route_many(summaries=summaries, envelope_recipients=envelope)
    fallback_owners = [fallback] if fallback is not None else []
    return [organizations or fallback_owners for organizations in owners]


def _record(
    arrivals: list[_Arrival],
    owners: list[list[Organization]],
    *,
    source: str,
    envelope: list[str],
    mailbox: Mailbox | None,
) -> tuple[dict[int, dict[str, tuple[int, str]]], dict[str, int]]:
    """Every tenant's rows (tenant id -> sha256 -> (id, status)), then the platform
    quarantine's (sha256 -> id)."""
    pairs = list(zip(arrivals, owners, strict=True))
    tenants = {o.pk: o for organizations in owners for o in organizations}
    rows = {
        pk: _inbound_records(
            organization,
            [a for a, organizations in pairs if organization in organizations],
            source=source,
            envelope=envelope,
            mailbox=mailbox,
        )
        for pk, organization in tenants.items()
    }
    unclaimed = [a for a, organizations in pairs if not organizations]
    return rows, _unclaimed_records(unclaimed, source=source, envelope=envelope)


def _inbound_records(
    organization: Organization,
    arrivals: list[_Arrival],
    *,
    source: str,
    envelope: list[str],
    mailbox: Mailbox | None,
) -> dict[str, tuple[int, str]]:
    """One tenant's rows for these messages: sha256 -> (id, status)."""
    rows = [_inbound_row(organization, a, source, envelope, mailbox) for a in _distinct(arrivals)]
    with tenant_scope(organization):
        # Bytes this tenant received before (a redelivery, an IMAP resync) keep their one row.
        # Ignored conflicts return no ids on any database, so every row is read back.
        bulk_create_checked(InboundMessage, _in_lock_order(rows), ignore_conflicts=True)
        found = InboundMessage.objects.filter(sha256__in=[r.sha256 for r in rows])
        values = found.values_list("sha256", "pk", "status")
        recorded = {sha: (pk, status) for sha, pk, status in values}
    _require_all(recorded, rows)
    return recorded


def _inbound_row(
    organization: Organization,
    arrival: _Arrival,
    source: str,
    envelope: list[str],
    mailbox: Mailbox | None,
) -> InboundMessage:
    now = timezone.now()  # per message: lists show a batch in the order it arrived
    oversize = arrival.size > settings.INBOUND_MAX_BYTES
    return InboundMessage(
        organization=organization,
        source=source,
        mailbox=mailbox,
        sha256=arrival.sha256,
        size=arrival.size,
        envelope_recipients=envelope,
        message_id=arrival.summary.message_id,
        from_address=arrival.summary.from_address,
        subject=arrival.summary.subject,
        status=Status.QUARANTINED if oversize else Status.RECEIVED,
        reason=_oversize_reason(arrival.size) if oversize else "",
        received_at=now,
        due_at=None if oversize else now + STUCK_AFTER,
    )


def _distinct(arrivals: list[_Arrival]) -> list[_Arrival]:
    """Identical bytes once (they are one row), in the order they came."""
    return list({a.sha256: a for a in arrivals}.values())


def _in_lock_order(
    rows: list[InboundMessage | UnclaimedMessage],
) -> list[InboundMessage | UnclaimedMessage]:
    # PostgreSQL locks each unique key an INSERT ... ON CONFLICT writes until the commit; two
    # intakes holding the same messages in different orders (two mailboxes that both got a
    # Cc) would wait for each other. In one global order they only queue.
    return sorted(rows, key=lambda row: row.sha256)


def _require_all(recorded: dict[str, Any], rows: list[InboundMessage | UnclaimedMessage]) -> None:
    # SQLite's INSERT OR IGNORE skips any violated constraint, not only the duplicate: a row
    # that is not there now would be a message lost without a word.
    missing = [r.sha256 for r in rows if r.sha256 not in recorded]
    if missing:
        raise IntegrityError(f"intake recorded no row for {', '.join(missing)}")


def _oversize_reason(size: int) -> str:
    limit = settings.INBOUND_MAX_BYTES
    return (
        f"too large: {size / 1048576:.1f} MB, over the {limit / 1048576:.0f} MB limit "
        "(kept as received; reprocess to accept it anyway)"
    )


def _waiting(
    arrivals: list[_Arrival],
    owners: list[list[Organization]],
    recorded: dict[int, dict[str, tuple[int, str]]],
) -> dict[int, list[int]]:
    """Per tenant, the rows to process, in the order their messages came: new rows, and
    existing ones still `received` (a redelivery after a crash queues them again; the claim
    in inbound_process makes a second queueing harmless). Quarantined and finished rows are
    left as they are."""
    waiting: dict[int, dict[int, None]] = {}
    for arrival, organizations in zip(arrivals, owners, strict=True):
        for organization in organizations:
            pk, status = recorded[organization.pk][arrival.sha256]
            if status == Status.RECEIVED:
                waiting.setdefault(organization.pk, {})[pk] = None
    return {org_id: list(ids) for org_id, ids in waiting.items()}


def _enqueue_after_commit(row: InboundMessage) -> None:
    _enqueue_chunks_after_commit(row.organization_id, [row.pk])


def _enqueue_chunks_after_commit(organization_id: int, inbound_ids: list[int]) -> None:
    """One task per INBOUND_BATCH_SIZE rows (a lone row keeps the one-message task)."""
    from inbound_mail.tasks import process_inbound, process_inbound_batch

    size = settings.INBOUND_BATCH_SIZE
    for start in range(0, len(inbound_ids), size):
        chunk = inbound_ids[start : start + size]
        if len(chunk) == 1:
            send = partial(process_inbound.delay, chunk[0], organization_id=organization_id)
        else:
            send = partial(process_inbound_batch.delay, chunk, organization_id=organization_id)
        # robust: the messages are stored either way; if the broker is down the sweeper
        # queues them. One callback per chunk, so one failed publish loses no other chunk.
        transaction.on_commit(send, robust=True)


def _unclaimed_records(
    arrivals: list[_Arrival], *, source: str, envelope: list[str]
) -> dict[str, int]:
    """Platform quarantine rows for mail no tenant claimed: sha256 -> id."""
    rows = [
        UnclaimedMessage(
            sha256=a.sha256,
            source=source,
            size=a.size,
            envelope_recipients=envelope,
            header_recipients=a.summary.recipients[:50],
            message_id=a.summary.message_id,
            from_address=a.summary.from_address,
            subject=a.summary.subject,
            reason="no recipient is an inbound address of any tenant",
        )
        for a in _distinct(arrivals)
    ]
    if not rows:
        return {}
    # The same bytes seen before keep their row, as with tenants' rows above.
    UnclaimedMessage.objects.bulk_create(_in_lock_order(rows), ignore_conflicts=True)
    found = UnclaimedMessage.objects.filter(sha256__in=[r.sha256 for r in rows])
    recorded = dict(found.values_list("sha256", "pk"))
    _require_all(recorded, rows)
    return recorded


# -- processing ------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str
    reason: str = ""
    ticket: Ticket | None = None
    comment: Comment | None = None


def inbound_process(*, inbound_id: int) -> str | None:
    """Claim one received message and turn it into a ticket, a comment, or a recorded no.

    The claim is a row lock (SKIP LOCKED) held until the result commits: a second worker given
    the same id skips it, and a worker that dies releases it with its connection, leaving the
    row `received` for the sweeper. Returns the new status, or None when there was nothing to
    do. Any failure leaves the row `failed` with the reason, to be retried with backoff.
    """
    try:
        with transaction.atomic():
            row = _claim(inbound_id)
            if row is None:
                return None
            parsed = parse_message(raw_mail.read(row.sha256))
            locks.lock_thread_keys(row.organization_id, thread_keys(parsed))
            outcome = apply_decided(row, parsed)
            finish(row, outcome)
    except Exception as exc:
        logger.exception("inbound message %s failed", inbound_id)
        return _record_failure(inbound_id, exc)
    return outcome.status


def inbound_process_batch(*, inbound_ids: list[int]) -> dict[str, int]:
    """Process several received messages of the active tenant together (see batch.py); how
    many ended in each status."""
    from inbound_mail import batch

    return batch.process_batch(inbound_ids)


def active_organization() -> Organization:
    return get_scope()["organization"]


def _claim(inbound_id: int) -> InboundMessage | None:
    rows = claim([inbound_id])
    return rows[0] if rows else None


def claim(inbound_ids: list[int]) -> list[InboundMessage]:
    """Lock these messages if they are still `received` and nobody else holds them, in the
    order they arrived (intake inserts a batch in sha256 order, so ids do not tell)."""
    rows = InboundMessage.objects.select_for_update(skip_locked=True)
    rows = rows.filter(pk__in=inbound_ids, status=Status.RECEIVED).order_by("received_at", "pk")
    if connection.vendor == "postgresql":
        rows = rows.annotate(_commit=_ASYNC_COMMIT)
    rows = list(rows)
    organization = active_organization()
    for row in rows:
        row.organization = organization  # the task's tenant: no need to read it again
    return rows


# What this transaction writes is derived from the raw message, which was committed durably at
# intake. Should PostgreSQL crash before flushing this commit (at most ~3 x wal_writer_delay),
# the whole transaction is lost, never half of it: the row is `received` again and the sweeper
# processes it anew. So the processing commit need not wait for its WAL flush (an fsync per
# message otherwise). set_config(..., true) is SET LOCAL: this transaction only.
_ASYNC_COMMIT = Func(
    Value("synchronous_commit"),
    Value("off"),
    Value(True),
    function="set_config",
    output_field=CharField(),
)


def thread_keys(parsed: ParsedMessage) -> list[str]:
    """What two messages of one thread have in common (see locks.py)."""
    return locks.thread_keys(
        message_id=parsed.message_id,
        ids=thread_ids(parsed),
        sender=classify.sender_address(parsed),
        normalized_subject=subjects.normalize_subject(parsed.subject),
    )


def finish(row: InboundMessage, outcome: Outcome) -> None:
    row.status, row.reason = outcome.status, outcome.reason[:2000]
    row.ticket, row.comment = outcome.ticket, outcome.comment
    row.processed_at, row.due_at = timezone.now(), None
    row.save(update_fields=FINISH_FIELDS)


FINISH_FIELDS = ["status", "reason", "ticket", "comment", "processed_at", "due_at"]


def _record_failure(inbound_id: int, exc: Exception) -> str | None:
    row = InboundMessage.objects.filter(pk=inbound_id, status=Status.RECEIVED).first()
    if row is None:
        return None
    return count_failed_try(row, f"{type(exc).__name__}: {exc}"[:1000])


def count_failed_try(row: InboundMessage, reason: str) -> str:
    """One more try that did not finish: retry after a pause, or quarantine after the last."""
    attempt = row.attempts + 1
    if attempt >= MAX_ATTEMPTS:
        status, due = Status.QUARANTINED, None
        reason = f"failed {attempt} times; last error: {reason}"
    else:
        status, due = Status.FAILED, timezone.now() + RETRY_DELAYS[attempt - 1]
    InboundMessage.objects.filter(pk=row.pk, status=row.status, attempts=row.attempts).update(
        status=status, reason=reason, due_at=due, attempts=attempt
    )
    return status


class Reads:
    """What deciding about a message reads, straight from the database in the active tenant.
    The batch (batch.py) answers the same questions for many messages from a few queries."""

    lookup: Lookup

    def __init__(self):
        self.lookup = Lookup()

    def duplicate_of(self, row: InboundMessage) -> InboundMessage | None:
        """The same Message-ID already handled here (delivered twice, or to two addresses)."""
        if not row.message_id:
            return None  # identical bytes without a Message-ID are caught at intake (sha256)
        return (
            InboundMessage.objects.filter(message_id=row.message_id, status__in=HANDLED)
            .exclude(pk=row.pk)
            .order_by("pk")
            .first()
        )

    def spam_rule_for(self, address: str) -> SpamRule | None:
        return selectors.spam_rule_for(address)

    def staff(self, address: str) -> Membership | None:
        return selectors.staff_membership(address)


HANDLED = (Status.PROCESSED, Status.IGNORED)


@dataclass
class Decision:
    """What a message is and where it goes, worked out before anything is written: settled
    (`outcome`: ignored or quarantined), a bounce, or a message to apply (`context`)."""

    outcome: Outcome | None = None
    bounce: bool = False
    context: "Context | None" = None


def decide(row: InboundMessage, parsed: ParsedMessage, reads: Reads) -> Decision:
    duplicate = reads.duplicate_of(row)
    if duplicate is not None:
        reason = f"duplicate of message {duplicate.pk} (same Message-ID)"
        return Decision(Outcome(Status.IGNORED, reason, ticket=duplicate.ticket))
    verdict = classify.classify(parsed, spam_rule_for=reads.spam_rule_for)
    if verdict.kind in (classify.LOOP, classify.SPAM):
        return Decision(Outcome(Status.IGNORED, verdict.reason))
    if verdict.kind == classify.NO_SENDER:
        return Decision(Outcome(Status.QUARANTINED, verdict.reason))
    if verdict.kind == classify.BOUNCE:
        return Decision(bounce=True)
    ctx = _context(row, parsed, verdict.reason, reads)
    if ctx.match.ticket is None and ctx.auto_reason:
        return Decision(Outcome(Status.IGNORED, f"{ctx.auto_reason}; no ticket to file it on"))
    return Decision(context=ctx)


def apply_decided(row: InboundMessage, parsed: ParsedMessage) -> Outcome:
    """Decide with what the database holds now, and apply: one message, start to end."""
    decision = decide(row, parsed, Reads())
    if decision.outcome is not None:
        return decision.outcome
    if decision.bounce:
        return _apply_bounce(row, parsed)
    return _apply_message(decision.context)


# -- bounces ---------------------------------------------------------------------------------


def _apply_bounce(row: InboundMessage, parsed: ParsedMessage) -> Outcome:
    bounce = parsed.bounce
    recipients = [r.lower() for r in bounce.recipients]
    if not bounce.is_hard:
        return Outcome(Status.IGNORED, f"delivery delayed, not failed ({bounce.status}): ignored")
    reason = f"{bounce.action} {bounce.status}".strip()
    marked = _mark_outgoing_bounced(
        row.organization, bounce.original_message_id, recipients, reason
    )
    ticket = _ticket_of_our_message(bounce.original_message_id, row.organization_id)
    if not marked and ticket is None:
        # Anyone can forge a DSN; only one about mail we sent may silence a contact.
        return Outcome(Status.IGNORED, "bounce about a message we did not send: recorded only")
    contacts = Contact.objects.filter(email__in=recipients)
    silenced = [
        c.email
        for c in contacts
        if ticket_services.contact_mark_undeliverable(contact=c, reason=f"bounced: {reason}")
    ]
    return Outcome(
        Status.PROCESSED,
        f"bounce ({reason}) for {', '.join(recipients) or 'unknown recipients'}: "
        f"{marked} outgoing message(s) marked bounced; undeliverable: {', '.join(silenced) or '-'}",
        ticket=ticket,
    )


def _mark_outgoing_bounced(organization, original_message_id, recipients, reason) -> int:
    if not original_message_id:
        return 0
    try:
        from outbound_mail.services import outgoing_mark_bounced
    except ImportError:  # the outbound app is not installed: we sent nothing to mark
        return 0
    return outgoing_mark_bounced(
        organization=organization,
        original_message_id=original_message_id,
        recipients=recipients,
        reason=reason,
    )


def _ticket_of_our_message(message_id: str, organization_id: int) -> Ticket | None:
    token = mail_tokens.ticket_from_message_id(message_id) if message_id else None
    if token is None or token[0] != organization_id:
        return None
    return Ticket.objects.filter(pk=token[1]).first()


# -- tickets and comments --------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Who wrote a message and where it threads, worked out once per message."""

    row: InboundMessage
    parsed: ParsedMessage
    sender: Sender
    staff: Membership | None
    match: ThreadMatch
    auto_reason: str

    @property
    def organization(self) -> Organization:
        return self.row.organization


def _context(row: InboundMessage, parsed: ParsedMessage, auto_reason: str, reads: Reads):
    address = classify.sender_address(parsed)
    staff = reads.staff(address)
    sender = Sender(address=address, is_staff=staff is not None)
    match = find_ticket(
        parsed,
        organization_id=row.organization_id,
        sender=sender,
        recipients=recipients_of(row, parsed),
        lookup=reads.lookup,
    )
    return Context(row, parsed, sender, staff, match, auto_reason)


def recipients_of(row: InboundMessage, parsed: ParsedMessage) -> list[str]:
    return [*row.envelope_recipients, *routing.header_recipients(parsed)]


def _apply_message(ctx: Context) -> Outcome:
    outcome = _reply(ctx) if ctx.match.ticket is not None else _new_ticket(ctx)
    _remember_ids(outcome.ticket, ctx.parsed)
    if ctx.match.forged:
        outcome.reason += FORGED_NOTE
    return outcome


FORGED_NOTE = "; a forged reply token was ignored"


def _new_ticket(ctx: Context) -> Outcome:
    address, name, subject, forwarded = opening(ctx)
    requester = _contact(ctx.organization, address, name)
    ticket = ticket_services.ticket_create(
        organization=ctx.organization,
        subject=subject,
        requester=requester,
        source=Ticket.Source.EMAIL,
        collaborators=_cc_contacts(ctx, exclude=requester.email),
        **message_body(ctx.parsed),
    )
    return Outcome(
        Status.PROCESSED,
        opening_reason(requester.email, forwarded),
        ticket=ticket,
        comment=ticket.comments.first(),
    )


def opening(ctx: Context) -> tuple[str, str, str, bool]:
    """Who a new ticket is for: (address, display name, subject, forwarded by staff)."""
    parsed = ctx.parsed
    origin, subject = _requester_address(ctx), parsed.subject
    forwarded = origin is not parsed.from_ and origin is not None
    if forwarded:
        subject = subjects.strip_prefixes(subject) or subject
    if origin is None:
        return ctx.sender.address, "", subject, forwarded
    return origin.address, origin.name, subject, forwarded


def opening_reason(requester_email: str, forwarded: bool) -> str:
    return f"new ticket for {requester_email}, forwarded by staff" if forwarded else "new ticket"


def message_body(parsed: ParsedMessage) -> dict:
    """The comment a message becomes: texts, sanitised HTML, attachments, its Message-ID."""
    return {
        "body_text": parsed.text,
        "body_html": _body_html(parsed),
        "full_text": parsed.text_full,
        "uploads": _uploads(parsed),
        "message_id": parsed.message_id,
    }


def _requester_address(ctx: Context) -> Address | None:
    """Staff forwarding a customer's mail open the ticket for the original sender."""
    if ctx.staff is not None and ctx.parsed.forwarded_from is not None:
        return ctx.parsed.forwarded_from
    return ctx.parsed.from_ if ctx.parsed.from_ and "@" in ctx.parsed.from_.address else None


def _reply(ctx: Context) -> Outcome:
    if ctx.staff is not None and not ctx.auto_reason:
        return _staff_reply(ctx)
    ticket = ctx.match.ticket
    author = _contact(ctx.organization, *reply_author(ctx))
    comment = ticket_services.comment_create(
        ticket=ticket,
        is_public=True,
        author_contact=author,
        channel=Comment.Channel.EMAIL,
        auto_generated=bool(ctx.auto_reason),
        **message_body(ctx.parsed),
    )
    if not ctx.auto_reason:
        # collaborator_add skips the requester itself.
        for contact in [author, *_cc_contacts(ctx, exclude="")]:
            ticket_services.collaborator_add(ticket=ticket, contact=contact, actor_contact=author)
    return Outcome(Status.PROCESSED, reply_reason(ctx, ticket), ticket=ticket, comment=comment)


def reply_author(ctx: Context) -> tuple[str, str]:
    return ctx.sender.address, ctx.parsed.from_.name if ctx.parsed.from_ else ""


def reply_reason(ctx: Context, ticket: Ticket) -> str:
    how = f"{ctx.auto_reason}; filed" if ctx.auto_reason else "reply"
    return f"{how} on #{ticket.number} by {ctx.match.rule}"


# Agents steer a reply by mail with markers in the subject or on the first line
# (the same markers Zammad and osTicket users know).
_PRIVATE_RE = re.compile(r"\[(?:PVT|Reply to Team)\]", re.IGNORECASE)
_CLOSE_RE = re.compile(r"\[CLOSED\]", re.IGNORECASE)


def _staff_reply(ctx: Context) -> Outcome:
    parsed, ticket, user = ctx.parsed, ctx.match.ticket, ctx.staff.user
    first_line, _, rest = parsed.text.lstrip().partition("\n")
    steering = f"{parsed.subject}\n{first_line}"
    private = bool(_PRIVATE_RE.search(steering))
    close = bool(_CLOSE_RE.search(steering))
    # A From: header is easy to forge; only mail that answers something we sent (signed token,
    # known Message-ID) may speak to the customer in an agent's name.
    proven = ctx.match.rule in ("token", "message_id")
    first_line = _CLOSE_RE.sub("", _PRIVATE_RE.sub("", first_line)).strip()
    body = f"{first_line}\n{rest}".strip() if first_line else rest.strip()
    comment = ticket_services.comment_create(
        ticket=ticket,
        body_text=body,
        full_text=parsed.text_full,
        is_public=not private and proven,
        author_user=user,
        channel=Comment.Channel.EMAIL,
        uploads=_uploads(parsed),
        message_id=parsed.message_id,
    )
    if close:
        ticket_services.ticket_change_status(
            ticket=ticket,
            status=ticket_services.default_status(StatusCategory.RESOLVED),
            actor_user=user,
        )
    kind = "public reply" if comment.is_public else "internal note"
    return Outcome(
        Status.PROCESSED,
        f"staff {kind} on #{ticket.number} by {ctx.match.rule}" + (", resolved" if close else ""),
        ticket=ticket,
        comment=comment,
    )


def _contact(organization: Organization, email: str, name: str) -> Contact:
    return ticket_services.contact_get_or_create(organization=organization, email=email, name=name)


def _cc_contacts(ctx: Context, *, exclude: str) -> list[Contact]:
    ours = routing.platform_addresses([a.address for a in ctx.parsed.cc])
    return [_contact(ctx.organization, *pair) for pair in cc_addresses(ctx, exclude, ours)]


def cc_addresses(ctx: Context, exclude: str, ours: set[str]) -> list[tuple[str, str]]:
    """Cc recipients become collaborators, except the sender and any helpdesk's own addresses
    (`ours`: routing.platform_addresses of the Cc addresses); (address, name) pairs."""
    return [
        (a.address, a.name)
        for a in ctx.parsed.cc
        if "@" in a.address
        and a.address != exclude
        and a.address not in ours
        and a.address != ctx.sender.address
    ][:20]


def _body_html(parsed: ParsedMessage) -> str:
    """The sender's HTML, unless quoted history was cut from the text: the HTML still holds
    it, so the shorter text is shown (the full text stays behind "show quoted text")."""
    if not parsed.html:
        return ""
    if parsed.text.strip() != parsed.text_full.strip() and "cid:" not in parsed.html:
        return ""
    return parsed.html


def _uploads(parsed: ParsedMessage) -> list[ticket_services.Upload]:
    return [
        ticket_services.Upload(
            filename=a.filename,
            content=a.payload,
            content_type=a.content_type,
            content_id=a.content_id,
            inline=a.inline,
        )
        for a in parsed.attachments
    ]


def _remember_ids(ticket: Ticket | None, parsed: ParsedMessage) -> None:
    """This message's id and the ids it refers to now lead to its ticket (threading rule 2)."""
    if ticket is None:
        return
    ids = [parsed.message_id, *thread_ids(parsed)]
    ThreadReference.objects.bulk_create(
        [
            ThreadReference(
                organization_id=ticket.organization_id, message_id=i[:255], ticket=ticket
            )
            for i in dict.fromkeys(ids)
            if i
        ],
        ignore_conflicts=True,
    )


# -- the sweeper, the quarantine -------------------------------------------------------------


def inbound_sweep(*, now=None) -> list[tuple[int, int]]:
    """Queue again what is due: failed messages whose pause is over, and messages still
    `received` long after they were queued (the task was lost, or the worker died; each such
    round counts as a try, so a message that kills its worker ends in the quarantine).

    Returns the (organization_id, inbound_id) pairs queued.
    """
    now = now or timezone.now()
    # The sweeper serves every tenant; it reads ids and states only and queues tenant tasks.
    with scopes_disabled(), transaction.atomic():  # ids and states of every tenant
        due = list(
            InboundMessage.objects.select_for_update(skip_locked=True)  # skip rows in work
            .filter(status__in=[Status.RECEIVED, Status.FAILED], due_at__lte=now)
            .order_by("due_at")[:1000]
        )
        queued = [(row.organization_id, row.pk) for row in due if _requeue(row, now)]
    from inbound_mail.tasks import process_inbound

    for org_id, pk in queued:
        process_inbound.delay(pk, organization_id=org_id)
    return queued


def _requeue(row: InboundMessage, now) -> bool:
    if row.status == Status.RECEIVED:
        if row.attempts + 1 >= MAX_ATTEMPTS:
            count_failed_try(
                row, "processing never finished (the task was lost or the worker died)"
            )
            return False
        row.attempts += 1
    row.status, row.due_at = Status.RECEIVED, now + STUCK_AFTER
    row.save(update_fields=["status", "due_at", "attempts"])
    return True


def inbound_reprocess(*, message: InboundMessage) -> None:
    """An admin asks for another try (also for mail quarantined as too large)."""
    with transaction.atomic():
        updated = InboundMessage.objects.filter(
            pk=message.pk, status__in=[Status.QUARANTINED, Status.FAILED, Status.IGNORED]
        ).update(
            status=Status.RECEIVED,
            reason="",
            attempts=0,
            due_at=timezone.now() + STUCK_AFTER,
        )
        if updated:
            message.refresh_from_db()
            _enqueue_after_commit(message)


def inbound_delete(*, message: InboundMessage) -> None:
    """Forget a message; its raw bytes go too unless another row still needs them."""
    sha256 = message.sha256
    message.delete()
    transaction.on_commit(lambda: raw_mail.delete_if_unused(sha256))


def unclaimed_reprocess(*, message: UnclaimedMessage) -> Receipt:
    """Route platform-quarantined mail again (after the right inbound address was added)."""
    raw = raw_mail.read(message.sha256)
    summary = routing.summarize(raw)
    if not routing.route(summary=summary, envelope_recipients=message.envelope_recipients):
        return Receipt(sha256=message.sha256, unclaimed_id=message.pk)
    with transaction.atomic():
        message.delete()
        receipt = inbound_receive(
            raw=raw, source=message.source, envelope_recipients=message.envelope_recipients
        )
    return receipt


def unclaimed_delete(*, message: UnclaimedMessage) -> None:
    sha256 = message.sha256
    message.delete()
    transaction.on_commit(lambda: raw_mail.delete_if_unused(sha256))


# -- spam list -------------------------------------------------------------------------------


def spam_rule_add(
    *, organization: Organization, value: str, note: str = "", created_by: User | None = None
) -> SpamRule:
    """Reject mail from an address ("x@example.com") or a domain ("example.com")."""
    value = value.strip().lower().lstrip("@")
    kind = SpamRule.Kind.ADDRESS if "@" in value else SpamRule.Kind.DOMAIN
    rule, _ = SpamRule.objects.get_or_create(
        organization=organization,
        value=value,
        defaults={"kind": kind, "note": note[:200], "created_by": created_by},
    )
    return rule


def spam_rule_remove(*, rule: SpamRule) -> None:
    rule.delete()


@transaction.atomic
def ticket_mark_spam(*, ticket: Ticket, actor_user: User) -> SpamRule:
    """The requester goes on the spam list and the ticket is closed."""
    rule = spam_rule_add(
        organization=ticket.organization,
        value=ticket.requester.email,
        note=f"marked as spam on ticket #{ticket.number}",
        created_by=actor_user,
    )
    ticket_services.ticket_change_status(
        ticket=ticket,
        status=ticket_services.default_status(StatusCategory.CLOSED),
        actor_user=actor_user,
    )
    return rule


# -- mailboxes -------------------------------------------------------------------------------

POLL_CLAIM = timedelta(minutes=5)
# Per poll; the rest waits for the next minute so one full mailbox cannot hold a worker.
MAX_BATCHES_PER_POLL = 20


def imap_settings(mailbox: Mailbox) -> imap.ImapSettings:
    return imap.ImapSettings(
        host=mailbox.host,
        port=mailbox.port,
        security=mailbox.security,
        username=mailbox.username,
        password=mailbox.password,
        folder=mailbox.folder or "INBOX",
    )


def mailbox_test(*, mailbox: Mailbox) -> tuple[bool, str]:
    """Log in and open the folder; (worked, the server's words or what went wrong)."""
    try:
        return True, imap.test_connection(imap_settings(mailbox))
    except imap.ImapError as exc:
        return False, str(exc)


def mailbox_poll(*, mailbox_id: int) -> int | None:
    """Fetch what is new, store it, commit, then acknowledge it on the server.

    Returns how many messages were stored, or None when the mailbox is disabled or another
    poll holds it. Errors are kept on the mailbox (shown to admins), never raised.
    """
    mailbox = _claim_mailbox(mailbox_id)
    if mailbox is None:
        return None
    stored = 0
    try:
        connection = imap_settings(mailbox)
        _acknowledge_pending(mailbox, connection)
        for _batch in range(MAX_BATCHES_PER_POLL):
            count, more = _poll_batch(mailbox, connection)
            stored += count
            if not more:
                break
    except imap.ImapError as exc:
        _poll_failed(mailbox, str(exc))
    except Exception as exc:
        logger.exception("polling mailbox %s failed", mailbox_id)
        _poll_failed(mailbox, f"Unexpected error: {type(exc).__name__}: {exc}")
    else:
        _poll_succeeded(mailbox)
    return stored


def _claim_mailbox(mailbox_id: int) -> Mailbox | None:
    now = timezone.now()
    claimed = (
        Mailbox.objects.filter(pk=mailbox_id, enabled=True)
        .exclude(polling_until__gt=now)
        .update(polling_until=now + POLL_CLAIM)
    )
    return Mailbox.objects.select_related("organization").get(pk=mailbox_id) if claimed else None


def _poll_batch(mailbox: Mailbox, imap_connection: imap.ImapSettings) -> tuple[int, bool]:
    result = imap.fetch_new(
        imap_connection, last_uid=mailbox.last_uid, uidvalidity=mailbox.uidvalidity
    )
    uids = [m.uid for m in result.messages]
    if result.uidvalidity_changed:
        mailbox.pending_ack = []  # those UIDs name nothing any more (RFC 3501 2.3.1.1)
    # The batch and the new position commit together (one durable commit, not one per
    # message); only then does the server hear about it.
    with transaction.atomic():
        raws = [fetched.raw for fetched in result.messages]
        inbound_receive_many(raws=raws, source="imap", mailbox=mailbox)
        mailbox.last_uid, mailbox.uidvalidity = result.last_uid, result.uidvalidity
        mailbox.pending_ack = sorted(set(mailbox.pending_ack) | set(uids))
        mailbox.save(update_fields=["last_uid", "uidvalidity", "pending_ack"])
    _acknowledge_pending(mailbox, imap_connection)
    return len(uids), result.has_more


def _acknowledge_pending(mailbox: Mailbox, connection: imap.ImapSettings) -> None:
    if not mailbox.pending_ack:
        return
    imap.acknowledge(connection, mailbox.pending_ack, mailbox.after_intake, mailbox.move_to)
    mailbox.pending_ack = []
    mailbox.save(update_fields=["pending_ack"])


def _poll_succeeded(mailbox: Mailbox) -> None:
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=now, last_error="", polling_until=None
    )


def _poll_failed(mailbox: Mailbox, error: str) -> None:
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=now, last_error=error[:2000], last_error_at=now, polling_until=None
    )


def mailboxes_due() -> list[tuple[int, int]]:
    """(organization_id, mailbox_id) of every enabled mailbox, for the minute's polls."""
    # Beat serves every tenant: it reads ids only and queues one tenant task per mailbox.
    with scopes_disabled():  # ids of every tenant's mailboxes
        return list(
            Mailbox.objects.filter(enabled=True).values_list("organization_id", "pk").order_by("pk")
        )


# -- inbound addresses -----------------------------------------------------------------------


@transaction.atomic
def inbound_address_add(
    *, organization: Organization, address: str, plus_addressing: bool = True
) -> InboundAddress:
    """A new support address; the tenant's first one becomes the default."""
    first = not InboundAddress.objects.exists()
    return InboundAddress.objects.create(
        organization=organization,
        address=address.strip().lower(),
        plus_addressing=plus_addressing,
        is_default=first,
    )


@transaction.atomic
def inbound_address_make_default(*, address: InboundAddress) -> None:
    InboundAddress.objects.filter(is_default=True).exclude(pk=address.pk).update(is_default=False)
    InboundAddress.objects.filter(pk=address.pk).update(is_default=True)


@transaction.atomic
def inbound_address_remove(*, address: InboundAddress) -> None:
    was_default = address.is_default
    address.delete()
    successor = InboundAddress.objects.order_by("created_at", "id").first()
    if was_default and successor is not None:
        InboundAddress.objects.filter(pk=successor.pk).update(is_default=True)


# -- mailboxes (settings) --------------------------------------------------------------------


def mailbox_save(*, mailbox: Mailbox) -> Mailbox:
    """Save an admin's edit; a changed server, user or folder starts over (new UIDs)."""
    if mailbox.pk:
        old = Mailbox.objects.get(pk=mailbox.pk)
        if (old.host, old.username, old.folder) != (mailbox.host, mailbox.username, mailbox.folder):
            mailbox.last_uid, mailbox.uidvalidity, mailbox.pending_ack = 0, None, []
    mailbox.save()
    return mailbox


def mailbox_delete(*, mailbox: Mailbox) -> None:
    mailbox.delete()
