"""Who sees which ticket in the portal (portal.access): the contact's own, their company's with
CompanyAccess, never another contact's, another tenant's or a merged one."""

import re

import pytest
from django.test import Client

from portal import access, auth
from portal.models import CompanyAccess
from tests.portal.conftest import make_contact, portal_client
from tickets.models import Customer
from tickets.services.merge import ticket_merge
from tickets.services.tickets import ticket_create


def _ticket(tenant, contact, subject="Printer on fire", body="Help!"):
    with tenant.scope():
        return ticket_create(
            organization=tenant.org, subject=subject, requester=contact, body_text=body
        )


def _listed(response) -> list[int]:
    assert response.status_code == 200
    return [int(n) for n in re.findall(r'href="/tickets/(\d+)/"', response.content.decode())]


@pytest.fixture
def company(acme):
    with acme.scope():
        return Customer.objects.create(organization=acme.org, name="Initech")


@pytest.fixture
def alice(acme, company):
    return make_contact(acme, "alice@initech.test", "Alice Adams", customer=company)


@pytest.fixture
def bob(acme, company):
    return make_contact(acme, "bob@initech.test", "Bob Brown", customer=company)


def _allow_company(tenant, customer):
    with tenant.scope():
        CompanyAccess.objects.create(organization=tenant.org, customer=customer)


def _numbers(tenant, contact) -> set[int]:
    with tenant.scope():
        return set(access.visible_tickets(contact).values_list("number", flat=True))


def test_own_tickets_only(acme, alice, bob):
    mine = _ticket(acme, alice)
    theirs = _ticket(acme, bob)
    assert _numbers(acme, alice) == {mine.number}
    client = portal_client(acme, alice)
    assert _listed(client.get("/tickets/")) == [mine.number]
    assert client.get(f"/tickets/{mine.number}/").status_code == 200
    assert client.get(f"/tickets/{theirs.number}/").status_code == 404
    assert client.get("/tickets/999/").status_code == 404


def test_colleague_needs_company_access(acme, alice, bob, company):
    ticket = _ticket(acme, alice, subject="Invoice 42")
    bob_client = portal_client(acme, bob)
    assert _listed(bob_client.get("/tickets/")) == []
    assert bob_client.get(f"/tickets/{ticket.number}/").status_code == 404

    _allow_company(acme, company)
    response = bob_client.get("/tickets/")
    assert _listed(response) == [ticket.number]
    assert "Asked by Alice Adams" in response.content.decode()
    page = bob_client.get(f"/tickets/{ticket.number}/").content.decode()
    assert "Invoice 42" in page
    assert "Opened" in page
    assert "by Alice Adams" in page
    # The requester's own list does not label their own tickets.
    assert "Asked by" not in portal_client(acme, alice).get("/tickets/").content.decode()


def test_company_access_covers_only_that_company(acme, alice, company):
    other_company_contact = make_contact(acme, "eve@other.test", "Eve")
    outsider = _ticket(acme, other_company_contact)
    own = _ticket(acme, alice)
    _allow_company(acme, company)
    assert _numbers(acme, alice) == {own.number}
    assert portal_client(acme, alice).get(f"/tickets/{outsider.number}/").status_code == 404


def test_contact_without_company_never_sees_companyless_tickets(acme, customer):
    """A contact with no customer must not match every ticket whose customer is empty."""
    stranger = make_contact(acme, "stranger@nowhere.test", "Stranger")
    other = _ticket(acme, stranger)
    with acme.scope():
        assert access.company_wide(customer) is False
    assert _numbers(acme, customer) == set()
    client = portal_client(acme, customer)
    assert client.get(f"/tickets/{other.number}/").status_code == 404


def test_another_tenant_sees_nothing(acme, globex):
    """A globex contact's portal session does not count on acme's host, and a globex ticket
    with acme's numbers stays out of acme's portal."""
    acme_contact = make_contact(acme, "same@person.test", "Same Person")
    globex_contact = make_contact(globex, "same@person.test", "Same Person")
    acme_ticket = _ticket(acme, acme_contact, subject="Acme question")
    globex_ticket = _ticket(globex, globex_contact, subject="Globex secret")
    assert acme_ticket.number == globex_ticket.number == 1

    # Globex's session, replayed on acme's host: signed out there.
    client = portal_client(globex, globex_contact)
    session_cookie = client.cookies["sessionid"].value
    on_acme = Client(HTTP_HOST="acme.localhost")
    on_acme.cookies["sessionid"] = session_cookie
    response = on_acme.get("/tickets/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")
    assert on_acme.get("/tickets/1/").status_code == 302

    # Signed in to acme, the same person sees acme's ticket 1 only.
    page = portal_client(acme, acme_contact).get("/tickets/1/").content.decode()
    assert "Acme question" in page
    assert "Globex secret" not in page


def test_session_of_another_tenant_forged_with_the_contact_id(acme, globex, customer):
    """A session claiming an acme contact id but minted for globex does not sign in."""
    client = Client(HTTP_HOST="acme.localhost")
    session = client.session
    session[auth.SESSION_KEY] = {"contact": customer.pk, "org": globex.org.pk, "epoch": 0}
    session.save()
    assert client.get("/tickets/").status_code == 302


def test_merged_ticket_is_not_listed_and_leads_to_its_survivor(acme, customer):
    survivor = _ticket(acme, customer, subject="Survivor")
    merged = _ticket(acme, customer, subject="Merged away")
    with acme.scope():
        ticket_merge(ticket=merged, into=survivor, actor_user=acme.agent)
        assert access.visible_tickets(customer).filter(number=merged.number).exists() is False
    client = portal_client(acme, customer)
    assert _listed(client.get("/tickets/")) == [survivor.number]
    response = client.get(f"/tickets/{merged.number}/")
    assert response.status_code == 302
    assert response["Location"] == f"/tickets/{survivor.number}/"


def test_merged_into_someone_elses_ticket_is_a_404(acme, customer):
    other = make_contact(acme, "other@x.test", "Other")
    survivor = _ticket(acme, other, subject="Not yours")
    merged = _ticket(acme, customer, subject="Yours once")
    with acme.scope():
        ticket_merge(ticket=merged, into=survivor, actor_user=acme.agent)
    client = portal_client(acme, customer)
    assert client.get(f"/tickets/{merged.number}/").status_code == 404
    assert _listed(client.get("/tickets/")) == []


def test_ticket_for_raises_404_for_others(acme, customer):
    from django.http import Http404

    other = make_contact(acme, "other@x.test", "Other")
    ticket = _ticket(acme, other)
    with acme.scope(), pytest.raises(Http404):
        access.ticket_for(customer, ticket.number)
