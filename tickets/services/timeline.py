"""TicketEvent rows: the ticket's timeline and audit log, naming who acted; every change writes
one.
Rows made under a tickets.causes.Cause say so in `data["via"]`."""

from tickets import causes
from tickets.models import TicketEvent


def _event(ticket, kind, *, actor_user=None, actor_contact=None, **data) -> TicketEvent:
    event = _event_row(ticket, kind, actor_user=actor_user, actor_contact=actor_contact, **data)
    event.save()
    return event


def _event_row(ticket, kind, *, actor_user=None, actor_contact=None, **data) -> TicketEvent:
    cause = causes.current()
    if cause is not None:
        data["via"] = cause.stamp()  # an automation or a macro made it (tickets.causes)
    return TicketEvent(
        organization_id=ticket.organization_id,
        ticket=ticket,
        kind=kind,
        actor_user=actor_user,
        actor_contact=actor_contact,
        data=data,
    )
