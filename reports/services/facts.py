"""One ticket's figures from its indexed facts: the ticket row (created, first response,
resolved, team, assignee, channel), its status TicketEvents (reopens), its public agent
comments (replies) and its SLA timers (each target's outcome, and the calendar that makes
its durations business time). `facts_for` builds the rows of a batch of tickets in a fixed
number of queries; nothing here writes."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count

from reports.models import SlaOutcome, TicketFact
from sla.calendar import BusinessCalendar
from sla.models import Target, TicketSLA
from sla.policies import Policies
from tickets.models import DONE_CATEGORIES, Comment, Ticket, TicketEvent

DONE = frozenset(str(c) for c in DONE_CATEGORIES)
TICKET_FIELDS = (
    "id",
    "organization_id",
    "created_at",
    "first_response_at",
    "resolved_at",
    "team_id",
    "assignee_id",
    "source",
)


def tenant_zone(organization) -> ZoneInfo:
    """The tenant's time zone (UTC when its setting names none this system knows)."""
    try:
        return ZoneInfo(organization.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Clock:
    """The tenant's zone for days and hours, and the SLA calendars by id for durations."""

    zone: ZoneInfo
    calendars: dict[int, BusinessCalendar]

    @classmethod
    def load(cls, organization) -> "Clock":
        policies = Policies.load()
        return cls(tenant_zone(organization), dict(policies.calendars))

    def day(self, instant: datetime | None) -> date | None:
        return None if instant is None else instant.astimezone(self.zone).date()


def facts_for(ticket_ids: Iterable[int], clock: Clock) -> list[TicketFact]:
    """The facts of these tickets (merged tickets have none: their survivor counts)."""
    ids = list(ticket_ids)
    tickets = list(
        Ticket.objects.filter(pk__in=ids, merged_into__isnull=True).values_list(*TICKET_FIELDS)
    )
    if not tickets:
        return []
    found = [row[0] for row in tickets]
    reopens = _reopens(found)
    replies = _replies(found)
    timers = _timers(found)
    return [
        _fact(row, clock, reopens.get(row[0], 0), replies.get(row[0], 0), timers[row[0]])
        for row in tickets
    ]


def _reopens(ids: list[int]) -> dict[int, int]:
    """Times each ticket went from done (resolved, closed) back to not done."""
    rows = (
        TicketEvent.objects.filter(ticket_id__in=ids, kind=TicketEvent.Kind.STATUS)
        .order_by("ticket_id", "created_at", "id")
        .values_list("ticket_id", "data__to_category")
    )
    counts: dict[int, int] = defaultdict(int)
    done_before: dict[int, bool] = {}
    for ticket_id, category in rows:
        done = category in DONE
        if done_before.get(ticket_id) and not done:
            counts[ticket_id] += 1
        done_before[ticket_id] = done
    return counts


def _replies(ids: list[int]) -> dict[int, int]:
    rows = (
        Comment.objects.filter(ticket_id__in=ids, is_public=True, author_user__isnull=False)
        .values("ticket_id")
        .annotate(n=Count("id"))
        .values_list("ticket_id", "n")
    )
    return dict(rows)


@dataclass
class _Timers:
    calendar_id: int | None = None
    outcomes: dict[str, tuple[str, datetime | None]] | None = None


def _timers(ids: list[int]) -> dict[int, _Timers]:
    found: dict[int, _Timers] = defaultdict(_Timers)
    rows = TicketSLA.objects.filter(ticket_id__in=ids).values_list(
        "ticket_id", "target", "policy__calendar_id", "stopped_at", "breached_at"
    )
    for ticket_id, target, calendar_id, stopped_at, breached_at in rows:
        timers = found[ticket_id]
        if timers.outcomes is None:
            timers.outcomes = {}
        timers.calendar_id = timers.calendar_id or calendar_id
        timers.outcomes[target] = _outcome(stopped_at, breached_at)
    return found


def _outcome(stopped_at, breached_at) -> tuple[str, datetime | None]:
    if breached_at is not None:
        return SlaOutcome.BREACHED, breached_at
    if stopped_at is not None:
        return SlaOutcome.MET, stopped_at
    return SlaOutcome.RUNNING, None


def _fact(row: tuple, clock: Clock, reopens: int, replies: int, timers: _Timers) -> TicketFact:
    pk, org_id, created_at, first_response_at, resolved_at, team_id, assignee_id, source = row
    calendar = clock.calendars.get(timers.calendar_id) if timers.calendar_id else None
    local = created_at.astimezone(clock.zone)
    fact = TicketFact(
        organization_id=org_id,
        ticket_id=pk,
        team_id=team_id,
        assignee_id=assignee_id,
        source=source,
        created_day=local.date(),
        created_weekday=local.weekday(),
        created_hour=local.hour,
        first_response_day=clock.day(first_response_at),
        first_response_seconds=_duration(created_at, first_response_at, calendar),
        resolved_day=clock.day(resolved_at),
        resolution_seconds=_duration(created_at, resolved_at, calendar),
        business_time=calendar is not None,
        replies=replies,
        reopens=reopens,
    )
    for target in Target.values:
        outcome, when = (timers.outcomes or {}).get(target, (SlaOutcome.NONE, None))
        setattr(fact, f"sla_{target}", outcome)
        setattr(fact, f"sla_{target}_day", clock.day(when))
    return fact


def _duration(start: datetime, end: datetime | None, calendar: BusinessCalendar | None):
    """Seconds from start to end: business seconds on the calendar, else wall-clock ones."""
    if end is None:
        return None
    if calendar is not None:
        return calendar.between(start, end)
    return max(0, int((end - start).total_seconds()))
