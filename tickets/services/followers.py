"""Followers: agents who hear about a ticket as its assignee would, without being assigned.

Who hears what is outbound_mail's decision (`outbound_mail.services.notify` reads the
Follower rows); this module only records who follows, with a TicketEvent for each change."""

from django.db import IntegrityError, transaction

from tenants.models import Membership, User
from tickets.models import Follower, Ticket, TicketEvent
from tickets.services.timeline import _event


class NotAnAgent(ValueError):
    """Only active members of the ticket's helpdesk can follow it."""


@transaction.atomic
def ticket_follow(*, ticket: Ticket, user: User) -> bool:
    """Make `user` a follower; False when they already were."""
    if not Membership.objects.filter(user=user, user__is_active=True).exists():
        raise NotAnAgent("Only agents of this helpdesk can follow a ticket.")
    if Follower.objects.filter(ticket=ticket, user=user).exists():
        return False
    try:
        with transaction.atomic():
            Follower.objects.create(
                organization_id=ticket.organization_id, ticket=ticket, user=user
            )
    except IntegrityError:
        return False  # a double click raced us: they follow it either way
    _event(ticket, TicketEvent.Kind.FOLLOWER, actor_user=user, followed=True)
    return True


@transaction.atomic
def ticket_unfollow(*, ticket: Ticket, user: User) -> bool:
    """Stop `user` following; False when they did not."""
    deleted, _ = Follower.objects.filter(ticket=ticket, user=user).delete()
    if deleted:
        _event(ticket, TicketEvent.Kind.FOLLOWER, actor_user=user, followed=False)
    return bool(deleted)
