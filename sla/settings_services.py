"""Admin changes to SLA settings: calendars (and which is the default), holidays (one by one or
imported), policies (and their order). Each is one transaction, and each asks for the open
tickets' timers to be recomputed after the change (`_timers_follow`)."""

from datetime import date

from django.db import transaction
from django.db.models import Max

from sla import queue
from sla.models import Calendar, Holiday, Policy


class InUse(Exception):
    """The row is still referenced; the message says what to do instead."""


def _timers_follow(organization) -> None:
    """Recompute the open tickets' timers after a policy, calendar or holiday changed: the
    background task (`sla.recompute`, batched) is queued once this change has committed."""
    queue.recompute_after_commit(organization.pk)


# -- calendars ----------------------------------------------------------------------------------


@transaction.atomic
def calendar_save(
    *, organization, calendar: Calendar | None, name: str, timezone: str, weekly: dict
) -> Calendar:
    """Create or edit a calendar; the first one becomes the default."""
    if calendar is None:
        is_first = not Calendar.objects.exists()
        calendar = Calendar(organization=organization, is_default=is_first)
    calendar.name, calendar.timezone, calendar.weekly = name, timezone, weekly
    calendar.save()
    _timers_follow(organization)
    return calendar


@transaction.atomic
def calendar_make_default(*, calendar: Calendar) -> None:
    # Clear the old default first: at most one default per tenant (a partial unique index).
    Calendar.objects.filter(is_default=True).exclude(pk=calendar.pk).update(is_default=False)
    Calendar.objects.filter(pk=calendar.pk).update(is_default=True)
    calendar.is_default = True


@transaction.atomic
def calendar_delete(*, calendar: Calendar) -> None:
    users = list(Policy.objects.filter(calendar=calendar).values_list("name", flat=True))
    if users:
        raise InUse(
            f"Policies use “{calendar.name}” ({', '.join(users)}): "
            "give them another calendar first."
        )
    was_default = calendar.is_default
    calendar.delete()
    if was_default:  # another calendar takes over as the default, if there is one
        heir = Calendar.objects.order_by("name", "id").first()
        if heir is not None:
            calendar_make_default(calendar=heir)


# -- holidays -----------------------------------------------------------------------------------


@transaction.atomic
def holiday_save(
    *,
    organization,
    calendar: Calendar,
    holiday: Holiday | None,
    date: date,
    name: str,
    intervals: list,
) -> Holiday:
    """Add or edit one holiday of a calendar (closed when `intervals` is empty)."""
    if holiday is None:
        holiday = Holiday(organization=organization, calendar=calendar)
    holiday.date, holiday.name, holiday.intervals = date, name.strip(), intervals
    holiday.save()
    _timers_follow(organization)
    return holiday


@transaction.atomic
def holiday_delete(*, organization, holiday: Holiday) -> None:
    holiday.delete()
    _timers_follow(organization)


@transaction.atomic
def holidays_import(*, organization, calendar: Calendar, found: dict[date, str]) -> int:
    """Add the public holidays found (closed all day); dates the calendar already has keep
    what an admin set for them. Returns how many were added."""
    have = set(calendar.holidays.values_list("date", flat=True))
    new = [
        Holiday(organization=organization, calendar=calendar, date=day, name=name[:100])
        for day, name in found.items()
        if day not in have
    ]
    Holiday.objects.bulk_create(new)
    if new:
        _timers_follow(organization)
    return len(new)


# -- policies -----------------------------------------------------------------------------------


@transaction.atomic
def policy_save(*, organization, policy: Policy | None, **values) -> Policy:
    """Create (last in order) or edit a policy."""
    if policy is None:
        top = Policy.objects.aggregate(m=Max("order"))["m"]
        policy = Policy(organization=organization, order=(top or 0) + 1)
    for field, value in values.items():
        setattr(policy, field, value)
    policy.save()
    _timers_follow(organization)
    return policy


@transaction.atomic
def policy_move(*, organization, policy: Policy, direction: int) -> None:
    """Swap a policy with its neighbour (direction -1 up, +1 down): the first match applies."""
    rows = list(Policy.objects.order_by("order", "id"))
    index = next(i for i, r in enumerate(rows) if r.pk == policy.pk)
    other = index + direction
    if not 0 <= other < len(rows):
        return
    rows[index], rows[other] = rows[other], rows[index]
    for order, row in enumerate(rows, start=1):
        if row.order != order:
            row.order = order
            row.save(update_fields=["order"])
    _timers_follow(organization)


@transaction.atomic
def policy_delete(*, organization, policy: Policy) -> None:
    policy.delete()
    _timers_follow(organization)
