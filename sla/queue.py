"""Queueing SLA's tasks by the names they are registered under, so that services (and the
settings pages' services) need not import tasks.py. SlaConfig.ready imports tasks.py, so every
process knows the names; under `task_always_eager` (the tests) `.delay` runs in process."""

from celery import current_app
from django.db import transaction

RECOMPUTE = "sla.recompute"


def recompute_after_commit(organization_id: int) -> None:
    """Recompute the tenant's open timers once the policy, calendar or holiday change that
    asks for it has committed (sla.services.recompute.recompute_tenant, in batches)."""

    def send() -> None:
        current_app.tasks[RECOMPUTE].delay(organization_id=organization_id)

    # robust: the change is committed either way; a lost task leaves timers as they were
    # until the next change.
    transaction.on_commit(send, robust=True)
