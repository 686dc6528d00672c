"""The arithmetic of one timer on its calendar: when it is due and when it warns, and what
pausing, resuming, stopping and restarting do to it, each writing its TicketEvent row.

A timer's business time counted so far is `spent_seconds` (earlier runs) plus the business
seconds since `started_at`, less `paused_seconds` (and less the pause under way). So it is due
`budget - spent + paused` business seconds after `started_at`, which is what `schedule` sets;
a pause moves the due time by exactly the business time it lasted, never making a timer
overdue at once. Functions change rows in memory; the caller (`timers.Work`) saves them.
"""

from datetime import datetime

from sla.calendar import BusinessCalendar
from sla.models import Policy, Target, TicketSLA
from tickets.models import TicketEvent

LABELS: dict[str, str] = {
    Target.FIRST_RESPONSE: "first response",
    Target.NEXT_RESPONSE: "next response",
    Target.RESOLUTION: "resolution",
}


def budget(policy: Policy | None, target: str) -> int | None:
    """The target in business seconds, or None when the policy sets none."""
    minutes = getattr(policy, f"{target}_minutes", None) if policy is not None else None
    return None if minutes is None else minutes * 60


def warn_point(policy: Policy, whole: int) -> int | None:
    """Business seconds of the target elapsed when the warning comes: the earlier of the
    percentage and the minutes before due; None without either."""
    points = []
    if policy.warn_percent is not None:
        points.append(whole * policy.warn_percent // 100)
    if policy.warn_minutes_before is not None:
        points.append(max(whole - policy.warn_minutes_before * 60, 0))
    return min(points) if points else None


def counted(row: TicketSLA, calendar: BusinessCalendar, at: datetime) -> int:
    """Business seconds this run has counted by `at` (a pause under way not counted)."""
    until = min(at, row.paused_since) if row.paused_since is not None else at
    return max(calendar.between(row.started_at, until) - row.paused_seconds, 0)


def schedule(row: TicketSLA, calendar: BusinessCalendar, policy: Policy) -> None:
    """Set due_at and warn_at from the policy's target. Both are working instants: a target
    that ends as work ends for the day is due (and warns) when work starts again."""
    whole = budget(policy, row.target) or 0
    row.due_at = calendar.add_seconds(
        row.started_at, max(whole - row.spent_seconds, 0) + row.paused_seconds
    )
    if row.warned_at is not None:
        return  # warned once already (a restart or a new policy never warns again)
    point = warn_point(policy, whole)
    if point is None:
        row.warn_at = None
        return
    row.warn_at = calendar.add_seconds(
        row.started_at, max(point - row.spent_seconds, 0) + row.paused_seconds
    )


def pause(row: TicketSLA, at: datetime) -> TicketEvent | None:
    if row.stopped_at is not None or row.paused_since is not None:
        return None
    row.paused_since = at
    return event(row, "paused", f"{LABELS[row.target]} paused")


def resume(row: TicketSLA, calendar: BusinessCalendar, policy: Policy, at: datetime):
    """End the pause under way: due and warning move by the business time it lasted."""
    if row.stopped_at is not None or row.paused_since is None:
        return None
    row.paused_seconds += calendar.between(row.paused_since, at)
    row.paused_since = None
    schedule(row, calendar, policy)
    return event(row, "resumed", due_text(row, calendar))


def stop(row: TicketSLA, calendar: BusinessCalendar | None, at: datetime) -> TicketEvent | None:
    """The target is reached (or no longer applies): remember the business time spent; a stop
    after the due time the scan has not seen yet still counts as a breach."""
    if row.stopped_at is not None:
        return None
    if calendar is not None:
        row.spent_seconds += counted(row, calendar, at)
    row.paused_since = None
    row.stopped_at = at
    if row.breached_at is None and at >= row.due_at:
        row.breached_at = row.due_at
    outcome = "met" if row.breached_at is None else "stopped, breached"
    return event(row, "stopped", f"{LABELS[row.target]} {outcome}")


def restart(row: TicketSLA, calendar: BusinessCalendar, policy: Policy, at: datetime, *, fresh):
    """Run again from `at`: with the business time already spent (resolution on reopen), or
    `fresh` (next response at a new customer message: a new target, warned and breached anew)."""
    row.started_at = at
    row.paused_seconds = 0
    row.paused_since = None
    row.stopped_at = None
    if fresh:
        row.spent_seconds = 0
        row.breached_at = row.warned_at = None
    schedule(row, calendar, policy)
    return event(row, "started" if fresh else "restarted", due_text(row, calendar))


def due_text(row: TicketSLA, calendar: BusinessCalendar) -> str:
    local = row.due_at.astimezone(calendar.zone)
    return f"{LABELS[row.target]} due {local:%Y-%m-%d %H:%M}"


def event(row: TicketSLA, action: str, text: str) -> TicketEvent:
    """A timeline row for the timer (plain values, readable after the policy is renamed)."""
    return TicketEvent(
        organization_id=row.organization_id,
        ticket_id=row.ticket_id,
        kind=TicketEvent.Kind.SLA,
        data={
            "action": action,
            "target": row.target,
            "due_at": row.due_at.isoformat() if row.due_at else None,
            "text": text,
        },
    )
