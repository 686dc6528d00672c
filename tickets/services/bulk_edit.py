"""Bulk changes from the ticket list: the chosen properties and tags on many tickets, counting
the tickets that actually changed (one already matching is not "updated")."""

from dataclasses import dataclass

from django.db import transaction

from tickets.models import Ticket
from tickets.services.tags import ticket_tags_add, ticket_tags_remove
from tickets.services.tickets import (
    ticket_assign,
    ticket_change_priority,
    ticket_change_status,
    ticket_change_team,
)


@dataclass(frozen=True)
class BulkResult:
    selected: int
    changed: int


@transaction.atomic
def tickets_bulk_update(*, tickets: list[Ticket], changes: dict, actor_user) -> BulkResult:
    """Apply `changes` (status, priority, assignee, team, tags_add, tags_remove) to each ticket.

    Each change goes through its own service, so each writes its TicketEvent and announces
    its domain event; a value a ticket already has is skipped by that service.
    """
    changed = sum(1 for ticket in tickets if _apply(ticket, changes, actor_user))
    return BulkResult(selected=len(tickets), changed=changed)


def _differs(ticket: Ticket, field: str, value) -> bool:
    return getattr(ticket, f"{field}_id") != (value.pk if value is not None else None)


def _apply(ticket: Ticket, changes: dict, user) -> bool:
    changed = False
    if "status" in changes and _differs(ticket, "status", changes["status"]):
        ticket_change_status(ticket=ticket, status=changes["status"], actor_user=user)
        changed = True
    if "priority" in changes and _differs(ticket, "priority", changes["priority"]):
        ticket_change_priority(ticket=ticket, priority=changes["priority"], actor_user=user)
        changed = True
    if "assignee" in changes and _differs(ticket, "assignee", changes["assignee"]):
        ticket_assign(ticket=ticket, assignee=changes["assignee"], actor_user=user)
        changed = True
    if "team" in changes and _differs(ticket, "team", changes["team"]):
        ticket_change_team(ticket=ticket, team=changes["team"], actor_user=user)
        changed = True
    if changes.get("tags_add"):
        changed |= bool(ticket_tags_add(ticket=ticket, names=changes["tags_add"], actor_user=user))
    if changes.get("tags_remove"):
        removed = ticket_tags_remove(ticket=ticket, names=changes["tags_remove"], actor_user=user)
        changed |= bool(removed)
    return changed
