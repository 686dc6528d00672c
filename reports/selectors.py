"""The figures of a report, read from the rollups in a fixed number of queries whatever the
range: the daily counts (created, resolved, the backlog before the range), the facts grouped
three ways (overall, by team, by agent: medians and p90s in the same queries) and the
busiest hours.

What each figure counts (days are the tenant's local dates):
- created: tickets created on the day; resolved: tickets whose (latest) resolution fell on it;
  the backlog at the end of a day: every ticket created by then less every one resolved by
  then (a reopened ticket counts again from its reopening until it is resolved again);
- first response time: tickets whose first public agent reply fell in the range, from the
  ticket's creation; resolution time, reopen rate (reopened at least once) and replies per
  ticket (public agent replies): tickets resolved in the range. Business seconds where the
  ticket's SLA calendar applies, wall-clock seconds elsewhere;
- SLA compliance per target: timers decided in the range (stopped in time: met; breached);
- busiest hours: tickets created, by weekday and hour of the tenant's clock.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum

from reports.models import DailyCount, RollupState, SlaOutcome, TicketFact
from reports.percentiles import Percentile
from sla.models import Target


@dataclass(frozen=True)
class Filters:
    start: date
    end: date
    team_ids: tuple[int, ...] | None = None  # None: every ticket, with a team or without
    source: str = ""  # a Ticket.Source value, or every channel

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


@dataclass
class Figures:
    """One group's figures (the whole selection, a team or an agent)."""

    created: int = 0
    resolved: int = 0
    reopened: int = 0
    replies: int = 0
    first_response_count: int = 0
    first_response_median: float | None = None
    first_response_p90: float | None = None
    resolution_count: int = 0
    resolution_median: float | None = None
    resolution_p90: float | None = None
    sla: dict[str, tuple[int, int]] = field(default_factory=dict)  # target: (met, breached)

    @property
    def reopen_rate(self) -> float | None:
        return 100 * self.reopened / self.resolved if self.resolved else None

    @property
    def replies_per_ticket(self) -> float | None:
        return self.replies / self.resolved if self.resolved else None

    @property
    def sla_met(self) -> int:
        return sum(met for met, _ in self.sla.values())

    @property
    def sla_breached(self) -> int:
        return sum(breached for _, breached in self.sla.values())

    @staticmethod
    def compliance(met: int, breached: int) -> float | None:
        return 100 * met / (met + breached) if met + breached else None


@dataclass
class Report:
    filters: Filters
    days: list[tuple[date, int, int, int]]  # (day, created, resolved, open at its end)
    overall: Figures
    by_team: dict[int | None, Figures]
    by_agent: dict[int | None, Figures]
    heatmap: list[list[int]]  # [weekday 0 = Monday][hour]


CACHE_SECONDS = 24 * 3600


def report_cached(filters: Filters, *, organization_id: int) -> tuple[Report, datetime | None]:
    """The report and when its rollups were written: computed once per version of the
    rollups (one query to read it), since nothing the report reads changes in between."""
    state = RollupState.objects.values_list("version", "refreshed_at").first()
    version, refreshed = state or (0, None)
    key = _cache_key(filters, organization_id, version)
    found = cache.get(key)
    if found is None:
        found = report(filters)
        cache.set(key, found, CACHE_SECONDS)
    return found, refreshed


def _cache_key(filters: Filters, organization_id: int, version: int) -> str:
    teams = "all" if filters.team_ids is None else ".".join(map(str, sorted(filters.team_ids)))
    return (
        f"reports:{organization_id}:{version}:{filters.start}:{filters.end}:{teams}:"
        f"{filters.source}"
    )


def report(filters: Filters) -> Report:
    """Seven queries: the counts grouped by team and agent at once (they add up), the
    percentiles overall and the medians by team and by agent (they do not), the days and
    the hours."""
    facts = _selected(TicketFact.objects.all(), filters)
    counts, where = _counts(filters)
    relevant = facts.filter(where).order_by()
    overall = Figures()
    by_team: dict[int | None, Figures] = {}
    by_agent: dict[int | None, Figures] = {}
    for row in relevant.values("team_id", "assignee_id").annotate(**counts):
        for figures in (
            overall,
            by_team.setdefault(row["team_id"], Figures()),
            by_agent.setdefault(row["assignee_id"], Figures()),
        ):
            _add(figures, row)
    timed = facts.filter(_answered(filters) | _resolved(filters)).order_by()
    _times(overall, timed.aggregate(**_percentiles(filters, (0.5, 0.9))))
    for key, groups in (("team_id", by_team), ("assignee_id", by_agent)):
        for row in timed.values(key).annotate(**_percentiles(filters, (0.5,))):
            _times(groups.setdefault(row[key], Figures()), row)
    return Report(
        filters=filters,
        days=_days(filters),
        overall=overall,
        by_team=by_team,
        by_agent=by_agent,
        heatmap=_heatmap(facts, filters),
    )


