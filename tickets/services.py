"""Every change to tickets goes through these functions: one transaction, a TicketEvent naming who
acted, and domain events delivered after commit."""

import hashlib
import html
import mimetypes
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from tenants.models import Organization, Team, User
from tenants.scoping import bulk_create_checked, bulk_update_checked
from tickets import events
from tickets.models import (
    DONE_CATEGORIES,
    Attachment,
    CannedResponse,
    Collaborator,
    Comment,
    Contact,
    Customer,
    CustomerDomain,
    Priority,
    Status,
    StatusCategory,
    Ticket,
    TicketEvent,
)
from tickets.sanitize import clean_html, text_to_html
from tickets.selectors import bump_list_version

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


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes
    content_type: str = ""
    content_id: str = ""
    inline: bool = False


# -- organization defaults -------------------------------------------------------------------


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


def default_priority() -> Priority:
    return Priority.objects.order_by("-is_default", "rank").first()


# -- contacts --------------------------------------------------------------------------------


def contact_get_or_create(*, organization: Organization, email: str, name: str = "") -> Contact:
    """The contact for an address, created (with its customer from the domain map) if new."""
    email = email.strip().lower()
    return contacts_for(organization=organization, names={email: name})[email]


def contacts_for(*, organization: Organization, names: dict[str, str]) -> dict[str, Contact]:
    """The contacts for these addresses (address -> display name), the missing ones created
    with their customer from the domain map: a fixed number of statements for any number."""
    wanted = {email.strip().lower(): name for email, name in names.items()}
    found = {c.email: c for c in Contact.objects.filter(email__in=wanted)}
    for email, contact in found.items():
        if wanted[email] and not contact.name:
            contact.name = wanted[email][:200]
            contact.save(update_fields=["name"])
    missing = [email for email in wanted if email not in found]
    if missing:
        domains = {email.rsplit("@", 1)[-1] for email in missing}
        customers = dict(
            CustomerDomain.objects.filter(domain__in=domains).values_list("domain", "customer_id")
        )
        bulk_create_checked(
            Contact,
            [
                Contact(
                    organization=organization,
                    email=email,
                    name=wanted[email][:200],
                    customer_id=customers.get(email.rsplit("@", 1)[-1]),
                )
                for email in missing
            ],
            ignore_conflicts=True,  # a concurrent message from the same new sender made it
        )
        found.update({c.email: c for c in Contact.objects.filter(email__in=missing)})
        if len(found) < len(wanted):
            # SQLite's INSERT OR IGNORE skips any failed constraint, not only the duplicate.
            raise IntegrityError(f"no contact made for {sorted(set(wanted) - set(found))}")
    return found


def contact_mark_undeliverable(*, contact: Contact, reason: str) -> bool:
    """Mail to this contact bounced for good; True when that is news."""
    updated = Contact.objects.filter(pk=contact.pk, undeliverable=False).update(
        undeliverable=True, undeliverable_reason=reason[:300]
    )
    return updated == 1


# -- tickets ---------------------------------------------------------------------------------


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


def _event(ticket, kind, *, actor_user=None, actor_contact=None, **data) -> TicketEvent:
    event = _event_row(ticket, kind, actor_user=actor_user, actor_contact=actor_contact, **data)
    event.save()
    return event


def _event_row(ticket, kind, *, actor_user=None, actor_contact=None, **data) -> TicketEvent:
    return TicketEvent(
        organization_id=ticket.organization_id,
        ticket=ticket,
        kind=kind,
        actor_user=actor_user,
        actor_contact=actor_contact,
        data=data,
    )


def _preview(text: str) -> str:
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith(">"):
            return line[:200]
    return ""


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
    events.emit(_ticket_created(ticket, actor_user, source))
    transaction.on_commit(lambda: bump_list_version(organization.pk))
    return ticket


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
    )


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


