"""Admin changes to a tenant's vocabulary: statuses, priorities, canned responses."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from tickets import hooks
from tickets.models import CannedResponse, Priority, Status, Ticket, TicketEvent
from tickets.services.timeline import _event_row


class InUse(Exception):
    """The row is still referenced; the message says what to do instead."""


def status_save(
    *,
    organization,
    status: Status | None,
    name: str,
    category: str,
    pauses_sla: bool,
    is_default: bool,
) -> Status:
    """Create or edit a status; a category change is copied to its tickets."""
    with transaction.atomic():
        if status is None:
            top = Status.objects.aggregate(m=Max("position"))["m"]
            status = Status(organization=organization, position=(top or 0) + 1)
        category_changed = status.pk and status.category != category
        status.name, status.category, status.pauses_sla = name.strip(), category, pauses_sla
        status.is_default = is_default
        status.save()
        if is_default:
            Status.objects.filter(category=category).exclude(pk=status.pk).update(is_default=False)
        if category_changed:
            Ticket.objects.filter(status=status).update(status_category=category)
    return status


def status_replacements(status: Status) -> list[Status]:
    """Where a deleted status's tickets may go: its category's other statuses, so a ticket's
    category (and with it its SLA clock, resolved and closed times) stays what it was."""
    return list(Status.objects.filter(category=status.category).exclude(pk=status.pk))


def status_delete(*, status: Status, replacement: Status | None = None, actor_user=None) -> int:
    """Delete a status, first moving its tickets to `replacement`; returns how many moved."""
    if not status_replacements(status):
        raise InUse(f"“{status.name}” is the last {status.category} status; keep at least one.")
    with transaction.atomic():
        tickets = list(Ticket.objects.select_for_update().filter(status=status))
        if tickets and (replacement is None or replacement.category != status.category):
            raise InUse(f"Tickets still use “{status.name}”: pick a status to move them to.")
        if tickets:
            assert replacement is not None
            _move(tickets, "status", status, replacement, TicketEvent.Kind.STATUS, actor_user)
            # Same category, but the new status may pause the SLA clock where the old did not.
            hooks.run(hooks.STATUS_CHANGED, changes=[(ticket, status) for ticket in tickets])
        status.delete()
    return len(tickets)


def _move(tickets, field: str, old, new, kind: str, actor_user) -> None:
    """Point the tickets at `new`, one timeline entry each naming the deleted row."""
    now = timezone.now()
    Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(**{field: new}, updated_at=now)
    for ticket in tickets:
        setattr(ticket, field, new)
        ticket.updated_at = now
    TicketEvent.objects.bulk_create(
        _event_row(
            ticket,
            kind,
            actor_user=actor_user,
            **{"from": old.name, "to": new.name, "reason": f"“{old.name}” was deleted"},
        )
        for ticket in tickets
    )


def position_move(*, model=None, rows=None, row, direction: int) -> None:
    """Swap a row with its neighbour in the list's order (direction -1 up, +1 down) and
    renumber them: the rows of `model` by position, or the given `rows` in their order."""
    rows = list(rows if rows is not None else model.objects.order_by("position", "id"))
    index = next(i for i, r in enumerate(rows) if r.pk == row.pk)
    other = index + direction
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    with transaction.atomic():
        for position, item in enumerate(rows):
            if item.position != position:
                item.position = position
                item.save(update_fields=["position"])


def priority_save(
    *, organization, priority: Priority | None, name: str, rank: int, color: str, is_default: bool
) -> Priority:
    with transaction.atomic():
        priority = priority or Priority(organization=organization)
        priority.name, priority.rank, priority.color = name.strip(), rank, color
        priority.is_default = is_default
        priority.save()
        if is_default:
            Priority.objects.exclude(pk=priority.pk).update(is_default=False)
    return priority


def priority_replacements(priority: Priority) -> list[Priority]:
    return list(Priority.objects.exclude(pk=priority.pk).order_by("-rank", "id"))


def priority_delete(
    *, priority: Priority, replacement: Priority | None = None, actor_user=None
) -> int:
    """Delete a priority, first moving its tickets to `replacement`; returns how many moved."""
    if not priority_replacements(priority):
        raise InUse("Keep at least one priority.")
    with transaction.atomic():
        tickets = list(Ticket.objects.select_for_update().filter(priority=priority))
        if tickets and (replacement is None or replacement.pk == priority.pk):
            raise InUse(f"Tickets still use “{priority.name}”: pick a priority to move them to.")
        if tickets:
            _move(tickets, "priority", priority, replacement, TicketEvent.Kind.PRIORITY, actor_user)
            hooks.run(hooks.TICKETS_CHANGED, tickets=tickets, fields={"priority"})
        priority.delete()
    return len(tickets)


def canned_response_delete(*, canned: CannedResponse) -> None:
    canned.delete()
