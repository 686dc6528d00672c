"""Reads for the contacts and customers pages: searched lists with keyset pages (a cursor on
(name, id), never OFFSET), and one contact or customer with what its page shows."""

import base64
import binascii
import json
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from tickets.models import Contact, ContactEmail, Customer, CustomerDomain, Ticket

PAGE_SIZE = 50
TICKETS_SHOWN = 50


@dataclass
class Page:
    rows: list
    next_cursor: str


def encode_cursor(name: str, pk: int) -> str:
    raw = json.dumps([name, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(after: str) -> tuple[str, int] | None:
    """(name, id) from a cursor, or None for anything else (a bad link shows the first page)."""
    try:
        value = json.loads(base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    ):
        return value[0], value[1]
    return None


def _keyset(qs: QuerySet, after: str) -> Page:
    cursor = decode_cursor(after) if after else None
    if cursor is not None:
        name, pk = cursor
        # The redundant bound makes it an index range scan on (organization, name, id).
        qs = qs.filter(name__gte=name).filter(Q(name__gt=name) | Q(name=name, pk__gt=pk))
    rows = list(qs.order_by("name", "pk")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    last = rows[PAGE_SIZE - 1] if more else None
    return Page(rows[:PAGE_SIZE], encode_cursor(last.name, last.pk) if last else "")


def _count_of(model, field: str) -> Coalesce:
    counted = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def contact_page(q: str, after: str) -> Page:
    """Contacts by name, searched in names, addresses (further ones too) and domains."""
    qs = Contact.objects.select_related("customer").annotate(
        ticket_count=_count_of(Ticket, "requester")
    )
    q = q.strip().lstrip("@")
    if q:
        further = ContactEmail.objects.filter(email__icontains=q).values("contact_id")
        qs = qs.filter(Q(name__icontains=q) | Q(email__icontains=q) | Q(pk__in=further))
    return _keyset(qs, after)


def customer_page(q: str, after: str) -> Page:
    """Customers by name, searched in names and domains; each with its domains and counts."""
    qs = Customer.objects.prefetch_related("domains").annotate(
        contact_count=_count_of(Contact, "customer"), ticket_count=_count_of(Ticket, "customer")
    )
    q = q.strip().lstrip("@")
    if q:
        domains = CustomerDomain.objects.filter(domain__icontains=q).values("customer_id")
        qs = qs.filter(Q(name__icontains=q) | Q(pk__in=domains))
    return _keyset(qs, after)


def contact_detail(pk: int) -> Contact:
    return Contact.objects.select_related("customer", "user").prefetch_related("emails").get(pk=pk)


def contact_tickets(contact: Contact) -> list[Ticket]:
    """The tickets the contact asked for, latest first."""
    return list(
        Ticket.objects.filter(requester=contact)
        .select_related("status", "assignee")
        .order_by("-created_at", "-pk")[:TICKETS_SHOWN]
    )


def customer_detail(pk: int) -> Customer:
    return Customer.objects.prefetch_related("domains").get(pk=pk)


def customer_contacts(customer: Customer) -> list[Contact]:
    return list(Contact.objects.filter(customer=customer).order_by("name", "pk")[:PAGE_SIZE])


def customer_tickets(customer: Customer) -> list[Ticket]:
    return list(
        Ticket.objects.filter(customer=customer)
        .select_related("status", "requester", "assignee")
        .order_by("-created_at", "-pk")[:TICKETS_SHOWN]
    )
