"""Thin Celery tasks around the automations engine: one domain event's rules on its ticket,
the time rules' scan (beat, every 2 minutes), and a batch of one time rule's due tickets."""

import logging
from datetime import datetime

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone
from django_scopes import get_scope

from automations.services.run import automations_handle_event, automations_run_time_rule
from automations.services.scan import RUN_TIME_RULE, automations_time_scan
from tenants.tasks import TenantTask
from tickets.events import DomainEvent

logger = logging.getLogger(__name__)


# A lost lock race or a restarted database: the whole event runs again, and what already ran
# is in its RuleRuns (rolled back with the rest when the transaction failed).
@shared_task(
    base=TenantTask,
    name="automations.handle_event",
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def handle_event(
    *,
    organization_id: int,
    name: str,
    ticket_id: int,
    actor_user_id: int | None,
    data: dict,
    cause: dict | None,
    origin: str,
    depth: int,
    event_at: str,
) -> int:
    """Run the tenant's rules on one event (TenantTask entered the tenant); how many ran."""
    event = DomainEvent(name, organization_id, ticket_id, actor_user_id, data, cause)
    runs = automations_handle_event(
        organization=get_scope()["organization"],
        event=event,
        origin=origin,
        depth=depth,
        event_at=datetime.fromisoformat(event_at),
    )
    return len(runs)


@shared_task(name="automations.time_scan", ignore_result=True)
def time_scan() -> int:
    """Beat: queue every tenant's due time rules; how many tickets were due."""
    return automations_time_scan(now=timezone.now()).due


@shared_task(
    base=TenantTask,
    name=RUN_TIME_RULE,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def run_time_rule(*, organization_id: int, rule_id: int, items: list) -> int:
    """One time rule on each [ticket id, clock ISO] the scan found due; how many ran. A ticket
    that raises is logged and the others still run; a retry redoes only what did not run."""
    organization = get_scope()["organization"]
    ran = 0
    for ticket_id, clock in items:
        try:
            run = automations_run_time_rule(
                organization=organization,
                rule_id=rule_id,
                ticket_id=ticket_id,
                clock=datetime.fromisoformat(clock),
            )
        except OperationalError:
            raise
        except Exception:
            logger.exception("automations: time rule %s failed on ticket %s", rule_id, ticket_id)
            continue
        ran += run is not None
    return ran
