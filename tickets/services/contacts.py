"""Contacts (the people who write in) and the customers their mail domain files them under."""

from django.db import IntegrityError, transaction

from tenants.models import Organization
from tenants.scoping import bulk_create_checked
from tickets.models import Contact, Customer, CustomerDomain


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
