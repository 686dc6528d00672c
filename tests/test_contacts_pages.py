"""The contacts and customers pages, ticket merge and split from the workspace: two tenants,
bad input, keyset pages and fixed query counts."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_ticket
from tickets import contact_selectors
from tickets.models import Comment, Contact, ContactEmail, Customer, CustomerDomain, Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create, customer_create


@pytest.fixture
def agent_client(acme):
    return acme.client(acme.agent)


def _queries(client, url) -> int:
    cache.clear()  # rail counts are cached; measure every page cold
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _contacts(org, start, n, customer=None):
    for i in range(start, start + n):
        contact = contact_get_or_create(organization=org, email=f"p{i:03}@x.test", name=f"P{i:03}")
        if customer:
            contact.customer = customer
            contact.save(update_fields=["customer"])
        make_ticket(org, email=contact.email)


def test_contact_list_query_count_is_fixed(acme, agent_client):
    with acme.scope():
        customer = customer_create(organization=acme.org, name="Initech")
        _contacts(acme.org, 0, 1, customer)
    one = _queries(agent_client, "/agent/contacts/")
    with acme.scope():
        _contacts(acme.org, 1, 49, customer)
    fifty = _queries(agent_client, "/agent/contacts/")
    assert one == fifty
    assert agent_client.get("/agent/contacts/").content.decode().count('class="addr"') == 50


def test_customer_list_query_count_is_fixed(acme, agent_client):
    def make(i):
        customer = customer_create(organization=acme.org, name=f"C{i:03}")
        CustomerDomain.objects.create(organization=acme.org, customer=customer, domain=f"c{i}.test")

    with acme.scope():
        make(0)
    one = _queries(agent_client, "/agent/customers/")
    with acme.scope():
        for i in range(1, 50):
            make(i)
    assert _queries(agent_client, "/agent/customers/") == one


def test_contact_list_keyset_pages_and_search(acme, globex, agent_client):
    with acme.scope():
        _contacts(acme.org, 0, 52)
        carol = contact_get_or_create(organization=acme.org, email="carol@work.test", name="Zed")
        ContactEmail.objects.create(organization=acme.org, contact=carol, email="cz@home.test")
    with globex.scope():
        contact_get_or_create(organization=globex.org, email="secret@globex.test", name="Spy")
    with acme.scope():
        first = contact_selectors.contact_page("", "")
        second = contact_selectors.contact_page("", first.next_cursor)
    assert [c.name for c in first.rows][:2] == ["P000", "P001"]
    assert [c.name for c in second.rows] == ["P050", "P051", "Zed"]
    assert second.next_cursor == ""
    body = agent_client.get(f"/agent/contacts/?after={first.next_cursor}").content.decode()
    assert "P050" in body
    assert "P049" not in body
    assert "Zed" in agent_client.get("/agent/contacts/?q=home.test").content.decode()
    assert "Spy" not in agent_client.get("/agent/contacts/?q=globex").content.decode()
    # A cursor that is not one of ours shows the first page.
    assert "P000" in agent_client.get("/agent/contacts/?after=%%%garbage").content.decode()


def test_contact_page_shows_tickets_addresses_notes_and_other_tenant_is_404(
    acme, globex, agent_client
):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Lost invoice", email="carol@work.test")
        carol = ticket.requester
        carol.notes = "Prefers phone calls."
        carol.save(update_fields=["notes"])
        ContactEmail.objects.create(organization=acme.org, contact=carol, email="c@home.test")
    with globex.scope():
        other = contact_get_or_create(organization=globex.org, email="x@globex.test")
    body = agent_client.get(f"/agent/contacts/{carol.pk}/").content.decode()
    for text in ("Lost invoice", "c@home.test", "Prefers phone calls.", "Deliverable"):
        assert text in body
    assert agent_client.get(f"/agent/contacts/{other.pk}/").status_code == 404
    assert agent_client.post(f"/agent/contacts/{other.pk}/edit/", {"name": "x"}).status_code == 404


def test_contact_create_and_edit(acme, agent_client):
    response = agent_client.post("/agent/contacts/new/", {"email": "New@Person.test", "name": "Nu"})
    with acme.scope():
        contact = Contact.objects.get()
    assert response["Location"] == f"/agent/contacts/{contact.pk}/"
    assert (contact.email, contact.name) == ("new@person.test", "Nu")
    with acme.scope():
        customer = customer_create(organization=acme.org, name="Initech")
        contact.undeliverable, contact.undeliverable_reason = True, "550 no such user"
        contact.save(update_fields=["undeliverable", "undeliverable_reason"])
    agent_client.post(
        f"/agent/contacts/{contact.pk}/edit/",
        {"name": "Nu Person", "customer": customer.pk, "notes": "VIP", "undeliverable": ""},
    )
    with acme.scope():
        contact.refresh_from_db()
    assert (contact.name, contact.customer_id, contact.notes) == ("Nu Person", customer.pk, "VIP")
    assert (contact.undeliverable, contact.undeliverable_reason) == (False, "")


def test_contact_bad_input_says_why(acme, globex, agent_client):
    with acme.scope():
        contact_get_or_create(organization=acme.org, email="taken@x.test")
    response = agent_client.post("/agent/contacts/new/", {"email": "not an address"})
    assert response.status_code == 400
    assert "Enter a valid address." in response.content.decode()
    response = agent_client.post("/agent/contacts/new/", {"email": "taken@x.test"})
    assert response.status_code == 400
    assert "taken@x.test already belongs to taken@x.test." in response.content.decode()
    with globex.scope():
        their = customer_create(organization=globex.org, name="Globex Co")
    response = agent_client.post(
        "/agent/contacts/new/", {"email": "a@b.test", "customer": their.pk}
    )
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()


def test_contact_address_add_and_remove(acme, globex, agent_client):
    with acme.scope():
        carol = contact_get_or_create(organization=acme.org, email="carol@work.test")
        dave = contact_get_or_create(organization=acme.org, email="dave@work.test")
    agent_client.post(f"/agent/contacts/{carol.pk}/addresses/", {"email": "Carol@Home.test"})
    response = agent_client.post(
        f"/agent/contacts/{carol.pk}/addresses/", {"email": "dave@work.test"}, follow=True
    )
    assert "dave@work.test already belongs to dave@work.test." in response.content.decode()
    with acme.scope():
        assert list(carol.emails.values_list("email", flat=True)) == ["carol@home.test"]
        address = carol.emails.get()
    # Another contact's address id in this contact's URL is a 404.
    url = f"/agent/contacts/{dave.pk}/addresses/{address.pk}/remove/"
    assert agent_client.post(url).status_code == 404
    agent_client.post(f"/agent/contacts/{carol.pk}/addresses/{address.pk}/remove/")
    with acme.scope():
        assert ContactEmail.objects.count() == 0


def test_contact_merge_view(acme, globex, agent_client):
    with acme.scope():
        keep = make_ticket(acme.org, email="carol@work.test").requester
        dup = make_ticket(acme.org, email="carol@home.test").requester
        again = contact_get_or_create(organization=acme.org, email="c3@home.test")
    with globex.scope():
        theirs = contact_get_or_create(organization=globex.org, email="carol@globex.test")
    response = agent_client.post(f"/agent/contacts/{dup.pk}/merge/", {"into": "carol@work.test"})
    assert response["Location"] == f"/agent/contacts/{keep.pk}/"
    with acme.scope():
        assert sorted(Ticket.objects.values_list("requester_id", flat=True)) == [keep.pk] * 2
        assert not Contact.objects.filter(pk=dup.pk).exists()
    # itself, and another tenant's contact: 404, nothing changes
    assert (
        agent_client.post(f"/agent/contacts/{again.pk}/merge/", {"into": again.pk}).status_code
        == 404
    )
    url = f"/agent/contacts/{again.pk}/merge/"
    assert agent_client.post(url, {"into": theirs.pk}).status_code == 404
    response = agent_client.post(url, {"into": "carol@globex.test"}, follow=True)
    assert "No contact has the address carol@globex.test." in response.content.decode()
    with acme.scope():
        assert Contact.objects.filter(pk=again.pk).exists()


def test_customer_pages(acme, globex, agent_client):
    response = agent_client.post("/agent/customers/new/", {"name": "Initech"})
    with acme.scope():
        customer = Customer.objects.get()
        contact = contact_get_or_create(organization=acme.org, email="bob@initech.test")
        make_ticket(acme.org, email="bob@initech.test", subject="TPS reports")
    assert response["Location"] == f"/agent/customers/{customer.pk}/"
    agent_client.post(f"/agent/customers/{customer.pk}/domains/", {"domain": "@Initech.test"})
    with acme.scope():
        contact.refresh_from_db()
        assert contact.customer_id == customer.pk
    bad = agent_client.post(
        f"/agent/customers/{customer.pk}/domains/", {"domain": "not a domain"}, follow=True
    )
    assert "Enter a domain such as example.com." in bad.content.decode()
    body = agent_client.get(f"/agent/customers/{customer.pk}/").content.decode()
    assert "initech.test" in body
    assert "bob@initech.test" in body
    assert agent_client.post("/agent/customers/new/", {"name": ""}).status_code == 400
    with globex.scope():
        theirs = customer_create(organization=globex.org, name="Globex Co")
    assert agent_client.get(f"/agent/customers/{theirs.pk}/").status_code == 404
    url = f"/agent/customers/{theirs.pk}/domains/"
    assert agent_client.post(url, {"domain": "x.test"}).status_code == 404


def test_ticket_merge_and_split_views(acme, globex, agent_client):
    with acme.scope():
        a = make_ticket(acme.org, subject="A")
        b = make_ticket(acme.org, subject="B")
        second = comment_create(
            ticket=a, body_text="another question", is_public=True, author_user=acme.agent
        )
    with globex.scope():
        theirs = make_ticket(globex.org, subject="G")
    # another tenant's number reads as no ticket; bad input says what to type
    response = agent_client.post(f"/agent/tickets/{b.number}/merge/", {"into": "abc"}, follow=True)
    assert "Enter a ticket number, such as 42." in response.content.decode()
    response = agent_client.post(
        f"/agent/tickets/{b.number}/merge/", {"into": theirs.number + 10}, follow=True
    )
    assert f"There is no ticket #{theirs.number + 10}." in response.content.decode()
    response = agent_client.post(f"/agent/tickets/{b.number}/merge/", {"into": a.number})
    assert response["Location"] == f"/agent/tickets/{a.number}/"
    with acme.scope():
        assert Comment.objects.filter(ticket=b).count() == 0
    body = agent_client.get(f"/agent/tickets/{b.number}/").content.decode()
    assert f'Merged into <a href="/agent/tickets/{a.number}/">#{a.number}</a>' in body
    response = agent_client.post(f"/agent/tickets/{a.number}/comments/{second.pk}/split/")
    with acme.scope():
        new = Ticket.objects.get(number=3)
        assert list(new.comments.values_list("pk", flat=True)) == [second.pk]
    assert response["Location"] == f"/agent/tickets/{new.number}/"
    # a comment of another ticket in the URL is a 404
    url = f"/agent/tickets/{a.number}/comments/{second.pk}/split/"
    assert agent_client.post(url).status_code == 404
