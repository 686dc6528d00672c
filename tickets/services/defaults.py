"""The statuses and priorities a new tenant starts with, and the status and priority a new
ticket takes from them."""

from collections.abc import Iterable

from tenants.models import Organization
from tickets.models import Priority, Status, StatusCategory

DEFAULT_STATUSES = [
    ("New", StatusCategory.NEW, False, True),
    ("Open", StatusCategory.OPEN, False, False),
    ("Pending", StatusCategory.PENDING, True, False),
    ("On hold", StatusCategory.PENDING, True, False),
    ("Resolved", StatusCategory.RESOLVED, True, False),
    ("Closed", StatusCategory.CLOSED, True, False),
]


DEFAULT_PRIORITIES = [
    ("Low", 10, "#64748b"),
    ("Normal", 20, "#2563eb"),
    ("High", 30, "#d97706"),
    ("Urgent", 40, "#dc2626"),
]


def defaults_create(*, organization: Organization) -> None:
    """The statuses and priorities every new organization starts with (editable later)."""
    for position, (name, category, pauses, default) in enumerate(DEFAULT_STATUSES):
        Status.objects.get_or_create(
            organization=organization,
            name=name,
            defaults={
                "category": category,
                "pauses_sla": pauses,
                "is_default": default,
                "position": position,
            },
        )
    for name, rank, color in DEFAULT_PRIORITIES:
        Priority.objects.get_or_create(
            organization=organization,
            name=name,
            defaults={"rank": rank, "color": color, "is_default": name == "Normal"},
        )


def default_status(category: str = StatusCategory.NEW) -> Status:
    return pick_default_status(Status.objects.filter(category=category), category)


def pick_default_status(statuses: Iterable[Status], category: str) -> Status:
    """The status a ticket gets when it enters `category`: the default one, else the first."""
    candidates = [s for s in statuses if s.category == category]
    if not candidates:
        raise Status.DoesNotExist(f"no status in category {category}")
    return min(candidates, key=lambda s: (not s.is_default, s.position))


def default_priority() -> Priority | None:
    return Priority.objects.order_by("-is_default", "rank").first()
