"""The batched writer of inbound mail: the tickets a round of messages opens and the customer
replies it adds, in a fixed number of statements however many there are."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from tenants.models import Organization
from tenants.scoping import bulk_create_checked, bulk_update_checked
from tickets import events, hooks
from tickets.models import (
    DONE_CATEGORIES,
    Attachment,
    Collaborator,
    Comment,
    Status,
    StatusCategory,
    Ticket,
    TicketEvent,
)
from tickets.selectors import bump_list_version
from tickets.services.attachments import Upload, _attachment_row, _link_inline_images
from tickets.services.comments import (
    _comment_added,
    _comment_row,
    _comment_ticket_fields,
    _reopens,
)
from tickets.services.contacts import contacts_for
from tickets.services.defaults import default_priority, pick_default_status
from tickets.services.status_change import STATUS_FIELDS, _status_change
from tickets.services.tickets import (
    _channel_of,
    _created_event_row,
    _next_numbers,
    _ticket_created,
    _ticket_row,
)
from tickets.services.timeline import _event_row


@dataclass(eq=False)
class _Opening:
    subject: str
    source: str
    created_at: object
    requester: str
    body: dict
    uploads: Sequence[Upload]
    collaborators: list[str]
    ticket: Ticket = None  # type: ignore[assignment]  # unset until flush() writes the ticket
    comment: Comment = None  # type: ignore[assignment]  # unset until flush() writes the comment


@dataclass(eq=False)
class _Reply:
    ticket: Ticket
    author: str
    body: dict
    uploads: Sequence[Upload]
    collaborators: list[str]
    auto_generated: bool
    comment: Comment = None  # type: ignore[assignment]  # unset until flush() writes the comment


class Bulk:
    """Tickets opened and customer replies added together, in a fixed number of statements
    however many there are (inbound mail applies messages in batches).

    The rows, timeline events and domain events are those ticket_create and comment_create make
    for a contact writing by email. The caller holds the locks those take: the tickets it
    replies on were read with select_for_update (with their status), each at most once.
    Contacts are named by address and found or created together in flush(). Each opening or
    reply is registered under a key of the caller's; written() answers for it after flush().
    """

    def __init__(self, organization: Organization):
        self.organization = organization
        self._items: dict[object, _Opening | _Reply] = {}
        self._names: dict[str, str] = {}

    @property
    def _openings(self) -> list[_Opening]:
        return [i for i in self._items.values() if isinstance(i, _Opening)]

    @property
    def _replies(self) -> list[_Reply]:
        return [i for i in self._items.values() if isinstance(i, _Reply)]

    def _name(self, address: str, name: str) -> str:
        address = address.strip().lower()
        if name and not self._names.get(address):
            self._names[address] = name
        else:
            self._names.setdefault(address, "")
        return address

    def open_ticket(
        self,
        key,
        *,
        subject: str,
        requester: tuple[str, str],
        source: str = Ticket.Source.EMAIL,
        uploads: Sequence[Upload] = (),
        collaborators: Iterable[tuple[str, str]] = (),
        **body,
    ) -> None:
        """A new ticket whose first comment the requester wrote; `collaborators` join it.
        `body`: body_text, and optionally body_html, full_text, message_id."""
        self._items[key] = _Opening(
            subject=subject,
            source=source,
            created_at=timezone.now(),
            requester=self._name(*requester),
            body=body,
            uploads=uploads,
            collaborators=[self._name(*c) for c in collaborators],
        )

    def add_reply(
        self,
        key,
        *,
        ticket: Ticket,
        author: tuple[str, str],
        uploads: Sequence[Upload] = (),
        collaborators: Iterable[tuple[str, str]] = (),
        auto_generated: bool = False,
        **body,
    ) -> None:
        """A contact's public reply by email (`body` as for open_ticket); its author and
        `collaborators` become the ticket's collaborators (the requester excepted), unless it
        is auto-generated."""
        self._items[key] = _Reply(
            ticket=ticket,
            author=self._name(*author),
            body={**body, "created_at": timezone.now()},
            uploads=uploads,
            collaborators=[self._name(*c) for c in collaborators],
            auto_generated=auto_generated,
        )

    def written(self, key) -> tuple[Ticket, Comment]:
        """After flush(): the ticket and the comment written for `key`."""
        item = self._items[key]
        return item.ticket, item.comment

    def flush(self) -> None:
        if not self._items:
            return
        contacts = contacts_for(organization=self.organization, names=self._names)
        statuses = list(Status.objects.all())
        event_rows: list[TicketEvent] = []
        domain_events: list[events.DomainEvent] = []
        self._create_tickets(contacts, statuses, event_rows)
        comments = self._create_comments(contacts)
        self._store_attachments(comments)
        status_changes: list = []
        touched = self._update_replied_tickets(statuses, event_rows, domain_events, status_changes)
        self._add_collaborators(contacts, event_rows, touched)
        bulk_create_checked(TicketEvent, event_rows)
        self._run_hooks(status_changes)
        domain_events[:0] = [_ticket_created(o.ticket, None, o.source) for o in self._openings]
        domain_events += [
            _comment_added(r.comment, send_now=False, auto_generated=r.auto_generated)
            for r in self._replies
        ]
        for domain_event in domain_events:
            events.emit(domain_event)
        organization_id = self.organization.pk
        transaction.on_commit(lambda: bump_list_version(organization_id))

    def _create_tickets(self, contacts, statuses, event_rows) -> None:
        openings = self._openings
        if not openings:
            return
        status = pick_default_status(statuses, StatusCategory.NEW)
        priority = default_priority()
        numbers = _next_numbers(self.organization, len(openings))
        for opening, number in zip(openings, numbers, strict=True):
            opening.ticket = _ticket_row(
                organization=self.organization,
                number=number,
                subject=opening.subject,
                status=status,
                priority=priority,
                requester=contacts[opening.requester],
                source=opening.source,
                body_text=opening.body["body_text"],
                created_at=opening.created_at,
                last_customer_message_at=opening.created_at,
            )
        bulk_create_checked(Ticket, [o.ticket for o in openings])
        event_rows.extend(_created_event_row(o.ticket, None, o.source) for o in openings)

    def _create_comments(self, contacts) -> list[tuple[Comment, Ticket, Sequence[Upload]]]:
        made = []
        for item in self._items.values():
            if isinstance(item, _Opening):
                author, channel = item.requester, _channel_of(item.source)
            else:
                author, channel = item.author, Comment.Channel.EMAIL
            body = dict(item.body)
            body.setdefault("created_at", item.ticket.created_at)
            item.comment = _comment_row(
                ticket=item.ticket,
                is_public=True,
                author_user=None,
                author_contact=contacts[author],
                channel=channel,
                **body,
            )
            made.append((item.comment, item.ticket, item.uploads))
        bulk_create_checked(Comment, [m[0] for m in made])
        return made

    def _store_attachments(self, comments) -> None:
        stored = {
            id(comment): [_attachment_row(ticket=ticket, comment=comment, upload=u) for u in ups]
            for comment, ticket, ups in comments
            if ups
        }
        if not stored:
            return
        bulk_create_checked(Attachment, [a for rows in stored.values() for a in rows])
        linked = [
            comment
            for comment, ticket, _ in comments
            if _link_inline_images(comment, ticket, stored.get(id(comment), []))
        ]
        if linked:
            Comment.objects.bulk_update(linked, ["body_html"])

    def _run_hooks(self, status_changes) -> None:
        """tickets.hooks, once each for the whole batch, in the order the single paths run them."""
        hooks.run(hooks.TICKETS_CREATED, tickets=[o.ticket for o in self._openings])
        hooks.run(hooks.STATUS_CHANGED, changes=status_changes)
        replies = [(r.comment, r.auto_generated) for r in self._replies]
        hooks.run(hooks.COMMENTS_ADDED, comments=replies)

    def _update_replied_tickets(self, statuses, event_rows, domain_events, status_changes) -> set:
        replies = self._replies
        if not replies:
            return set()
        fields: set[str] = set()
        for reply in replies:
            ticket, comment = reply.ticket, reply.comment
            changes = _comment_ticket_fields(
                ticket, comment, comment.created_at, auto_generated=reply.auto_generated
            )
            for name, value in changes.items():
                setattr(ticket, name, value)
            fields.update(changes)
            event_rows.append(
                _event_row(
                    ticket,
                    TicketEvent.Kind.COMMENT,
                    actor_contact=comment.author_contact,
                    comment_id=comment.pk,
                    public=True,
                )
            )
            reopening = ticket.status_category in (*DONE_CATEGORIES, StatusCategory.PENDING)
            if reopening and _reopens(comment, reopen=True, auto_generated=reply.auto_generated):
                opened = pick_default_status(statuses, StatusCategory.OPEN)
                old = ticket.status
                change = _status_change(ticket, opened, actor_contact=comment.author_contact)
                if change is not None:
                    status_changes.append((ticket, old))
                    event_rows.append(change[0])
                    domain_events.append(change[1])
                    fields.update(STATUS_FIELDS)
        bulk_update_checked(Ticket, [r.ticket for r in replies], sorted(fields))
        return {r.ticket.pk for r in replies}

    def _add_collaborators(self, contacts, event_rows, touched) -> None:
        existing = set(
            Collaborator.objects.filter(ticket_id__in=touched).values_list(
                "ticket_id", "contact_id"
            )
        )
        rows = []
        for item in self._items.values():
            ticket = item.ticket
            reply = item if isinstance(item, _Reply) else None
            if reply is not None and reply.auto_generated:
                continue
            addresses = [reply.author, *reply.collaborators] if reply else item.collaborators
            for address in addresses:
                contact = contacts[address]
                key = (ticket.pk, contact.pk)
                if contact.pk == ticket.requester_id or key in existing:
                    continue
                existing.add(key)
                rows.append(
                    Collaborator(
                        organization_id=ticket.organization_id, ticket=ticket, contact=contact
                    )
                )
                if reply is not None:
                    event_rows.append(
                        _event_row(
                            ticket,
                            TicketEvent.Kind.COLLABORATOR,
                            actor_contact=contacts[reply.author],
                            added=contact.email,
                        )
                    )
        bulk_create_checked(Collaborator, rows, ignore_conflicts=True)