def _comment_insert(*, ticket: Ticket, uploads: Sequence[Upload], **fields) -> Comment:
    """Save a comment (`fields` as _comment_row takes them) with its attachments."""
    comment = _comment_row(ticket=ticket, **fields)
    comment.save()
    stored = [attachment_store(ticket=ticket, comment=comment, upload=upload) for upload in uploads]
    if _link_inline_images(comment, ticket, stored):
        comment.save(update_fields=["body_html"])
    return comment


def _comment_row(
    *,
    ticket,
    body_text,
    is_public,
    author_user,
    author_contact,
    channel,
    created_at,
    body_html="",
    full_text="",
    message_id="",
) -> Comment:
    return Comment(
        organization_id=ticket.organization_id,
        ticket=ticket,
        is_public=is_public,
        author_user=author_user,
        author_contact=author_contact,
        channel=channel,
        body_text=body_text or "",
        body_html=clean_html(body_html) if body_html else text_to_html(body_text),
        full_text=full_text or "",
        message_id=message_id[:255],
        created_at=created_at,
    )


_CID_SRC_RE = re.compile(r'src="cid:([^"]*)"', re.IGNORECASE)


def _link_inline_images(comment: Comment, ticket: Ticket, stored: list[Attachment]) -> bool:
    """Mail HTML shows inline images as `cid:<Content-ID>` (RFC 2392): point them at our copies.
    True when the comment's HTML changed (the caller saves it)."""
    if not stored or "cid:" not in comment.body_html:
        return False
    urls = {
        a.content_id: reverse("tickets:attachment", args=[ticket.number, a.pk])
        for a in stored
        if a.content_id
    }

    def replace(match: re.Match) -> str:
        url = urls.get(html.unescape(match.group(1)))
        return f'src="{url}"' if url else match.group(0)

    linked = _CID_SRC_RE.sub(replace, comment.body_html)
    changed = linked != comment.body_html
    comment.body_html = linked
    return changed


@transaction.atomic
def comment_create(
    *,
    ticket: Ticket,
    body_text: str,
    body_html: str = "",
    full_text: str = "",
    is_public: bool = True,
    author_user: User | None = None,
    author_contact: Contact | None = None,
    channel: str = Comment.Channel.AGENT,
    uploads: Sequence[Upload] = (),
    reopen: bool = True,
    send_now: bool = False,
    message_id: str = "",
    auto_generated: bool = False,
) -> Comment:
    """Add a public reply or an internal note; a customer's reply reopens a done ticket.

    `auto_generated` (an auto-reply threaded onto the ticket) never reopens and is never answered.
    """
    ticket = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
    now = timezone.now()
    comment = _comment_insert(
        ticket=ticket,
        body_text=body_text,
        body_html=body_html,
        full_text=full_text,
        is_public=is_public,
        author_user=author_user,
        author_contact=author_contact,
        channel=channel,
        uploads=uploads,
        created_at=now,
        message_id=message_id,
    )
    fields = _comment_ticket_fields(ticket, comment, now)
    Ticket.objects.filter(pk=ticket.pk).update(**fields)
    for name, value in fields.items():
        setattr(ticket, name, value)
    _event(
        ticket,
        TicketEvent.Kind.COMMENT,
        actor_user=author_user,
        actor_contact=author_contact,
        comment_id=comment.pk,
        public=is_public,
    )
    if _reopens(comment, reopen=reopen, auto_generated=auto_generated):
        _reopen_on_customer_reply(ticket, author_contact)
    events.emit(_comment_added(comment, send_now=send_now, auto_generated=auto_generated))
    transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
    return comment


def _comment_ticket_fields(ticket: Ticket, comment: Comment, now) -> dict:
    """What a new comment changes on its ticket."""
    fields = {"last_activity_at": now, "updated_at": now}
    if comment.is_public:
        fields["last_message_preview"] = _preview(comment.body_text)
    if comment.is_public and comment.author_user_id and ticket.first_response_at is None:
        fields["first_response_at"] = now
    return fields


