"""Tickets: opening one with its first comment, and changing its status, priority, assignee,
team and collaborators (the agent's single and bulk edits both come here)."""

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from tenants.models import Organization, Team, User
from tickets import events, hooks
from tickets.models import (
    Collaborator,
    Contact,
    Priority,
    Status,
    StatusCategory,
    Ticket,
    TicketEvent,
)
from tickets.services.attachments import Upload
from tickets.services.comments import _comment_insert, _preview
from tickets.services.defaults import default_priority, default_status
from tickets.services.lists import lists_changed
from tickets.services.status_change import _set_status
from tickets.services.timeline import _event, _event_row


@transaction.atomic
def ticket_create(
    *,
    organization: Organization,
    subject: str,
    requester: Contact,
    body_text: str,
    body_html: str = "",
    full_text: str = "",
    source: str = Ticket.Source.AGENT,
    actor_user: User | None = None,
    is_public: bool = True,
    priority: Priority | None = None,
    team: Team | None = None,
    assignee: User | None = None,
    uploads: Sequence[Upload] = (),
    collaborators: Iterable[Contact] = (),
    created_at=None,
    message_id: str = "",
) -> Ticket:
    """Open a ticket with its first comment, written by the requester unless an agent acts."""
    now = created_at or timezone.now()
    ticket = _ticket_row(
        organization=organization,
        number=_next_number(organization),
        subject=subject,
        status=default_status(StatusCategory.NEW),
        priority=priority or default_priority(),
        requester=requester,
        source=source,
        body_text=body_text,
        created_at=now,
        team=team,
        assignee=assignee,
        **_first_message_clock(now, by_agent=actor_user is not None, public=is_public),
    )
    ticket.save()
    _created_event_row(ticket, actor_user, source).save()
    channel = _channel_of(source)
    _comment_insert(
        ticket=ticket,
        body_text=body_text,
        body_html=body_html,
        full_text=full_text,
        is_public=is_public,
        author_user=actor_user,
        author_contact=None if actor_user else requester,
        channel=channel,
        uploads=uploads,
        created_at=now,
        message_id=message_id,
    )
    for contact in collaborators:
        if contact.pk != requester.pk:
            Collaborator.objects.get_or_create(
                organization=organization, ticket=ticket, contact=contact
            )
    hooks.run(hooks.TICKETS_CREATED, tickets=[ticket])
    events.emit(_ticket_created(ticket, actor_user, source))
    lists_changed(organization.pk)
    return ticket


def _next_number(organization: Organization) -> int:
    return _next_numbers(organization, 1)[0]


def _next_numbers(organization: Organization, count: int) -> list[int]:
    # The UPDATE takes the row lock until commit, so concurrent creators queue here and each
    # gets its own numbers (PostgreSQL row lock; SQLite serialises writers anyway).
    Organization.objects.filter(pk=organization.pk).update(
        last_ticket_number=F("last_ticket_number") + count
    )
    last = Organization.objects.values_list("last_ticket_number", flat=True).get(pk=organization.pk)
    return list(range(last - count + 1, last + 1))


def _ticket_row(
    *,
    organization,
    number,
    subject,
    status,
    priority,
    requester,
    source,
    body_text,
    created_at,
    team=None,
    assignee=None,
    last_customer_message_at=None,
    last_agent_reply_at=None,
) -> Ticket:
    return Ticket(
        organization=organization,
        number=number,
        subject=(subject or "").strip()[:300] or "(no subject)",
        status=status,
        status_category=status.category,
        priority=priority,
        team=team,
        assignee=assignee,
        requester=requester,
        customer_id=requester.customer_id,
        source=source,
        last_message_preview=_preview(body_text),
        created_at=created_at,
        updated_at=created_at,
        last_activity_at=created_at,
        status_changed_at=created_at,
        last_customer_message_at=last_customer_message_at,
        last_agent_reply_at=last_agent_reply_at,
    )


def _first_message_clock(at, *, by_agent: bool, public: bool) -> dict:
    """_ticket_row's clock for its first comment: a customer's message, or an agent's public
    reply (an agent opening a ticket for a customer writes to them)."""
    if not public:
        return {}
    return {"last_agent_reply_at": at} if by_agent else {"last_customer_message_at": at}


def _channel_of(source: str) -> str:
    return {"email": "email", "portal": "portal", "api": "api"}.get(source, "agent")


def _created_event_row(ticket: Ticket, actor_user, source: str) -> TicketEvent:
    return _event_row(
        ticket,
        TicketEvent.Kind.CREATED,
        actor_user=actor_user,
        actor_contact=None if actor_user else ticket.requester,
        source=source,
    )


