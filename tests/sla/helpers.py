"""Helpers for the SLA timer and scan tests: a Berlin business calendar with a holiday, a
policy on it, and instants written as Berlin wall-clock times."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sla.models import Calendar, Holiday, Policy, TicketSLA

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = {str(d): [["09:00", "17:00"]] for d in range(5)}
WHIT_MONDAY = date(2026, 5, 25)


def berlin(text: str) -> datetime:
    """'2026-05-22 16:55' (or with seconds) in Europe/Berlin."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=BERLIN)


def local(instant: datetime | None) -> str | None:
    return None if instant is None else f"{instant.astimezone(BERLIN):%Y-%m-%d %H:%M:%S}"


def calendar(org, *, name="Office", weekly=None, holidays=(WHIT_MONDAY,), tz="Europe/Berlin"):
    row = Calendar.objects.create(
        organization=org, name=name, timezone=tz, weekly=WEEKDAYS if weekly is None else weekly
    )
    for day in holidays:
        Holiday.objects.create(organization=org, calendar=row, date=day, name="Holiday")
    return row


def policy(org, cal=None, **fields) -> Policy:
    values = {
        "name": "Standard",
        "order": 10,
        "first_response_minutes": 60,
        "resolution_minutes": 480,
        "warn_percent": 80,
        **fields,
    }
    return Policy.objects.create(organization=org, calendar=cal or calendar(org), **values)


def timers(ticket) -> dict[str, TicketSLA]:
    return {t.target: t for t in TicketSLA.objects.filter(ticket_id=ticket.pk)}


def state(ticket) -> dict[str, tuple]:
    """Each timer as (due, warn, paused since, stopped, warned, breached) in Berlin time."""
    return {
        target: (
            local(t.due_at),
            local(t.warn_at),
            local(t.paused_since),
            local(t.stopped_at),
            local(t.warned_at),
            local(t.breached_at),
        )
        for target, t in timers(ticket).items()
    }
