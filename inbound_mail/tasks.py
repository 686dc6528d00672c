"""Celery entry points for inbound mail: thin wrappers that enter the tenant and call a service.

Retries are not Celery's: a failed message keeps its state and due time in its row, and the
sweeper queues it again (so a retry survives a worker restart and shows in the quarantine).
"""

from celery import shared_task

from inbound_mail import gather, queue
from inbound_mail.services import batch, mailboxes, processing, quarantine
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, name=queue.PROCESS_INBOUND, ignore_result=True)
def process_inbound(inbound_id: int, *, organization_id: int) -> str | None:
    """Parse, classify, thread and apply one received message."""
    return processing.inbound_process(inbound_id=inbound_id)


@shared_task(base=TenantTask, name=queue.PROCESS_INBOUND_BATCH, ignore_result=True)
def process_inbound_batch(inbound_ids: list[int], *, organization_id: int) -> dict[str, int]:
    """Process several received messages of one tenant together (fewer round trips)."""
    return batch.inbound_process_batch(inbound_ids=inbound_ids)


@shared_task(base=TenantTask, name=gather.PROCESS_GATHERED, ignore_result=True)
def process_gathered(slot: int, window: float, *, organization_id: int) -> dict[str, int]:
    """Process together what the tenant's doors stored one message at a time in one window
    (inbound_mail.gather)."""
    gather.window_taken(organization_id, slot)  # later arrivals queue a task of their own
    since = gather.queued_since(slot, window)
    return batch.inbound_process_gathered(queued_since=since)


@shared_task(base=TenantTask, name="inbound_mail.poll_mailbox", ignore_result=True)
def poll_mailbox(mailbox_id: int, *, organization_id: int) -> int | None:
    """Fetch one mailbox's new mail; errors are kept on the mailbox, never raised."""
    return mailboxes.mailbox_poll(mailbox_id=mailbox_id)


@shared_task(name="inbound_mail.poll_mailboxes", ignore_result=True)
def poll_mailboxes() -> int:
    """Every minute (beat): one poll task per enabled mailbox, so one slow server delays no
    other mailbox."""
    due = mailboxes.mailboxes_due()
    for organization_id, mailbox_id in due:
        poll_mailbox.delay(mailbox_id, organization_id=organization_id)
    return len(due)


@shared_task(name="inbound_mail.sweep", ignore_result=True)
def sweep() -> int:
    """Every minute (beat): queue lost, stuck and retry-due messages again."""
    return len(quarantine.inbound_sweep())
