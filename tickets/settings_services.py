"""Admin changes to a tenant's vocabulary: statuses, priorities, canned responses."""

from django.db import transaction
from django.db.models import Max

from tickets.models import CannedResponse, Priority, Status, Ticket


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


def status_delete(*, status: Status) -> None:
    if Ticket.objects.filter(status=status).exists():
        raise InUse(f"Tickets still use “{status.name}”: move them to another status first.")
    if Status.objects.filter(category=status.category).count() == 1:
        raise InUse(f"“{status.name}” is the last {status.category} status; keep at least one.")
    status.delete()


def position_move(*, model, row, direction: int) -> None:
    """Swap a row with its neighbour in the list's order (direction -1 up, +1 down)."""
    rows = list(model.objects.order_by("position", "id"))
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


def priority_delete(*, priority: Priority) -> None:
    if Ticket.objects.filter(priority=priority).exists():
        raise InUse(f"Tickets still use “{priority.name}”: change their priority first.")
    if Priority.objects.count() == 1:
        raise InUse("Keep at least one priority.")
    priority.delete()


def canned_response_delete(*, canned: CannedResponse) -> None:
    canned.delete()
