"""Forwarding: an agent sends one message, or the ticket's public conversation, with its
attachments to any addresses, with a note. The mail is the mail app's (it hears the
`ticket.forwarded` event); here the timeline records it. The addresses join nothing: a
forward's recipient is neither a collaborator nor told about later replies."""

from collections.abc import Sequence

from django.db import transaction

from tenants.models import User
from tickets import events
from tickets.models import Comment, Ticket, TicketEvent
from tickets.services.timeline import _event


class NothingToForward(Exception):
    """The ticket has no public message to forward (its message says so, for the agent)."""


@transaction.atomic
def ticket_forward(
    *,
    ticket: Ticket,
    to: Sequence[str],
    note: str,
    actor_user: User,
    comment: Comment | None = None,
) -> TicketEvent:
    """Forward `comment` (any message of the ticket) or, without one, its public conversation.

    Raises NothingToForward when the conversation has no public message."""
    if comment is not None and comment.ticket_id != ticket.pk:
        raise ValueError("The comment belongs to another ticket.")
    if comment is None and not ticket.comments.filter(is_public=True).exists():
        raise NothingToForward("There is no public message to forward yet.")
    addresses = list(dict.fromkeys(a.lower() for a in to))
    comment_id = comment.pk if comment is not None else None
    event = _event(
        ticket,
        TicketEvent.Kind.FORWARDED,
        actor_user=actor_user,
        comment_id=comment_id,
        to=addresses,
    )
    data = {"to": addresses, "note": note, "comment_id": comment_id}
    events.emit(
        events.DomainEvent(
            events.TICKET_FORWARDED, ticket.organization_id, ticket.pk, actor_user.pk, data
        )
    )
    return event
