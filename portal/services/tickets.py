"""What a contact does to a ticket from the portal: reply, close it, reopen it.

Each goes through the ticket services as the contact (`author_contact` / `actor_contact`), so a
portal reply is a customer comment exactly like one by mail (it reopens a done or pending
ticket, notifies the agents, restarts the SLA's next-response timer, triggers automations) and
every change is a TicketEvent naming the contact."""

from collections.abc import Sequence

from django.db import transaction

from tickets.models import (
    DONE_CATEGORIES,
    UNRESOLVED_CATEGORIES,
    Comment,
    Contact,
    Status,
    StatusCategory,
    Ticket,
)
from tickets.services.attachments import Upload
from tickets.services.comments import comment_create
from tickets.services.defaults import default_status
from tickets.services.tickets import ticket_change_status


def portal_reply_create(
    *, ticket: Ticket, contact: Contact, body_text: str, uploads: Sequence[Upload] = ()
) -> Comment:
    """The contact's public reply (plain text, shown escaped), with its files."""
    return comment_create(
        ticket=ticket,
        body_text=body_text,
        is_public=True,
        author_contact=contact,
        channel=Comment.Channel.PORTAL,
        uploads=uploads,
    )


def closing_status() -> Status:
    """Where a customer's "close this ticket" leads: the tenant's first resolved status (by
    position), else its first closed one."""
    for category in (StatusCategory.RESOLVED, StatusCategory.CLOSED):
        found = Status.objects.filter(category=category).order_by("position", "id").first()
        if found is not None:
            return found
    raise Status.DoesNotExist("no resolved or closed status")


def reopening_status() -> Status:
    """Where "reopen" leads: the default open status, else the default new one."""
    try:
        return default_status(StatusCategory.OPEN)
    except Status.DoesNotExist:
        return default_status(StatusCategory.NEW)


class NotApplicable(Exception):
    """The ticket is already where the contact asked it to go (a page open in two tabs)."""


@transaction.atomic
def portal_ticket_close(*, ticket: Ticket, contact: Contact) -> Ticket:
    """The contact marks the ticket solved. Raises NotApplicable when it is already done."""
    return _move(ticket, contact, from_categories=UNRESOLVED_CATEGORIES, to=closing_status)


@transaction.atomic
def portal_ticket_reopen(*, ticket: Ticket, contact: Contact) -> Ticket:
    """The contact reopens a done ticket. Raises NotApplicable when it is not done."""
    return _move(ticket, contact, from_categories=DONE_CATEGORIES, to=reopening_status)


def _move(ticket: Ticket, contact: Contact, *, from_categories, to) -> Ticket:
    # Decided on the locked row: an agent's change made since the page loaded wins over a
    # stale button (a closed ticket is never moved back to resolved by "close").
    locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
    if locked.status_category not in from_categories:
        raise NotApplicable(locked.status_category)
    return ticket_change_status(ticket=locked, status=to(), actor_contact=contact)
