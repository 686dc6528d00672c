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
    statuses = list(Status.objects.filter(category=category).order_by("-is_default", "position"))
    if not statuses:
        raise Status.DoesNotExist(f"no status in category {category}")
    return statuses[0]


def default_priority() -> Priority:
    return Priority.objects.order_by("-is_default", "rank").first()


# -- contacts --------------------------------------------------------------------------------


def customer_for_email(email: str) -> Customer | None:
    domain = email.rsplit("@", 1)[-1].lower()
    mapping = CustomerDomain.objects.filter(domain=domain).select_related("customer").first()
    return mapping.customer if mapping else None


def contact_get_or_create(*, organization: Organization, email: str, name: str = "") -> Contact:
    """The contact for an address, created (with its customer from the domain map) if new."""
    email = email.strip().lower()
    contact = Contact.objects.filter(email=email).first()
    if contact:
        if name and not contact.name:
            contact.name = name[:200]
            contact.save(update_fields=["name"])
        return contact
    try:
        with transaction.atomic():
            return Contact.objects.create(
                organization=organization,
                email=email,
                name=name[:200],
                customer=customer_for_email(email),
            )
    except IntegrityError:
        # Two messages from a new sender at once: the other transaction created it first.
        return Contact.objects.get(email=email)


def contact_mark_undeliverable(*, contact: Contact, reason: str) -> bool:
    """Mail to this contact bounced for good; True when that is news."""
    updated = Contact.objects.filter(pk=contact.pk, undeliverable=False).update(
        undeliverable=True, undeliverable_reason=reason[:300]
    )
    return updated == 1


# -- tickets ---------------------------------------------------------------------------------


def _next_number(organization: Organization) -> int:
    # The UPDATE takes the row lock until commit, so concurrent creators queue here and each
    # gets its own number (PostgreSQL row lock; SQLite serialises writers anyway).
    Organization.objects.filter(pk=organization.pk).update(
        last_ticket_number=F("last_ticket_number") + 1
    )
    return Organization.objects.values_list("last_ticket_number", flat=True).get(pk=organization.pk)


def _event(ticket, kind, *, actor_user=None, actor_contact=None, **data) -> TicketEvent:
    return TicketEvent.objects.create(
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
    status = default_status(StatusCategory.NEW)
    ticket = Ticket.objects.create(
        organization=organization,
        number=_next_number(organization),
        subject=(subject or "").strip()[:300] or "(no subject)",
        status=status,
        status_category=status.category,
        priority=priority or default_priority(),
        team=team,
        assignee=assignee,
        requester=requester,
        customer=requester.customer,
        source=source,
        last_message_preview=_preview(body_text),
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    _event(
        ticket,
        TicketEvent.Kind.CREATED,
        actor_user=actor_user,
        actor_contact=None if actor_user else requester,
        source=source,
    )
    channel = {"email": "email", "portal": "portal", "api": "api"}.get(source, "agent")
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
    events.emit(
        events.DomainEvent(
            events.TICKET_CREATED,
            organization.pk,
            ticket.pk,
            actor_user.pk if actor_user else None,
            {"source": source, "by_contact": actor_user is None},
        )
    )
    transaction.on_commit(lambda: bump_list_version(organization.pk))
    return ticket


def _comment_insert(
    *,
    ticket,
    body_text,
    body_html,
    full_text,
    is_public,
    author_user,
    author_contact,
    channel,
    uploads,
    created_at,
    message_id="",
) -> Comment:
    comment = Comment.objects.create(
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
    stored = [attachment_store(ticket=ticket, comment=comment, upload=upload) for upload in uploads]
    if stored and "cid:" in comment.body_html:
        _link_inline_images(comment, ticket, stored)
    return comment


_CID_SRC_RE = re.compile(r'src="cid:([^"]*)"', re.IGNORECASE)


def _link_inline_images(comment: Comment, ticket: Ticket, stored: list[Attachment]) -> None:
    """Mail HTML shows inline images as `cid:<Content-ID>` (RFC 2392): point them at our copies."""
    urls = {
        a.content_id: reverse("tickets:attachment", args=[ticket.number, a.pk])
        for a in stored
        if a.content_id
    }

    def replace(match: re.Match) -> str:
        url = urls.get(html.unescape(match.group(1)))
        return f'src="{url}"' if url else match.group(0)

    linked = _CID_SRC_RE.sub(replace, comment.body_html)
    if linked != comment.body_html:
        comment.body_html = linked
        comment.save(update_fields=["body_html"])


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
    fields = {"last_activity_at": now, "updated_at": now}
    if is_public:
        fields["last_message_preview"] = _preview(body_text)
    if is_public and author_user and ticket.first_response_at is None:
        fields["first_response_at"] = now
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
    if author_contact and not author_user and is_public and reopen and not auto_generated:
        _reopen_on_customer_reply(ticket, author_contact)
    events.emit(
        events.DomainEvent(
            events.COMMENT_ADDED,
            ticket.organization_id,
            ticket.pk,
            author_user.pk if author_user else None,
            {
                "comment_id": comment.pk,
                "public": is_public,
                "send_now": send_now,
                "by_contact": bool(author_contact and not author_user),
                "auto_generated": auto_generated,
            },
        )
    )
    transaction.on_commit(lambda: bump_list_version(ticket.organization_id))
    return comment


def _reopen_on_customer_reply(ticket: Ticket, contact: Contact) -> None:
    if ticket.status_category in (*DONE_CATEGORIES, StatusCategory.PENDING):
        _set_status(ticket, default_status(StatusCategory.OPEN), actor_contact=contact)


def _set_status(ticket, status, *, actor_user=None, actor_contact=None) -> None:
    old = ticket.status
    if old.pk == status.pk:
        return
    now = timezone.now()
    ticket.status = status
    ticket.status_category = status.category
    ticket.updated_at = now
    ticket.resolved_at = (ticket.resolved_at or now) if status.category in DONE_CATEGORIES else None
    ticket.closed_at = now if status.category == StatusCategory.CLOSED else None
    ticket.save(
        update_fields=["status", "status_category", "updated_at", "resolved_at", "closed_at"]
    )
    _event(
        ticket,
        TicketEvent.Kind.STATUS,
        actor_user=actor_user,
        actor_contact=actor_contact,
        **{"from": old.name, "to": status.name, "to_category": status.category},
    )
    events.emit(
        events.DomainEvent(
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
    )


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


# -- attachments -----------------------------------------------------------------------------


def attachment_store(*, ticket: Ticket, comment: Comment | None, upload: Upload) -> Attachment:
    """Store the bytes content-addressed under the tenant's prefix and record them."""
    digest = hashlib.sha256(upload.content).hexdigest()
    path = f"orgs/{ticket.organization_id}/attachments/{digest[:2]}/{digest}"
    if not default_storage.exists(path):
        stored = default_storage.save(path, ContentFile(upload.content))
    else:
        stored = path
    content_type = upload.content_type or (
        mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    )
    return Attachment.objects.create(
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