def _reopens(comment: Comment, *, reopen: bool, auto_generated: bool) -> bool:
    """A customer's public reply reopens a done (or pending) ticket; an auto-reply never does."""
    by_contact = comment.author_contact_id and not comment.author_user_id
    return bool(by_contact and comment.is_public and reopen and not auto_generated)


def _comment_added(comment: Comment, *, send_now: bool, auto_generated: bool):
    return events.DomainEvent(
        events.COMMENT_ADDED,
        comment.organization_id,
        comment.ticket_id,
        comment.author_user_id,
        {
            "comment_id": comment.pk,
            "public": comment.is_public,
            "send_now": send_now,
            "by_contact": bool(comment.author_contact_id and not comment.author_user_id),
            "auto_generated": auto_generated,
        },
    )


def _reopen_on_customer_reply(ticket: Ticket, contact: Contact) -> None:
    if ticket.status_category in (*DONE_CATEGORIES, StatusCategory.PENDING):
        _set_status(ticket, default_status(StatusCategory.OPEN), actor_contact=contact)


def _set_status(ticket, status, *, actor_user=None, actor_contact=None) -> None:
    change = _status_change(ticket, status, actor_user=actor_user, actor_contact=actor_contact)
    if change is None:
        return
    event, domain_event = change
    ticket.save(update_fields=STATUS_FIELDS)
    event.save()
    events.emit(domain_event)


STATUS_FIELDS = ["status", "status_category", "updated_at", "resolved_at", "closed_at"]


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
        },
    )
    return event, domain_event


@transaction.atomic
def ticket_change_status(*, ticket: Ticket, status: Status, actor_user=None, actor_contact=None):
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("status").get(pk=ticket.pk)
    )
    _set_status(ticket, status, actor_user=actor_user, actor_contact=actor_contact)
    transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
    return ticket


@transaction.atomic
def ticket_change_priority(*, ticket: Ticket, priority: Priority, actor_user=None) -> Ticket:
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("priority").get(pk=ticket.pk)
    )
    old = ticket.priority
    if old.pk != priority.pk:
        ticket.priority = priority
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["priority", "updated_at"])
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
                {"from": old.name, "to": priority.name},
            )
        )
        transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
    return ticket


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee: User | None, actor_user=None) -> Ticket:
    ticket = (
        Ticket.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=ticket.pk)
    )
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
        transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
    return ticket


@transaction.atomic
def ticket_change_team(*, ticket: Ticket, team: Team | None, actor_user=None) -> Ticket:
    ticket = Ticket.objects.select_for_update(of=("self",)).select_related("team").get(pk=ticket.pk)
    old = ticket.team
    if (old.pk if old else None) != (team.pk if team else None):
        ticket.team = team
        ticket.updated_at = timezone.now()
        ticket.save(update_fields=["team", "updated_at"])
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
        transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
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


# -- in bulk ---------------------------------------------------------------------------------


@dataclass(eq=False)
class _Opening:
    subject: str
    source: str
    created_at: object
    requester: str
    body: dict
    uploads: Sequence[Upload]
    collaborators: list[str]
    ticket: Ticket | None = None
    comment: Comment | None = None