def _ticket_created(ticket: Ticket, actor_user, source: str) -> events.DomainEvent:
    return events.DomainEvent(
        events.TICKET_CREATED,
        ticket.organization_id,
        ticket.pk,
        actor_user.pk if actor_user else None,
        {"source": source, "by_contact": actor_user is None},
    )


def _for_change(ticket: Ticket, related: str, held: bool) -> Ticket:
    """The ticket to change: read again, locked, with the related row the change reads; or,
    when the caller holds it (`held`: locked in this transaction, every field as the database
    has it, that related row loaded), the caller's own, changed in place."""
    if held:
        return ticket
    locked = Ticket.objects.select_for_update(of=("self",)).select_related(related)
    return locked.get(pk=ticket.pk)


# Inside a caller's transaction these take no savepoint of their own (two statements each,
# on every rule action): nothing catches what they raise and goes on in that transaction, and
# a caller that must survive a failure (automations' actions) takes its own savepoint.
@transaction.atomic(savepoint=False)
def ticket_change_status(
    *, ticket: Ticket, status: Status, actor_user=None, actor_contact=None, held: bool = False
):
    ticket = _for_change(ticket, "status", held)
    _set_status(ticket, status, actor_user=actor_user, actor_contact=actor_contact)
    lists_changed(ticket.organization_id)
    return ticket


@transaction.atomic(savepoint=False)
def ticket_change_priority(
    *, ticket: Ticket, priority: Priority, actor_user=None, held: bool = False
) -> Ticket:
    ticket = _for_change(ticket, "priority", held)
    old = ticket.priority
    if old.pk != priority.pk:
        ticket.priority = priority
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["priority", "updated_at"])
        hooks.run(hooks.TICKETS_CHANGED, tickets=[ticket], fields={"priority"})
        _event(
            ticket,
            TicketEvent.Kind.PRIORITY,
            actor_user=actor_user,
            **{"from": old.name, "to": priority.name},
        )
        events.emit(
            events.DomainEvent(
                events.PRIORITY_CHANGED,
                ticket.organization_id,
                ticket.pk,
                actor_user.pk if actor_user else None,
                # The ids too: automations match "changed to" by id (names change).
                {"from": old.name, "to": priority.name, "from_id": old.pk, "to_id": priority.pk},
            )
        )
        lists_changed(ticket.organization_id)
    return ticket


@transaction.atomic(savepoint=False)
def ticket_assign(
    *, ticket: Ticket, assignee: User | None, actor_user=None, held: bool = False
) -> Ticket:
    ticket = _for_change(ticket, "assignee", held)
    old = ticket.assignee
    if (old.pk if old else None) != (assignee.pk if assignee else None):
        ticket.assignee = assignee
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["assignee", "updated_at"])
        _event(
            ticket,
            TicketEvent.Kind.ASSIGNEE,
            actor_user=actor_user,
            **{
                "from": old.display_name if old else "",
                "to": assignee.display_name if assignee else "",
            },
        )
        events.emit(
            events.DomainEvent(
                events.ASSIGNED,
                ticket.organization_id,
                ticket.pk,
                actor_user.pk if actor_user else None,
                {"assignee_id": assignee.pk if assignee else None},
            )
        )
        lists_changed(ticket.organization_id)
    return ticket


@transaction.atomic(savepoint=False)
def ticket_change_team(
    *, ticket: Ticket, team: Team | None, actor_user=None, held: bool = False
) -> Ticket:
    ticket = _for_change(ticket, "team", held)
    old = ticket.team
    if (old.pk if old else None) != (team.pk if team else None):
        ticket.team = team
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["team", "updated_at"])
        hooks.run(hooks.TICKETS_CHANGED, tickets=[ticket], fields={"team"})
        _event(
            ticket,
            TicketEvent.Kind.TEAM,
            actor_user=actor_user,
            **{"from": old.name if old else "", "to": team.name if team else ""},
        )
        events.emit(
            events.DomainEvent(
                events.TEAM_CHANGED,
                ticket.organization_id,
                ticket.pk,
                actor_user.pk if actor_user else None,
                {"team_id": team.pk if team else None},
            )
        )
        lists_changed(ticket.organization_id)
    return ticket


def collaborator_add(*, ticket: Ticket, contact: Contact, actor_user=None, actor_contact=None):
    if contact.pk == ticket.requester_id:
        return None
    collaborator, created = Collaborator.objects.get_or_create(
        organization_id=ticket.organization_id, ticket=ticket, contact=contact
    )
    if created:
        _event(
            ticket,
            TicketEvent.Kind.COLLABORATOR,
            actor_user=actor_user,
            actor_contact=actor_contact,
            added=contact.email,
        )
    return collaborator
