"""Drafts: the reply box kept on the server per agent and ticket, and what reads them.

The browser saves the box a couple of seconds after the last key (live.views.ticket_draft), and
restores it into an empty box when the agent comes back. A draft is cleared when that agent's
comment on the ticket is added (`register`: COMMENT_ADDED by that user, so a reply by mail
clears it too). Drafts are the agent's own scratch space, not a change to the ticket: no
TicketEvent is written and no one else's page changes but the presence line ("Dana has a
draft"), announced when an agent comes to have a draft or stops having one.
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from live.models import BODY_LIMIT_BYTES, Draft
from tenants.models import Membership, Organization, User
from tenants.scoping import tenant_scope
from tickets import events
from tickets.models import Ticket

logger = logging.getLogger(__name__)


class DraftTooLarge(ValueError):
    """The body is over the limit; the message says what the limit is."""


def draft_get(*, ticket: Ticket, user: User) -> Draft | None:
    return Draft.objects.filter(ticket=ticket, user=user).first()


def draft_user_ids_many(*, ticket_ids: list[int]) -> dict[int, set[int]]:
    """Per ticket, the agents of the active tenant with a draft on it (a removed member's is
    not shown, though it stays until they come back or it is cleared). One query."""
    members = Membership.objects.filter(user__is_active=True).values("user_id")
    found: dict[int, set[int]] = {ticket_id: set() for ticket_id in ticket_ids}
    rows = Draft.objects.filter(ticket_id__in=ticket_ids, user_id__in=members).values_list(
        "ticket_id", "user_id"
    )
    for ticket_id, user_id in rows:
        found[ticket_id].add(user_id)
    return found


def draft_save(*, ticket: Ticket, user: User, body: str, internal: bool) -> Draft | None:
    """Keep `body` as the user's draft on the ticket; an empty (or blank) body deletes it.
    Returns the draft, or None when there is none now."""
    if len(body.encode("utf-8")) > BODY_LIMIT_BYTES:
        raise DraftTooLarge(
            f"A draft can be at most {BODY_LIMIT_BYTES // 1024} KB; this one is "
            f"{-(-len(body.encode('utf-8')) // 1024)} KB."
        )
    if not body.strip():
        draft_delete(ticket=ticket, user=user)
        return None
    with transaction.atomic():
        fields = {"body": body, "internal": internal, "updated_at": timezone.now()}
        if Draft.objects.filter(ticket=ticket, user=user).update(**fields):
            return Draft.objects.get(ticket=ticket, user=user)
        try:
            with transaction.atomic():
                draft = Draft.objects.create(
                    organization_id=ticket.organization_id, ticket=ticket, user=user, **fields
                )
        except IntegrityError:
            # Two tabs of the same agent saved at once and the other created it: update it.
            Draft.objects.filter(ticket=ticket, user=user).update(**fields)
            return Draft.objects.get(ticket=ticket, user=user)
        _announce_on_commit(ticket.organization_id, ticket.pk)
        return draft


def draft_delete(*, ticket: Ticket, user: User) -> bool:
    """Drop the user's draft on the ticket; False when there was none."""
    with transaction.atomic():
        deleted, _ = Draft.objects.filter(ticket=ticket, user=user).delete()
        if deleted:
            _announce_on_commit(ticket.organization_id, ticket.pk)
    return bool(deleted)


def draft_clear_for_comment(event: events.DomainEvent) -> None:
    """COMMENT_ADDED: the author's draft on that ticket was sent (in the browser or by mail).

    Runs after the comment's commit, in whatever process added it (a web request, the Celery
    worker for mail), so it enters the event's tenant itself."""
    if event.actor_user_id is None:
        return  # a customer's or the system's comment: no agent's box was sent
    organization = Organization.objects.get(pk=event.organization_id)
    with tenant_scope(organization), transaction.atomic():
        deleted, _ = Draft.objects.filter(
            ticket_id=event.ticket_id, user_id=event.actor_user_id
        ).delete()
        if deleted:
            _announce_on_commit(event.organization_id, event.ticket_id)


def register() -> None:
    """Called from LiveConfig.ready(): hear the comments that clear drafts."""
    events.subscribe(events.COMMENT_ADDED, draft_clear_for_comment)


def _announce_on_commit(organization_id: int, ticket_id: int) -> None:
    transaction.on_commit(lambda: _announce(organization_id, ticket_id))


def _announce(organization_id: int, ticket_id: int) -> None:
    # Having a draft is part of presence: the others' presence line changes. From whichever
    # process this runs in (the worker, for a reply by mail) to the one with the sockets.
    from live.relay import announce_presence

    try:
        announce_presence(organization_id=organization_id, ticket_id=ticket_id)
    except Exception:
        logger.exception("presence broadcast after a draft change failed")
