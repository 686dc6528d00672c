"""Timers recomputed when what they were computed from changes: a ticket's priority, team,
customer or source (in that change's transaction; a running due time never moves later), or a
tenant's policies, calendars and holidays (every open ticket, in batches, from a task)."""

from django.db import transaction

from sla.models import Policy, Target, TicketSLA
from sla.policies import READ_BY, Policies
from sla.services import clock
from sla.services.timers import Work
from tenants.models import Organization
from tickets.models import UNRESOLVED_CATEGORIES, Ticket

BATCH_SIZE = 500


def on_tickets_changed(*, tickets: list[Ticket], fields: set[str]) -> None:
    """tickets.hooks TICKETS_CHANGED: apply the policy that matches now. When no policy reads
    the changed fields, the policy that matched before the change still does and the timers
    stand as they were applied (a change of the policies themselves recomputes every open
    ticket, recompute_tenant): nothing is read but the policies."""
    if not tickets:
        return
    policies = Policies.load()
    if _read_by_any(policies, fields):
        apply_policies(tickets, keep_earlier=True, policies=policies)


def _read_by_any(policies: Policies, fields: set[str]) -> bool:
    if not fields or fields - READ_BY.keys():
        return True  # a field not known here: recompute, as for every change before
    conditions = [name for field in fields for name in READ_BY[field]]
    return any(getattr(policy, name) for policy in policies.ordered for name in conditions)


def apply_policies(tickets: list[Ticket], *, keep_earlier: bool, policies=None) -> Work:
    """Give each ticket the timers of the policy that matches it now, in one Work."""
    work = Work([t.pk for t in tickets], policies=policies)
    for ticket in tickets:
        _apply(work, ticket, work.policies.match(ticket), keep_earlier=keep_earlier)
    work.save()
    return work


def _apply(work: Work, ticket: Ticket, policy: Policy | None, *, keep_earlier: bool) -> None:
    for target in Target.values:
        row = work.rows[ticket.pk].get(target)
        if clock.budget(policy, target) is None:
            if row is not None and row.stopped_at is None:
                work.removed.append(row.pk)
                work.events.append(clock.event(row, "removed", f"{clock.LABELS[target]} removed"))
        elif row is None:
            _missing(work, ticket, policy, target)  # type: ignore[arg-type]  # budget set
        elif row.stopped_at is None:
            _reschedule(work, row, policy, keep_earlier=keep_earlier)  # type: ignore[arg-type]


def _missing(work: Work, ticket: Ticket, policy: Policy, target: str) -> None:
    """A policy that now applies starts what would be running had it applied from the start
    (next response waits for the customer's next message)."""
    if ticket.status_category not in UNRESOLVED_CATEGORIES:
        return
    if target == Target.RESOLUTION or (
        target == Target.FIRST_RESPONSE and ticket.first_response_at is None
    ):
        work.start(ticket, policy, target, at=ticket.created_at)


def _reschedule(work: Work, row: TicketSLA, policy: Policy, *, keep_earlier: bool) -> None:
    before = (row.policy_id, row.due_at, row.warn_at)
    row.policy = policy
    calendar = work.policies.calendar(policy)
    clock.schedule(row, calendar, policy)
    if keep_earlier and before[1] < row.due_at:
        row.due_at = before[1]
        if before[2] is not None and (row.warn_at is None or before[2] < row.warn_at):
            row.warn_at = before[2]
    if (row.policy_id, row.due_at, row.warn_at) != before:
        work.changed(row, clock.event(row, "changed", clock.due_text(row, calendar)))


def recompute_tenant(*, organization: Organization, batch_size: int = BATCH_SIZE) -> int:
    """Every open ticket of the active tenant after a policy, calendar or holiday changed;
    one transaction per batch of tickets (by id), so nothing is locked for long. Returns how
    many tickets were looked at."""
    seen, last_id = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                Ticket.objects.select_for_update(of=("self",))
                .select_related("status", "requester")
                .filter(status_category__in=UNRESOLVED_CATEGORIES, pk__gt=last_id)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return seen
            apply_policies(batch, keep_earlier=False, policies=Policies.load())
        seen += len(batch)
        last_id = batch[-1].pk
