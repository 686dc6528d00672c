"""Queueing inbound mail's tasks by the names they are registered under, so that services need
not import tasks.py: tasks call services, never the other way round.

tasks.py registers the tasks under these names and InboundMailConfig.ready imports it, so every
process (web and worker alike) knows them. The lookup happens when work is queued; under
`task_always_eager` (the tests) `.delay` still runs the task in process, and a countdown is
not waited for.
"""

from collections.abc import Callable
from functools import partial

from celery import Task, current_app
from django.conf import settings
from django.db import transaction

from inbound_mail import gather

PROCESS_INBOUND = "inbound_mail.process_inbound"
PROCESS_INBOUND_BATCH = "inbound_mail.process_inbound_batch"


def _task(name: str) -> Task:
    return current_app.tasks[name]


def process_after_commit(organization_id: int, inbound_ids: list[int]) -> None:
    """One task per INBOUND_BATCH_SIZE rows; a lone row is gathered with the others of its
    tenant that arrive in the same short window (inbound_mail.gather), or, with gathering off
    (INBOUND_GATHER_SECONDS = 0), has the one-message task."""
    if len(inbound_ids) == 1 and settings.INBOUND_GATHER_SECONDS > 0:
        # A failed publish leaves the row to the next arrival of the window or the sweeper.
        _robustly_after_commit(partial(gather.arrived, organization_id))
        return
    size = settings.INBOUND_BATCH_SIZE
    for start in range(0, len(inbound_ids), size):
        chunk = inbound_ids[start : start + size]
        if len(chunk) == 1:
            send = partial(_task(PROCESS_INBOUND).delay, chunk[0], organization_id=organization_id)
        else:
            send = partial(
                _task(PROCESS_INBOUND_BATCH).delay, chunk, organization_id=organization_id
            )
        # The messages are stored either way; if the broker is down the sweeper queues them.
        # One callback per chunk, so one failed publish loses no other chunk.
        _robustly_after_commit(send)


def _robustly_after_commit(send: Callable[[], object]) -> None:
    """Run `send` after the commit; should it fail, log it and go on with the other callbacks."""

    # Django logs a failed robust callback by its __qualname__, which a functools.partial
    # lacks: the logging itself would raise, and the next callbacks would not run.
    def publish() -> None:
        send()

    transaction.on_commit(publish, robust=True)


def process_now(organization_id: int, inbound_id: int) -> None:
    """Queue one message's processing at once (the sweeper, after its own commit)."""
    _task(PROCESS_INBOUND).delay(inbound_id, organization_id=organization_id)
