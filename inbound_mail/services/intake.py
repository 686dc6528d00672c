"""Intake: store a message's raw bytes, record one InboundMessage per tenant its recipients name
(or an UnclaimedMessage when none does), commit, and only then queue its processing: a lone
message is gathered with the others arriving within INBOUND_GATHER_SECONDS (inbound_mail.gather),
one `process_inbound_batch` per INBOUND_BATCH_SIZE messages stored together.
"""

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inbound_mail import domains, queue, raw_mail, routing, routing_cache
from inbound_mail.models import InboundMessage, Mailbox, UnclaimedMessage
from inbound_mail.services import addresses
from tenants.models import Organization
from tenants.scoping import bulk_create_checked, tenant_scope

Status = InboundMessage.Status

# A row still `received` or `processing` this long after it was queued or claimed lost its
# task or its worker: the sweeper queues it again.
STUCK_AFTER = timedelta(minutes=10)


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

    The common case, mail for one tenant that confirms no address, is one INSERT that commits
    by itself (see `_record_alone`): the recipients this process has seen before are routed
    from what it knows (inbound_mail.routing_cache), the others with one routing query. The
    rest is recorded as `inbound_receive_many` records it.
    """
    envelope = _envelope(envelope_recipients)
    with routing_cache.asked_ahead(mailbox is None):  # a mailbox's mail is not routed
        arrivals = [_arrive(raw)]
        [organizations] = _owners(arrivals, envelope, mailbox, fallback_organization)
    if len(organizations) == 1 and not _may_confirm(raw, arrivals[0]):
        return _record_alone(
            organizations[0], arrivals[0], source=source, envelope=envelope, mailbox=mailbox
        )
    [receipt] = _receive(
        [raw], arrivals, [organizations], source=source, envelope=envelope, mailbox=mailbox
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

    The statements do not grow with the batch: at most one routing query, an insert and a
    read-back per tenant, and the same for the platform quarantine.
    """
    envelope = _envelope(envelope_recipients)
    if not raws:
        return []
    with routing_cache.asked_ahead(mailbox is None):  # a mailbox's mail is not routed
        arrivals = [_arrive(raw) for raw in raws]
        owners = _owners(arrivals, envelope, mailbox, fallback_organization)
    return _receive(raws, arrivals, owners, source=source, envelope=envelope, mailbox=mailbox)


def _receive(
    raws: Sequence[bytes],
    arrivals: list["_Arrival"],
    owners: list[list[Organization]],
    *,
    source: str,
    envelope: list[str],
    mailbox: Mailbox | None,
) -> list[Receipt]:
    with transaction.atomic():
        confirmed = _confirmations(raws, arrivals, owners, envelope)
        rows, unclaimed = _record(
            arrivals, owners, source=source, envelope=envelope, mailbox=mailbox
        )
        _set_aside_confirmations(arrivals, confirmed, rows)
        for organization_id, inbound_ids in _waiting(arrivals, owners, rows).items():
            queue.process_after_commit(organization_id, inbound_ids)
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


def _arrive(raw: bytes) -> _Arrival:
    # Mail is data first: the bytes are in storage before any row names them.
    return _Arrival(raw_mail.store(raw), len(raw), routing.summarize(raw))


def _envelope(recipients: Iterable[str]) -> list[str]:
    return [r.strip().lower() for r in recipients if r and "@" in r]


def _may_confirm(raw: bytes, arrival: _Arrival) -> bool:
    """Whether the message may carry an address confirmation code (see
    addresses.address_confirm_from_mail): such mail takes the transactional path."""
    head = raw[: domains.CODE_SCAN_BYTES]
    return b"hdconfirm-" in head or "hdconfirm-" in arrival.summary.subject


def _record_alone(
    organization: Organization,
    arrival: _Arrival,
    *,
    source: str,
    envelope: list[str],
    mailbox: Mailbox | None,
) -> Receipt:
    """One message for one tenant: its row is the only write, so outside a transaction the
    INSERT commits by itself: no BEGIN, COMMIT nor read-back, three round trips fewer on a
    door that waits for each message. Bytes this tenant received before keep their row, which
    is read then."""
    row = _inbound_row(organization, arrival, source, envelope, mailbox)
    with tenant_scope(organization):
        pk, status = _insert_or_find(row)
        if status == Status.RECEIVED:
            queue.process_after_commit(organization.pk, [pk])
    return Receipt(sha256=arrival.sha256, inbound_ids=[pk])


def _insert_or_find(row: InboundMessage) -> tuple[int, str]:
    """INSERT the row, or find the one its bytes already have: (id, status). Inside a
    caller's transaction the INSERT gets a savepoint, so that a conflict leaves it usable."""
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            row.save(force_insert=True)
    except IntegrityError:
        found = InboundMessage.objects.filter(sha256=row.sha256).values_list("pk", "status")
        existing = found.order_by().first()
        if existing is None:
            raise  # another constraint failed: the message must not be acknowledged
        return existing
    return row.pk, row.status


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


def _confirmations(
    raws: Sequence[bytes],
    arrivals: list[_Arrival],
    owners: list[list[Organization]],
    envelope: list[str],
) -> dict[int, tuple[Organization, str]]:
    """Address confirmations among the messages (index -> tenant, address), applied before the
    messages are routed as tickets; each now belongs to the tenant it confirmed for."""
    confirmed = {}
    for i, (raw, arrival) in enumerate(zip(raws, arrivals, strict=True)):
        found = addresses.address_confirm_from_mail(
            raw=raw,
            subject=arrival.summary.subject,
            recipients=[*envelope, *arrival.summary.recipients],
            owners=owners[i],
        )
        if found is not None:
            confirmed[i] = found
            owners[i] = [found[0]]
    return confirmed


def _set_aside_confirmations(
    arrivals: list[_Arrival],
    confirmed: dict[int, tuple[Organization, str]],
    rows: dict[int, dict[str, tuple[int, str]]],
) -> None:
    """A confirmation mail did its work on arrival: its row is ignored, never a ticket."""
    for i, (organization, address) in confirmed.items():
        pk, status = rows[organization.pk][arrivals[i].sha256]
        if status != Status.RECEIVED:
            continue
        reason = f"address confirmation: {address} is now an inbound address"
        with tenant_scope(organization):
            InboundMessage.objects.filter(pk=pk).update(
                status=Status.IGNORED, reason=reason, due_at=None, processed_at=timezone.now()
            )
        rows[organization.pk][arrivals[i].sha256] = (pk, Status.IGNORED)


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


_Row = TypeVar("_Row", InboundMessage, UnclaimedMessage)


def _in_lock_order(rows: list[_Row]) -> list[_Row]:
    # PostgreSQL locks each unique key an INSERT ... ON CONFLICT writes until the commit; two
    # intakes holding the same messages in different orders (two mailboxes that both got a
    # Cc) would wait for each other. In one global order they only queue.
    return sorted(rows, key=lambda row: row.sha256)


def _require_all(
    recorded: dict[str, Any], rows: Sequence[InboundMessage | UnclaimedMessage]
) -> None:
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
