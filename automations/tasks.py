"""Thin Celery tasks around the automations engine: a tenant's gathered domain events
(automations.batching) and one event's rules on its ticket (messages queued before batching),
the time rules' scan (beat, every 2 minutes), and a batch of one time rule's due tickets."""

import logging
from datetime import datetime

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone
from django_scopes import get_scope

from automations import batching
from automations.services.batch import Queued, automations_handle_events
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


# An OperationalError (a lost lock race, a restarted database) retries the task under the same
# id: it runs the events it took again, as a replay (batching.take), and what already ran is
# in their RuleRuns. Any other error is one event's: logged, and the others still run.
@shared_task(
    base=TenantTask,
    bind=True,
    name=batching.HANDLE_EVENTS,
    ignore_result=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def handle_events(self, *, organization_id: int, items: list | None = None) -> int:
    """Run the tenant's rules on the events it gathered (or on `items`, without Redis), in
    their order; how many rules ran."""
    replay, more = False, False
    if items is None:
        items, replay, more = batching.take(organization_id, self.request.id)
    eager = bool(self.request.is_eager)
    if more and not eager:
        batching.next_batch(organization_id)  # another worker can take it meanwhile
    runs = automations_handle_events(
        organization=get_scope()["organization"],
        queued=[_queued(organization_id, item) for item in items],
        replay=replay,
    )
    batching.done(organization_id, self.request.id)
    if more and eager:
        batching.next_batch(organization_id)  # in process: after this batch, in order
    return len(runs)


def _queued(organization_id: int, item: dict) -> Queued:
    event = DomainEvent(
        item["name"],
        organization_id,
        item["ticket_id"],
        item["actor_user_id"],
        item["data"],
        item["cause"],
    )
    return Queued(event, item["origin"], item["depth"], datetime.fromisoformat(item["event_at"]))


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