@dataclass(eq=False)
class _Reply:
    ticket: Ticket
    author: str
    body: dict
    uploads: Sequence[Upload]
    collaborators: list[str]
    auto_generated: bool
    comment: Comment | None = None


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
        touched = self._update_replied_tickets(statuses, event_rows, domain_events)
        self._add_collaborators(contacts, event_rows, touched)
        bulk_create_checked(TicketEvent, event_rows)
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
            )
        bulk_create_checked(Ticket, [o.ticket for o in openings])
        event_rows.extend(_created_event_row(o.ticket, None, o.source) for o in openings)

    def _create_comments(self, contacts) -> list[tuple[Comment, Ticket, Sequence[Upload]]]:
        made = []
        for item in self._items.values():
            opening = isinstance(item, _Opening)
            body = dict(item.body)
            body.setdefault("created_at", item.ticket.created_at)
            item.comment = _comment_row(
                ticket=item.ticket,
                is_public=True,
                author_user=None,
                author_contact=contacts[item.requester if opening else item.author],
                channel=_channel_of(item.source) if opening else Comment.Channel.EMAIL,
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

    def _update_replied_tickets(self, statuses, event_rows, domain_events) -> set:
        replies = self._replies
        if not replies:
            return set()
        fields: set[str] = set()
        for reply in replies:
            ticket, comment = reply.ticket, reply.comment
            changes = _comment_ticket_fields(ticket, comment, comment.created_at)
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
                change = _status_change(ticket, opened, actor_contact=comment.author_contact)
                if change is not None:
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
            is_reply = isinstance(item, _Reply)
            if is_reply and item.auto_generated:
                continue
            addresses = [item.author, *item.collaborators] if is_reply else item.collaborators
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
                if is_reply:
                    event_rows.append(
                        _event_row(
                            ticket,
                            TicketEvent.Kind.COLLABORATOR,
                            actor_contact=contacts[item.author],
                            added=contact.email,
                        )
                    )
        bulk_create_checked(Collaborator, rows, ignore_conflicts=True)


# -- attachments -----------------------------------------------------------------------------


def attachment_store(*, ticket: Ticket, comment: Comment | None, upload: Upload) -> Attachment:
    """Store the bytes content-addressed under the tenant's prefix and record them."""
    attachment = _attachment_row(ticket=ticket, comment=comment, upload=upload)
    attachment.save()
    return attachment


def _attachment_row(*, ticket: Ticket, comment: Comment | None, upload: Upload) -> Attachment:
    """Write the bytes (once per content) and return the unsaved row that records them."""
    digest = hashlib.sha256(upload.content).hexdigest()
    path = f"orgs/{ticket.organization_id}/attachments/{digest[:2]}/{digest}"
    if not default_storage.exists(path):
        stored = default_storage.save(path, ContentFile(upload.content))
    else:
        stored = path
    content_type = upload.content_type or (
        mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    )
    return Attachment(
        organization_id=ticket.organization_id,
        ticket=ticket,
        comment=comment,
        file=stored,
        filename=safe_filename(upload.filename),
        content_type=content_type[:120],
        size=len(upload.content),
        sha256=digest,
        content_id=upload.content_id[:255],
        inline=upload.inline,
    )


def safe_filename(name: str) -> str:
    """A display and download name without path parts or control characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|*?:').strip(". ")
    return name[:255] or "attachment"


# -- canned responses ------------------------------------------------------------------------


def canned_response_save(
    *, organization: Organization, name: str, body: str, canned: CannedResponse | None = None
) -> CannedResponse:
    canned = canned or CannedResponse(organization=organization)
    canned.name, canned.body = name.strip(), body
    canned.save()
    return canned


# -- customer domains ------------------------------------------------------------------------


@transaction.atomic
def customer_domain_add(
    *, organization: Organization, domain: str, customer_name: str
) -> CustomerDomain:
    """Mail from this domain is filed under the customer (created when new); contacts of the
    domain who have no customer yet join it."""
    domain = domain.strip().lower().lstrip("@")
    customer = Customer.objects.filter(name__iexact=customer_name.strip()).first()
    if customer is None:
        customer = Customer.objects.create(organization=organization, name=customer_name.strip())
    mapping = CustomerDomain.objects.create(
        organization=organization, customer=customer, domain=domain
    )
    Contact.objects.filter(email__endswith=f"@{domain}", customer__isnull=True).update(
        customer=customer
    )
    return mapping


def customer_domain_remove(*, mapping: CustomerDomain) -> None:
    """Only the mapping goes; contacts keep the customer they were given."""
    mapping.delete()
