"""Contacts (the people who write in) and the customers their mail domain files them under."""

from django.db import IntegrityError, transaction

from tenants.models import Organization
from tenants.scoping import bulk_create_checked
from tickets.models import Contact, ContactEmail, Customer, CustomerDomain


def contact_get_or_create(*, organization: Organization, email: str, name: str = "") -> Contact:
    """The contact for an address, created (with its customer from the domain map) if new."""
    email = email.strip().lower()
    return contacts_for(organization=organization, names={email: name})[email]


def contacts_for(*, organization: Organization, names: dict[str, str]) -> dict[str, Contact]:
    """The contacts for these addresses (address -> display name), the missing ones created
    with their customer from the domain map: a fixed number of statements for any number."""
    wanted = {email.strip().lower(): name for email, name in names.items()}
    found = {c.email: c for c in Contact.objects.filter(email__in=wanted)}
    if len(found) < len(wanted):
        # A further address of a contact is theirs too (ContactEmail); asked only when some
        # address is not a primary one.
        further = ContactEmail.objects.filter(email__in=set(wanted) - set(found))
        found.update({row.email: row.contact for row in further.select_related("contact")})
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


# -- the contacts and customers pages --------------------------------------------------------


class ContactError(ValueError):
    """A change the agent asked for that cannot be made; the message says why."""


def _address_owner(email: str) -> Contact | None:
    """The contact an address belongs to, as primary or further address."""
    contact = Contact.objects.filter(email=email).first()
    if contact is not None:
        return contact
    row = ContactEmail.objects.filter(email=email).select_related("contact").first()
    return row.contact if row else None


def _free_address(email: str, *, contact: Contact | None = None) -> str:
    email = email.strip().lower()
    owner = _address_owner(email)
    if owner is not None and (contact is None or owner.pk != contact.pk):
        raise ContactError(f"{email} already belongs to {owner.display_name}.")
    return email


@transaction.atomic
def contact_create(
    *,
    organization: Organization,
    email: str,
    name: str = "",
    customer: Customer | None = None,
    notes: str = "",
) -> Contact:
    """A new contact; its customer from the domain map unless one is given."""
    email = _free_address(email)
    if customer is None:
        mapping = CustomerDomain.objects.filter(domain=email.rsplit("@", 1)[-1]).first()
        customer = mapping.customer if mapping else None
    return Contact.objects.create(
        organization=organization, email=email, name=name[:200], customer=customer, notes=notes
    )


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    name: str,
    customer: Customer | None,
    notes: str,
    undeliverable: bool,
) -> Contact:
    """Change what an agent edits on the contact's page; clearing `undeliverable` lets mail to
    them go out again."""
    contact.name, contact.customer, contact.notes = name[:200], customer, notes
    if not undeliverable:
        contact.undeliverable, contact.undeliverable_reason = False, ""
    contact.save(
        update_fields=["name", "customer", "notes", "undeliverable", "undeliverable_reason"]
    )
    return contact


@transaction.atomic
def contact_email_add(*, contact: Contact, email: str) -> ContactEmail:
    """Mail from `email` becomes this contact's; refused when the address is someone's."""
    email = _free_address(email, contact=contact)
    if email == contact.email or contact.emails.filter(email=email).exists():
        raise ContactError(f"{email} is already one of {contact.display_name}'s addresses.")
    return ContactEmail.objects.create(
        organization_id=contact.organization_id, contact=contact, email=email
    )


def contact_email_remove(*, address: ContactEmail) -> None:
    """Mail from the address no longer finds the contact (a new one is made for it)."""
    address.delete()


@transaction.atomic
def customer_create(*, organization: Organization, name: str) -> Customer:
    return Customer.objects.create(organization=organization, name=name.strip()[:200])


def customer_update(*, customer: Customer, name: str) -> Customer:
    customer.name = name.strip()[:200]
    customer.save(update_fields=["name"])
    return customer


@transaction.atomic
def customer_domain_attach(*, customer: Customer, domain: str) -> CustomerDomain:
    """Mail from this domain is filed under the customer; its contacts without a customer join
    it. Refused when the domain is another customer's."""
    domain = domain.strip().lower().lstrip("@")
    taken = CustomerDomain.objects.filter(domain=domain).select_related("customer").first()
    if taken is not None:
        raise ContactError(f"{domain} is already filed under {taken.customer.name}.")
    mapping = CustomerDomain.objects.create(
        organization_id=customer.organization_id, customer=customer, domain=domain
    )
    Contact.objects.filter(email__endswith=f"@{domain}", customer__isnull=True).update(
        customer=customer
    )
    return mapping
