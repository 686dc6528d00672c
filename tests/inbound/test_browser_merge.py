"""In a real Chromium: the contacts and customers pages, and merging ticket B into A, after
which a reply to B's original mail, delivered through the inbound pipeline, lands on A."""

import shutil

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, sign_in
from tests.factories import make_ticket
from tests.inbound.mails import mail, new_message_id
from tickets.models import Comment, ContactEmail, CustomerDomain, Ticket
from tickets.services.contacts import contact_get_or_create, customer_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]

CAROL = "Carol <carol@customer.test>"


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.django_db(transaction=True)
def test_merge_then_reply_to_merged_ticket_lands_on_survivor(
    live_server,
    support,
    deliver,
    browser_page,
):
    acme, globex = support
    a_id, b_id = new_message_id(), new_message_id()
    [a] = deliver(mail(sender="Dave <dave@other.test>", subject="Invoices", message_id=a_id))
    [b] = deliver(mail(sender=CAROL, subject="Where are my invoices", message_id=b_id))
    [g] = deliver(mail(sender=CAROL, to="help@globex.test", subject="Globex secret"))
    with acme.scope():
        a_number, b_number = a.ticket.number, b.ticket.number
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())  # the merge asks to confirm
    sign_in(page, base)

    page.goto(f"{base}/agent/tickets/{b_number}/")
    page.fill("#merge-into", str(a_number))
    page.click(".merge-form button[type=submit]")
    page.wait_for_url(f"{base}/agent/tickets/{a_number}/")
    page.locator(".entry", has_text="Help, the printer is on fire.").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "ticket-merged-survivor.png"), full_page=True)
    page.goto(f"{base}/agent/tickets/{b_number}/")
    page.locator(".merged-note", has_text=f"Merged into #{a_number}").wait_for()
    page.locator(".merged-banner", has_text=f"merged into #{a_number}").wait_for()
    page.screenshot(path=str(ARTIFACTS / "ticket-merged-duplicate.png"), full_page=True)

    raw = mail(
        sender=CAROL,
        subject="Re: Where are my invoices",
        in_reply_to=b_id,
        references=[b_id],
        body="Any news on this?",
    )
    [reply] = deliver(raw)
    assert reply.ticket_id == a.ticket_id
    with acme.scope():
        bodies = list(
            Comment.objects.filter(ticket_id=a.ticket_id).values_list("body_text", flat=True)
        )
        assert Comment.objects.filter(ticket_id=b.ticket_id).count() == 0
    assert bodies[-1].startswith("Any news on this?")
    assert len(bodies) == 3
    page.goto(f"{base}/agent/tickets/{a_number}/")
    page.locator(".entry", has_text="Any news on this?").wait_for()
    assert "Globex secret" not in page.content()
    with globex.scope():
        assert Ticket.objects.get(pk=g.ticket_id).comments.count() == 1


@pytest.mark.django_db(transaction=True)
def test_contacts_and_customers_pages(live_server, acme, globex, browser_page):
    with acme.scope():
        customer = customer_create(organization=acme.org, name="Initech")
        CustomerDomain.objects.create(
            organization=acme.org, customer=customer, domain="initech.test"
        )
        for i, name in enumerate(("Bob Slydell", "Peter Gibbons", "Milton Waddams")):
            contact_get_or_create(organization=acme.org, email=f"p{i}@initech.test", name=name)
        peter = contact_get_or_create(organization=acme.org, email="p1@initech.test")
        peter.customer = customer
        peter.notes = "Works best on Saturdays.\nCall before noon."
        peter.save(update_fields=["customer", "notes"])
        ContactEmail.objects.create(organization=acme.org, contact=peter, email="peter@home.test")
        dup = contact_get_or_create(organization=acme.org, email="peter.g@gmail.test", name="")
        make_ticket(acme.org, email="p1@initech.test", subject="TPS report cover sheets")
        make_ticket(acme.org, email="peter.g@gmail.test", subject="Red stapler missing")
    with globex.scope():
        contact_get_or_create(organization=globex.org, email="spy@globex.test", name="Globex Spy")
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, base)

    page.click("#rail a:has-text('Contacts')")
    page.wait_for_url(f"{base}/agent/contacts/")
    assert page.locator("table.directory tbody tr").count() == 4
    assert "Globex Spy" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "contacts-list.png"), full_page=True)
    page.fill("form[aria-label='Search contacts'] input[name=q]", "home.test")
    page.click("form[aria-label='Search contacts'] button[type=submit]")
    page.locator("table.directory tbody tr", has_text="Peter Gibbons").wait_for()
    assert page.locator("table.directory tbody tr").count() == 1

    page.click("text=Peter Gibbons")
    page.locator("h1", has_text="Peter Gibbons").wait_for()
    page.screenshot(path=str(ARTIFACTS / "contact-page.png"), full_page=True)

    page.goto(f"{base}/agent/contacts/{dup.pk}/")
    page.fill("#id_merge_into", "peter@home.test")
    page.click("form[action$='/merge/'] button[type=submit]")
    page.wait_for_url(f"{base}/agent/contacts/{peter.pk}/")
    page.locator(".addresses li", has_text="peter.g@gmail.test").wait_for()
    page.locator("table.data tbody tr", has_text="Red stapler missing").wait_for()
    page.screenshot(path=str(ARTIFACTS / "contact-page-merged.png"), full_page=True)

    page.goto(f"{base}/agent/contacts/new/")
    page.screenshot(path=str(ARTIFACTS / "contact-new.png"), full_page=True)

    page.click("#rail a:has-text('Customers')")
    page.wait_for_url(f"{base}/agent/customers/")
    page.screenshot(path=str(ARTIFACTS / "customers-list.png"), full_page=True)
    page.click("text=Initech")
    page.locator("h1", has_text="Initech").wait_for()
    page.screenshot(path=str(ARTIFACTS / "customer-page.png"), full_page=True)
    page.goto(f"{base}/agent/customers/new/")
    page.screenshot(path=str(ARTIFACTS / "customer-new.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/agent/contacts/{peter.pk}/")
    page.screenshot(path=str(ARTIFACTS / "contact-page-phone.png"), full_page=True)
    assert _no_horizontal_scroll(page)
