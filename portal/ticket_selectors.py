"""Reads of the portal's ticket pages: a contact's list (filters, search, keyset pages) and a
ticket's public conversation, each in a fixed number of queries.

Nothing here reads what only agents see. The list's order, time and preview come from the
latest PUBLIC comment, never from Ticket.last_activity_at or last_message_preview: an internal
note moves those (and an agent's internal first message sets the preview), so a customer
would learn that something happened, or read it."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import DateTimeField, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone

from portal import access
from portal.models import PortalSettings
from tickets import contributions
from tickets.models import DONE_CATEGORIES, UNRESOLVED_CATEGORIES, Attachment, Comment, Contact

PAGE_SIZE = 20
# Enough of a message for its first real line; bodies can be 100,000 characters long.
PREVIEW_SOURCE = 1000
PREVIEW_LENGTH = 160
# Ticket numbers are PositiveIntegerFields: a longer run of digits is searched as text only.
MAX_NUMBER_DIGITS = 9

STATES = {"all": (), "open": UNRESOLVED_CATEGORIES, "closed": DONE_CATEGORIES}


@dataclass(frozen=True)
class ListFilters:
    state: str = "all"  # all | open | closed
    q: str = ""
    after: str = ""


@dataclass(frozen=True)
class TicketRow:
    number: int
    subject: str
    label: str  # the status as customers read it (PortalSettings.label_for)
    category: str
    activity_at: datetime  # the latest public message (or the ticket's creation)
    preview: str
    requester: str  # a colleague's name on a company ticket; "" on the contact's own


@dataclass(frozen=True)
class TicketListPage:
    rows: list[TicketRow]
    next_cursor: str
    company_wide: bool


def _public_comments():
    return Comment.objects.filter(ticket_id=OuterRef("pk"), is_public=True).order_by(
        "-created_at", "-id"
    )


def _with_public_activity(qs: QuerySet) -> QuerySet:
    latest = _public_comments()
    return qs.annotate(
        public_activity_at=Coalesce(
            Subquery(latest.values("created_at")[:1], output_field=DateTimeField()),
            F("created_at"),
        ),
        public_text=Subquery(
            latest.annotate(head=Substr("body_text", 1, PREVIEW_SOURCE)).values("head")[:1]
        ),
    )


def _search_q(q: str) -> Q:
    # Full-text search (the search app) when registered, over public text only: a customer
    # never finds a ticket by the words of an internal note.
    matched = contributions.text_search_q(q, public_only=True)
    if matched is not None:
        return matched
    text = q.strip()
    digits = text.removeprefix("#").strip()
    found = Q(subject__icontains=text)
    if digits.isdigit() and len(digits) <= MAX_NUMBER_DIGITS:
        found |= Q(number=int(digits))
    return found


def parse_cursor(after: str) -> tuple[datetime, int] | None:
    """`<ISO time>_<pk>` as _cursor_of writes it; None for anything else."""
    value, _, pk = (after or "").rpartition("_")
    if not pk.isdigit() or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)), int(pk)


def _cursor_of(ticket) -> str:
    return f"{ticket.public_activity_at.isoformat()}_{ticket.pk}"


def ticket_list_page(
    contact: Contact, filters: ListFilters, labels: PortalSettings
) -> TicketListPage:
    """One page of the tickets the contact may see, latest public message first."""
    company = access.company_wide(contact)
    qs = _with_public_activity(access.visible_tickets(contact, company=company))
    categories = STATES.get(filters.state, ())
    if categories:
        qs = qs.filter(status_category__in=categories)
    if filters.q.strip():
        qs = qs.filter(_search_q(filters.q))
    cursor = parse_cursor(filters.after) if filters.after else None
    if cursor is not None:
        moment, pk = cursor
        qs = qs.filter(Q(public_activity_at__lt=moment) | Q(public_activity_at=moment, pk__lt=pk))
    tickets = list(
        qs.select_related("requester").order_by("-public_activity_at", "-pk")[: PAGE_SIZE + 1]
    )
    next_cursor = _cursor_of(tickets[PAGE_SIZE - 1]) if len(tickets) > PAGE_SIZE else ""
    rows = [_row(t, contact, labels) for t in tickets[:PAGE_SIZE]]
    return TicketListPage(rows=rows, next_cursor=next_cursor, company_wide=company)


def _row(ticket, contact: Contact, labels: PortalSettings) -> TicketRow:
    return TicketRow(
        number=ticket.number,
        subject=ticket.subject,
        label=labels.label_for(ticket.status_category),
        category=ticket.status_category,
        activity_at=ticket.public_activity_at,
        preview=preview_of(ticket.public_text or ""),
        requester="" if ticket.requester_id == contact.pk else ticket.requester.display_name,
    )


def preview_of(text: str) -> str:
    """The first line of a message that is not quoted history, shortened."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(">"):
            return line if len(line) <= PREVIEW_LENGTH else line[: PREVIEW_LENGTH - 1] + "…"
    return ""


def public_conversation(ticket) -> list[Comment]:
    """The ticket's public comments, oldest first, with their authors and attachments (every
    attachment of a public comment is public; internal ones are never read)."""
    return list(
        Comment.objects.filter(ticket_id=ticket.pk, is_public=True)
        .select_related("author_user", "author_contact")
        .prefetch_related(Prefetch("attachments", queryset=Attachment.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def public_attachment(ticket, pk: int) -> Attachment | None:
    """An attachment of one of the ticket's public comments, or None."""
    return Attachment.objects.filter(
        pk=pk, ticket_id=ticket.pk, comment__is_public=True, comment__ticket_id=ticket.pk
    ).first()
