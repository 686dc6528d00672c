"""Portal fixtures: a contact of acme (with a portal account) and a client signed in as them."""

import pytest
from django.test import Client

from portal import auth
from portal.models import PortalAccount
from tickets.services.contacts import contact_get_or_create


def make_contact(tenant, email: str, name: str = "", customer=None):
    """A contact of the tenant with a portal account (magic links only: no password)."""
    with tenant.scope():
        contact = contact_get_or_create(organization=tenant.org, email=email, name=name)
        if customer is not None:
            contact.customer = customer
            contact.save(update_fields=["customer"])
        PortalAccount.objects.get_or_create(organization=tenant.org, contact=contact)
    return contact


def portal_client(tenant, contact) -> Client:
    """A test client on the tenant's host, signed in to the portal as `contact` (the session
    auth.sign_in would write)."""
    client = Client(HTTP_HOST=f"{tenant.org.slug}.localhost")
    with tenant.scope():
        account = PortalAccount.objects.get(contact=contact)
    session = client.session
    session[auth.SESSION_KEY] = {
        "contact": contact.pk,
        "org": tenant.org.pk,
        "epoch": account.session_epoch,
    }
    session.save()
    return client


@pytest.fixture
def customer(acme):
    return make_contact(acme, "customer@acme.test", "Casey Customer")


@pytest.fixture
def customer_client(acme, customer) -> Client:
    return portal_client(acme, customer)
