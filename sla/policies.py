"""Which policy applies to a ticket: the tenant's policies in order, each with its calendar built
as a BusinessCalendar, loaded once per change (or batch) and matched in memory."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sla.calendar import BusinessCalendar
from sla.models import Calendar, Policy


def calendar_of(calendar: Calendar) -> BusinessCalendar:
    """The pure calendar of a row (its holidays prefetched or queried)."""
    holidays = {h.date: [tuple(i) for i in h.intervals or []] for h in calendar.holidays.all()}
    weekly = {int(k): [tuple(i) for i in v or []] for k, v in (calendar.weekly or {}).items()}
    return BusinessCalendar(tz=calendar.timezone, weekly=weekly, holidays=holidays)


@dataclass
class Policies:
    """The tenant's policies in order, and each one's calendar (built once)."""

    ordered: list[Policy]
    calendars: dict[int, BusinessCalendar] = field(default_factory=dict)

    @classmethod
    def load(cls) -> "Policies":
        """Two queries: the policies with their calendars, and the holidays (none without
        policies); none inside `remembered`, after the first."""
        kept = _remembered.get()
        if kept is not None:
            if kept.policies is None:
                kept.policies = cls._read()
            return kept.policies
        return cls._read()

    @classmethod
    def _read(cls) -> "Policies":
        ordered = list(
            Policy.objects.select_related("calendar")
            .prefetch_related("calendar__holidays")
            .order_by("order", "id")
        )
        calendars = {p.calendar_id: calendar_of(p.calendar) for p in ordered}
        return cls(ordered, calendars)

    def calendar(self, policy: Policy) -> BusinessCalendar:
        return self.calendars[policy.calendar_id]

    def by_id(self, policy_id: int | None) -> Policy | None:
        return next((p for p in self.ordered if p.pk == policy_id), None)

    def match(self, ticket) -> Policy | None:
        """The first policy whose conditions all hold for `ticket`."""
        return next((p for p in self.ordered if matches(p, ticket)), None)


@dataclass
class _Kept:
    policies: Policies | None = None


_remembered: ContextVar[_Kept | None] = ContextVar("sla_policies_remembered", default=None)


@contextmanager
def remembered() -> Iterator[None]:
    """Inside, the tenant's policies are read once and the same answer is given after: for a
    caller that makes many ticket changes in one transaction and changes no policy, calendar
    or holiday (the automations engine's chunk of events: a team set on each of 25 tickets)."""
    token = _remembered.set(_Kept())
    try:
        yield
    finally:
        _remembered.reset(token)


# The ticket fields a TICKETS_CHANGED hook names, and the conditions of `matches` that read
# each: a change of no field here leaves every policy's answer as it was
# (sla.services.recompute). Kept beside `matches`, which it must follow.
READ_BY = {
    "priority": ("priority_ids",),
    "team": ("team_ids",),
    "source": ("sources",),
    "customer": ("customer_ids", "customer_domains"),
}


def matches(policy: Policy, ticket) -> bool:
    """Every condition that is set holds: priority, customer, team, source and the
    requester's email domain (the ticket's requester is loaded or cached)."""
    checks = (
        (policy.priority_ids, ticket.priority_id),
        (policy.customer_ids, ticket.customer_id),
        (policy.team_ids, ticket.team_id),
        (policy.sources, ticket.source),
    )
    if any(wanted and value not in wanted for wanted, value in checks):
        return False
    if policy.customer_domains:
        domain = ticket.requester.email.rsplit("@", 1)[-1].lower()
        return domain in {d.lower() for d in policy.customer_domains}
    return True
