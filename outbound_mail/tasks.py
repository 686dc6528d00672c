"""Thin Celery tasks around the services: ids and plain values in, the tenant entered by the base.

Retries are not Celery's: the outbox row holds the state (status, attempts, send_after) and
beat's `dispatch_due` picks up whatever is due, so a lost task only delays mail.
"""

from celery import shared_task
from django.utils import timezone
from django_scopes import get_scope

from outbound_mail import selectors
from outbound_mail.services.notify import notify_event
from outbound_mail.services.sending import (
    BATCH_SIZE,
    outgoing_send_claimed,
    outgoing_send_due,
    outgoing_sweep_stuck,
)
from tenants.models import Organization
from tenants.tasks import TenantTask


def _organization() -> Organization:
    # TenantTask entered the tenant named by `organization_id`; its scope holds the row.
    return get_scope()["organization"]


@shared_task(base=TenantTask, name="outbound_mail.notify", ignore_result=True)
def notify(
    name: str, ticket_id: int, actor_user_id: int | None, data: dict, *, organization_id: int
) -> int:
    """One domain event becomes notifications and outbox rows; what is due goes out now.

    The rows due now are committed already claimed by this worker, which sends them right
    after: no second trip through the broker, no second claim. Should it die in between, the
    sweeper returns them to `pending` and beat's `dispatch_due` sends them.
    """
    organization = _organization()
    queued = notify_event(
        organization=organization,
        name=name,
        ticket_id=ticket_id,
        actor_user_id=actor_user_id,
        data=data,
        now=timezone.now(),
        claim=True,
    )
    return outgoing_send_claimed(organization=organization, queued=queued, now=timezone.now())


@shared_task(base=TenantTask, name="outbound_mail.send_due", ignore_result=True)
def send_due(*, organization_id: int) -> int:
    """Send one batch of the tenant's due mail; a full batch queues the next one."""
    claimed = outgoing_send_due(organization=_organization(), now=timezone.now())
    if claimed >= BATCH_SIZE:
        send_due.delay(organization_id=organization_id)
    return claimed


@shared_task(name="outbound_mail.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Beat: queue a send for every tenant with mail due (debounced updates, retries)."""
    org_ids = selectors.due_organization_ids(timezone.now())
    for organization_id in org_ids:
        send_due.delay(organization_id=organization_id)
    return len(org_ids)


@shared_task(name="outbound_mail.sweep_stuck", ignore_result=True)
def sweep_stuck() -> int:
    """Beat: rows a dead worker left `sending` go back to `pending`."""
    return outgoing_sweep_stuck(now=timezone.now())
