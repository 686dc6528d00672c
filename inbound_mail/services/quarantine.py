"""The sweeper and the quarantine: queue again what was lost or is due for a retry, and what
admins do with mail that did not become a ticket or reply (reprocess, delete), for a tenant's
messages and for the platform's unclaimed ones.
"""

from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from inbound_mail import queue, raw_mail, routing
from inbound_mail.models import InboundMessage, UnclaimedMessage
from inbound_mail.services.intake import STUCK_AFTER, Receipt, inbound_receive
from inbound_mail.services.processing import MAX_ATTEMPTS, count_failed_try

Status = InboundMessage.Status


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
    for org_id, pk in queued:
        queue.process_now(org_id, pk)
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


def _enqueue_after_commit(row: InboundMessage) -> None:
    queue.process_after_commit(row.organization_id, [row.pk])


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
