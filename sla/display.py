"""How a timer reads to an agent: the state it is in (running, warning, overdue, paused, met,
breached), the time left or overdue by, and the nearest running timer of a ticket for the list
badge. Reads only what the timer row holds; no queries."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sla.models import Target, TicketSLA

LABELS: dict[str, str] = dict(Target.choices)
# The list badge has room for a word or two.
SHORT_LABELS: dict[str, str] = {
    Target.FIRST_RESPONSE: "Reply",
    Target.NEXT_RESPONSE: "Next reply",
    Target.RESOLUTION: "Resolve",
}


@dataclass(frozen=True)
class TimerView:
    timer: TicketSLA
    label: str  # "First response"
    state: str  # ok | warning | overdue | paused | met | breached
    text: str  # "2h 5m left", "overdue by 12m", "paused", "met", "breached"

    @property
    def short_label(self) -> str:
        return SHORT_LABELS.get(self.timer.target, self.label)

    @property
    def policy_name(self) -> str:
        return self.timer.policy.name if self.timer.policy else ""


def duration(seconds: float) -> str:
    """A short span: 3d 4h, 2h 5m, 12m, under 1m."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under 1m"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def timer_view(timer: TicketSLA, now: datetime) -> TimerView:
    label = LABELS.get(timer.target, timer.target)
    if timer.stopped_at is not None:
        missed = timer.breached_at is not None or timer.stopped_at > timer.due_at
        return TimerView(
            timer, label, "breached" if missed else "met", "breached" if missed else "met"
        )
    if timer.paused_since is not None:
        return TimerView(timer, label, "paused", "paused")
    left = (timer.due_at - now).total_seconds()
    if left <= 0 or timer.breached_at is not None:
        return TimerView(timer, label, "overdue", f"overdue by {duration(max(-left, 0))}")
    warning = timer.warn_at is not None and now >= timer.warn_at
    return TimerView(timer, label, "warning" if warning else "ok", f"{duration(left)} left")


def nearest(timers: Iterable[TicketSLA], now: datetime) -> TimerView | None:
    """The running timer that comes due first; a paused one only when all are paused."""
    running = [t for t in timers if t.stopped_at is None]
    if not running:
        return None
    counting = [t for t in running if t.paused_since is None]
    chosen = min(counting or running, key=lambda t: (t.due_at, t.pk or 0))
    return timer_view(chosen, now)