def _selected(qs: QuerySet, filters: Filters) -> QuerySet:
    if filters.team_ids is not None:
        qs = qs.filter(team_id__in=filters.team_ids)
    if filters.source:
        qs = qs.filter(source=filters.source)
    return qs


def _span(filters: Filters) -> tuple[date, date]:
    return (filters.start, filters.end)


def _resolved(filters: Filters) -> Q:
    return Q(resolved_day__range=_span(filters))


def _answered(filters: Filters) -> Q:
    return Q(first_response_day__range=_span(filters), first_response_seconds__isnull=False)


COUNTS = ("created", "resolved", "reopened", "replies", "first_response_count", "resolution_count")


def _counts(filters: Filters) -> tuple[dict, Q]:
    """The additive figures as FILTERed aggregates, and the rows any of them counts."""
    created = Q(created_day__range=_span(filters))
    resolved, answered = _resolved(filters), _answered(filters)
    aggregates = {
        "created": Count("id", filter=created),
        "resolved": Count("id", filter=resolved),
        "reopened": Count("id", filter=resolved & Q(reopens__gt=0)),
        "replies": Sum("replies", filter=resolved),
        "first_response_count": Count("id", filter=answered),
        "resolution_count": Count("resolution_seconds", filter=resolved),
    }
    where = created | resolved | answered
    for target in Target.values:
        decided = Q(**{f"sla_{target}_day__range": _span(filters)})
        where |= decided
        for outcome in (SlaOutcome.MET, SlaOutcome.BREACHED):
            aggregates[f"sla_{outcome}_{target}"] = Count(
                "id", filter=decided & Q(**{f"sla_{target}": outcome})
            )
    return aggregates, where


def _add(figures: Figures, row: dict) -> None:
    for name in COUNTS:
        setattr(figures, name, getattr(figures, name) + (row[name] or 0))
    for target in Target.values:
        met, breached = figures.sla.get(target, (0, 0))
        figures.sla[target] = (
            met + row[f"sla_{SlaOutcome.MET}_{target}"],
            breached + row[f"sla_{SlaOutcome.BREACHED}_{target}"],
        )


PERCENTILE_NAMES = {0.5: "median", 0.9: "p90"}


def _percentiles(filters: Filters, points: tuple[float, ...]) -> dict:
    measures = {
        "first_response": ("first_response_seconds", _answered(filters)),
        "resolution": ("resolution_seconds", _resolved(filters)),
    }
    return {
        f"{measure}_{PERCENTILE_NAMES[p]}": Percentile(column, p, filter=condition)
        for measure, (column, condition) in measures.items()
        for p in points
    }


def _times(figures: Figures, row: dict) -> None:
    for name in ("first_response", "resolution"):
        for point in PERCENTILE_NAMES.values():
            key = f"{name}_{point}"
            if key in row:
                setattr(figures, key, row[key])


def _days(filters: Filters) -> list[tuple[date, int, int, int]]:
    """Each day's created and resolved, and the backlog at its end: two queries."""
    counts = _selected(DailyCount.objects.all(), filters)
    before = counts.filter(day__lt=filters.start).aggregate(
        created=Sum("created"), resolved=Sum("resolved")
    )
    backlog = (before["created"] or 0) - (before["resolved"] or 0)
    per_day = {
        row["day"]: (row["created"], row["resolved"])
        for row in counts.filter(day__range=(filters.start, filters.end))
        .values("day")
        .annotate(created=Sum("created"), resolved=Sum("resolved"))
        .order_by("day")
    }
    out = []
    for day in filters.days:
        created, resolved = per_day.get(day, (0, 0))
        backlog += created - resolved
        out.append((day, created, resolved, backlog))
    return out


def _heatmap(facts: QuerySet, filters: Filters) -> list[list[int]]:
    grid = [[0] * 24 for _ in range(7)]
    rows = (
        facts.filter(created_day__range=(filters.start, filters.end))
        .values("created_weekday", "created_hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        grid[row["created_weekday"]][row["created_hour"]] = row["n"]
    return grid
