"""Which tickets a contact may see in the portal: the one place for the rule every portal page
(list, ticket, attachments, exports) asks.

A contact sees the tickets they requested; when their customer (company) has a CompanyAccess
row, every ticket of that customer too. Merged tickets (`merged_into` set) are never listed or
opened: their conversation lives on in the survivor. Anything else is a 404, never a 403, so
a number that exists tells nobody anything."""

from django.db.models import Q, QuerySet
from django.http import Http404

from portal.models import CompanyAccess
from tickets.models import Contact, Ticket


def company_wide(contact: Contact) -> bool:
    """The contact sees their whole company's tickets (the admin allowed it for the customer)."""
    if contact.customer_id is None:
        return False
    return CompanyAccess.objects.filter(customer_id=contact.customer_id).exists()


def _allowed(contact: Contact, company: bool | None) -> Q:
    allowed = Q(requester_id=contact.pk)
    if company if company is not None else company_wide(contact):
        allowed |= Q(customer_id=contact.customer_id)
    return allowed


def visible_tickets(contact: Contact, *, company: bool | None = None) -> QuerySet[Ticket]:
    """The tickets the contact may see, merged ones left out. `company` is company_wide(contact)
    when the caller already asked it (one query fewer)."""
    return Ticket.objects.filter(_allowed(contact, company), merged_into__isnull=True)


def ticket_for(contact: Contact, number: int, *, company: bool | None = None) -> Ticket:
    """The visible ticket with this number (its status and requester loaded), else Http404."""
    found = (
        visible_tickets(contact, company=company)
        .select_related("status", "requester")
        .filter(number=number)
        .first()
    )
    if found is None:
        raise Http404("No such ticket.")
    return found


def merged_survivor(contact: Contact, number: int) -> Ticket | None:
    """The ticket a merged ticket the contact could see now lives in, when they may see that
    one too (an old link in a mail still leads somewhere); None otherwise."""
    company = company_wide(contact)
    allowed = _allowed(contact, company)
    into = (
        Ticket.objects.filter(allowed, number=number, merged_into__isnull=False)
        .values_list("merged_into__number", flat=True)
        .first()
    )
    if into is None:
        return None
    return visible_tickets(contact, company=company).filter(number=into).first()
