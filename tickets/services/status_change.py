"""Moving a ticket to another status: its TicketEvent and domain event. Shared by an agent's
change, a customer's reply that reopens the ticket, and the batched mail writer."""

from django.utils import timezone

from tickets import events, hooks
from tickets.models import DONE_CATEGORIES, StatusCategory, TicketEvent
from tickets.services.timeline import _event_row, _write


def _set_status(ticket, status, *, actor_user=None, actor_contact=None) -> None:
    old = ticket.status
    change = _status_change(ticket, status, actor_user=actor_user, actor_contact=actor_contact)
    if change is None:
        return
    event, domain_event = change
    ticket.save(update_fields=STATUS_FIELDS)
    _write([event])
    hooks.run(hooks.STATUS_CHANGED, changes=[(ticket, old)])
    events.emit(domain_event)


STATUS_FIELDS = [
    "status",
    "status_category",
    "updated_at",
    "resolved_at",
    "closed_at",
    "status_changed_at",
]


def _status_change(ticket, status, *, actor_user=None, actor_contact=None):
    """Move the ticket (in memory) to `status`: (its TicketEvent row, its domain event), or
    None when it is there already. The caller saves STATUS_FIELDS and the row."""
    old = ticket.status
    if old.pk == status.pk:
        return None
    now = timezone.now()
    ticket.status = status
    ticket.status_category = status.category
    ticket.updated_at = now
    ticket.status_changed_at = now  # the clock of "hours in status" automations restarts
    ticket.resolved_at = (ticket.resolved_at or now) if status.category in DONE_CATEGORIES else None
    ticket.closed_at = now if status.category == StatusCategory.CLOSED else None
    event = _event_row(
        ticket,
        TicketEvent.Kind.STATUS,
        actor_user=actor_user,
        actor_contact=actor_contact,
        **{"from": old.name, "to": status.name, "to_category": status.category},
    )
    domain_event = events.DomainEvent(
        events.STATUS_CHANGED,
        ticket.organization_id,
        ticket.pk,
        actor_user.pk if actor_user else None,
        {
            "from": old.name,
            "to": status.name,
            "from_category": old.category,
            "to_category": status.category,
            # For automations: "changed to" matches by id, and a customer's reply that
            # reopens the ticket is the customer's change.
            "from_id": old.pk,
            "to_id": status.pk,
            "by_contact": actor_contact is not None and actor_user is None,
        },
    )
    return event, domain_event
