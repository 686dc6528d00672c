"""The policy page's preview: "at this start time, with these targets, due times would be ...",
computed with the calendar (its holidays included) exactly as the timers are."""

from dataclasses import dataclass
from datetime import datetime

from sla.calendar import BusinessCalendar
from sla.models import Calendar, Target
from sla.policies import calendar_of


@dataclass(frozen=True)
class DueTime:
    label: str
    minutes: int
    due: datetime  # in the calendar's zone


def due_times(
    *, calendar: Calendar, start_local: datetime, targets: dict[str, int | None]
) -> tuple[datetime, list[DueTime]]:
    """The start as an instant of the calendar's zone, and each set target's due time.

    `start_local` is naive wall-clock time in the calendar's zone; `targets` maps Target values
    to business minutes. Raises sla.calendar.CalendarError (NoWorkingTime) when the calendar
    has no working time left.
    """
    clock: BusinessCalendar = calendar_of(calendar)
    start = start_local.replace(tzinfo=clock.zone)
    labels = dict(Target.choices)
    rows = [
        DueTime(labels[target], minutes, clock.add(start, minutes).astimezone(clock.zone))
        for target, minutes in targets.items()
        if minutes
    ]
    return start, rows
