"""Processing one received message: claim its row, parse it, lock its thread (see locks.py),
decide and apply in one transaction, and finish the row; or count a failed try, retried with
backoff and quarantined after the last.
"""

import logging
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import CharField, Func, QuerySet, Value
from django.utils import timezone
from django_scopes import get_scope

from inbound_mail import classify, locks, raw_mail, subjects
from inbound_mail.models import InboundMessage
from inbound_mail.parsing import ParsedMessage, parse_message
from inbound_mail.services.apply import apply_decided
from inbound_mail.services.decisions import Outcome
from inbound_mail.threading import conversation_key, thread_ids
from tenants.models import Organization

logger = logging.getLogger(__name__)

Status = InboundMessage.Status

# Waits before the 2nd, 3rd, ... attempt; after the last attempt the row is quarantined.
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


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


def active_organization() -> Organization:
    return get_scope()["organization"]


def _claim(inbound_id: int) -> InboundMessage | None:
    rows = claim([inbound_id])
    return rows[0] if rows else None


def claim(inbound_ids: list[int]) -> list[InboundMessage]:
    """Lock these messages if they are still `received` and nobody else holds them, in the
    order they arrived (intake inserts a batch in sha256 order, so ids do not tell)."""
    return claim_from(InboundMessage.objects.filter(pk__in=inbound_ids))


def claim_from(rows: QuerySet[InboundMessage], limit: int | None = None) -> list[InboundMessage]:
    """`claim` for the messages of `rows`, the first `limit` of them in arrival order: one
    statement."""
    rows = rows.select_for_update(skip_locked=True)
    rows = rows.filter(status=Status.RECEIVED).order_by("received_at", "pk")
    if connection.vendor == "postgresql":
        rows = rows.annotate(_commit=_ASYNC_COMMIT)
    claimed = list(rows if limit is None else rows[:limit])
    organization = active_organization()
    for row in claimed:
        row.organization = organization  # the task's tenant: no need to read it again
    return claimed


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
    """What two messages of one thread have in common (see locks.py), Outlook's conversation
    too: a message of it waits for an earlier one that may open its ticket."""
    keys = locks.thread_keys(
        message_id=parsed.message_id,
        ids=thread_ids(parsed),
        sender=classify.sender_address(parsed),
        normalized_subject=subjects.normalize_subject(parsed.subject),
    )
    conversation = conversation_key(parsed)
    return [*keys, f"conversation:{conversation}"] if conversation else keys


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
