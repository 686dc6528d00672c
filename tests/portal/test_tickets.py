"""The portal's ticket pages read by a contact: the list (order, labels, filters, search, keyset
pages, previews that never come from an internal note), a ticket's public conversation, its
attachments, an agent's read-only preview, and fixed query counts for 1 and 50 rows."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal import auth
from portal.models import CompanyAccess, PortalSettings
from portal.selectors import portal_settings
from portal.ticket_selectors import PAGE_SIZE
from tests.portal.conftest import make_contact, portal_client
from tickets.models import Attachment, Comment, Customer, Status, Ticket
from tickets.services.attachments import Upload
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_change_status, ticket_create

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def _ticket(tenant, contact, subject="Printer on fire", body="Help!", **kwargs) -> Ticket:
    with tenant.scope():
        return ticket_create(
            organization=tenant.org, subject=subject, requester=contact, body_text=body, **kwargs
        )


def _comment(tenant, ticket, body, *, public=True, user=None, **kwargs) -> Comment:
    with tenant.scope():
        author = {"author_user": user} if user is not None else {}
        return comment_create(ticket=ticket, body_text=body, is_public=public, **author, **kwargs)


def _html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def _listed(response) -> list[int]:
    return [int(n) for n in re.findall(r'href="/tickets/(\d+)/"', _html(response))]


def _set_status(tenant, ticket, name):
    with tenant.scope():
        ticket_change_status(ticket=ticket, status=Status.objects.get(name=name))


# -- the list ----------------------------------------------------------------------------------


def test_list_newest_public_activity_first_with_portal_labels(acme, customer, customer_client):
    first = _ticket(acme, customer, subject="First")
    second = _ticket(acme, customer, subject="Second")
    _comment(acme, first, "We are looking into it.", user=acme.agent)  # first moves up
    _set_status(acme, second, "Pending")
    with acme.scope():
        labels = portal_settings(acme.org)
        labels.label_pending = "Waiting for your answer"
        labels.save(update_fields=["label_pending"])
    response = customer_client.get("/tickets/")
    assert _listed(response) == [first.number, second.number]
    html = _html(response)
    rows = re.findall(r'<span class="chip chip-(\w+)">([^<]+)</span>', html)
    assert rows == [("new", "Received"), ("pending", "Waiting for your answer")]
    assert "We are looking into it." in html
    assert "Pending" not in re.sub(r"Waiting for your answer", "", html.split("<main")[1])


def test_internal_notes_never_reach_the_list(acme, customer, customer_client):
    """An internal note neither shows as the preview nor moves the ticket up."""
    older = _ticket(acme, customer, subject="Older", body="My original question")
    newer = _ticket(acme, customer, subject="Newer", body="Second question")
    _comment(acme, older, "SECRET: refund denied, do not tell", public=False, user=acme.agent)
    with acme.scope():
        # An automation's note: no author at all.
        comment_create(ticket=older, body_text="AUTOMATION NOTE", is_public=False, channel="system")
    html = _html(customer_client.get("/tickets/"))
    assert "SECRET" not in html
    assert "AUTOMATION NOTE" not in html
    assert "My original question" in html
    assert _listed(customer_client.get("/tickets/")) == [newer.number, older.number]


def test_an_internal_first_message_is_not_previewed(acme, customer, customer_client):
    """An agent opening a ticket with an internal note sets Ticket.last_message_preview from
    it: the portal never reads that column."""
    ticket = _ticket(
        acme,
        customer,
        subject="Opened by us",
        body="INTERNAL FIRST",
        actor_user=acme.agent,
        is_public=False,
    )
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).last_message_preview == "INTERNAL FIRST"
    html = _html(customer_client.get("/tickets/"))
    assert "Opened by us" in html
    assert "INTERNAL FIRST" not in html
    page = _html(customer_client.get(f"/tickets/{ticket.number}/"))
    assert "INTERNAL FIRST" not in page
    assert "No messages yet." in page


def test_list_preview_skips_quoted_lines(acme, customer, customer_client):
    _ticket(acme, customer, body="> On Monday you wrote:\n> old stuff\n\nThe real answer")
    html = _html(customer_client.get("/tickets/"))
    assert "The real answer" in html
    assert "old stuff" not in html


def test_filter_open_closed_all(acme, customer, customer_client):
    new = _ticket(acme, customer, subject="new one")
    pending = _ticket(acme, customer, subject="pending one")
    resolved = _ticket(acme, customer, subject="resolved one")
    closed = _ticket(acme, customer, subject="closed one")
    _set_status(acme, pending, "Pending")
    _set_status(acme, resolved, "Resolved")
    _set_status(acme, closed, "Closed")
    by_state = {
        state: sorted(_listed(customer_client.get(f"/tickets/?state={state}")))
        for state in ("open", "closed", "all")
    }
    assert by_state == {
        "open": [new.number, pending.number],
        "closed": [resolved.number, closed.number],
        "all": [new.number, pending.number, resolved.number, closed.number],
    }
    assert sorted(_listed(customer_client.get("/tickets/"))) == by_state["all"]
    html = _html(customer_client.get("/tickets/?state=closed"))
    assert re.search(r'state=closed"\s+aria-current="page"', html)


def test_search_by_subject_or_number(acme, customer, customer_client):
    invoice = _ticket(acme, customer, subject="Invoice is wrong")
    other = _ticket(acme, customer, subject="Login broken")
    assert _listed(customer_client.get("/tickets/?q=INVOICE")) == [invoice.number]
    assert _listed(customer_client.get(f"/tickets/?q=%23{other.number}")) == [other.number]
    assert _listed(customer_client.get(f"/tickets/?q={other.number}")) == [other.number]
    html = _html(customer_client.get("/tickets/?q=nothing-like-this"))
    assert "No tickets match." in html
    # Search and filter together; the tabs keep the search.
    _set_status(acme, invoice, "Resolved")
    assert _listed(customer_client.get("/tickets/?q=invoice&state=open")) == []
    html = _html(customer_client.get("/tickets/?q=invoice&state=closed"))
    assert 'href="/tickets/?state=open&amp;q=invoice"' in html


def test_list_ignores_garbage(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    for query in (
        "state=evil",
        "after=zzz_1",
        "after=2030-99-99T00:00_5",
        "q=" + "x" * 500,  # longer than the field: dropped
        "after=" + "1" * 200,
    ):
        assert _listed(customer_client.get(f"/tickets/?{query}")) == [ticket.number], query
    # A number too long for the column is searched as text only (no overflow, no 500).
    assert _listed(customer_client.get("/tickets/?q=" + "9" * 40)) == []


def test_empty_list_says_how_to_start(acme, customer_client):
    html = _html(customer_client.get("/tickets/"))
    assert "You have no tickets yet." in html


def test_keyset_pages_cover_every_ticket_once(acme, customer, customer_client):
    total = PAGE_SIZE * 2 + 5
    start = timezone.now() - timedelta(days=1)
    for i in range(total):
        # Two tickets per instant: the cursor's id breaks the ties.
        _ticket(acme, customer, subject=f"t{i}", created_at=start + timedelta(minutes=i // 2))
    seen, url, pages = [], "/tickets/", 0
    while url:
        response = customer_client.get(url)
        seen += _listed(response)
        pages += 1
        older = re.search(r'class="next" rel="next" href="([^"]+)"', _html(response))
        url = older.group(1).replace("&amp;", "&") if older else None
        assert older is None or "Older tickets" in _html(response)
    assert (pages, seen) == (3, list(range(total, 0, -1)))


def test_keyset_keeps_the_filter(acme, customer, customer_client):
    for i in range(PAGE_SIZE + 1):
        _ticket(acme, customer, subject=f"open {i}")
    html = _html(customer_client.get("/tickets/?state=open"))
    older = re.search(r'class="next" rel="next" href="([^"]+)"', html).group(1)
    assert older.startswith("/tickets/?state=open&amp;after=")
    assert _listed(customer_client.get(older.replace("&amp;", "&"))) == [1]


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_is_constant(acme):
    """Measured with company-wide access: colleagues' tickets, each labelled with its
    requester, cost no query of their own."""
    with acme.scope():
        company = Customer.objects.create(organization=acme.org, name="Initech")
        CompanyAccess.objects.create(organization=acme.org, customer=company)
    alice = make_contact(acme, "alice@initech.test", "Alice", customer=company)
    client = portal_client(acme, alice)
    _ticket(acme, alice)
    client.get("/tickets/")  # the portal settings row is made on first use
    one = _queries(client, "/tickets/")
    for i in range(49):
        colleague = make_contact(acme, f"c{i}@initech.test", f"Colleague {i}", customer=company)
        ticket = _ticket(acme, colleague if i % 2 else alice, subject=f"t{i}")
        _comment(acme, ticket, f"reply {i}", user=acme.agent)
    html = _html(client.get("/tickets/?state=all"))
    assert len(re.findall(r'class="portal-ticket-row"', html)) == PAGE_SIZE
    assert "Asked by Colleague 47" in html
    many = _queries(client, "/tickets/")
    assert (one, many) == (one, one)
    assert one <= 10


# -- one ticket --------------------------------------------------------------------------------


def test_ticket_page_shows_the_public_conversation_only(acme, customer, customer_client):
    ticket = _ticket(acme, customer, subject="Broken printer", body="It smokes.")
    _comment(acme, ticket, "Did you unplug it?", user=acme.agent)
    _comment(acme, ticket, "SECRET NOTE about this customer", public=False, user=acme.agent)
    with acme.scope():
        comment_create(ticket=ticket, body_text="RULE NOTE", is_public=False, channel="system")
        comment_create(
            ticket=ticket,
            body_text="see the internal file",
            is_public=False,
            author_user=acme.agent,
            uploads=[Upload("internal-only.txt", b"secret", "text/plain")],
        )
    _comment(acme, ticket, "Yes, still smoking.", author_contact=customer, channel="portal")
    html = _html(customer_client.get(f"/tickets/{ticket.number}/"))
    assert "SECRET NOTE" not in html
    assert "RULE NOTE" not in html
    assert "internal-only.txt" not in html
    assert "see the internal file" not in html
    messages = re.findall(
        r'<li class="portal-message[^"]*" id="comment-\d+">\s*<header class="portal-message-head">'
        r"\s*<strong>([^<]+)</strong>.*?<div class=\"portal-message-body\">(.*?)</div>",
        html,
        re.S,
    )
    assert [(author, re.sub(r"<[^>]+>", "", body).strip()) for author, body in messages] == [
        ("You", "It smokes."),
        ("Acme Agent", "Did you unplug it?"),
        ("You", "Yes, still smoking."),
    ]
    assert "Broken printer" in html
    assert f"#{ticket.number}" in html
    assert '<span class="chip chip-new" id="ticket-status">Received</span>' in html
    assert f'datetime="{ticket.created_at.isoformat()[:19]}' in html


def test_ticket_page_body_is_the_sanitised_html(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    with acme.scope():
        comment_create(
            ticket=ticket,
            body_text="formatted",
            body_html=(
                '<p onclick="alert(1)">Hello <b>bold</b><script>alert(2)</script>'
                '<img src="https://tracker.example/pixel.gif" alt="pixel"></p>'
            ),
            author_contact=customer,
            channel="email",
        )
        comment_create(
            ticket=ticket, body_text="<script>alert(3)</script> plain", author_contact=customer
        )
    html = _html(customer_client.get(f"/tickets/{ticket.number}/"))
    assert "<b>bold</b>" in html
    assert "alert(1)" not in html
    assert "alert(2)" not in html
    assert "<script>alert(3)" not in html
    assert "&lt;script&gt;alert(3)" in html
    assert (
        "tracker.example/pixel.gif"
        not in html.replace('data-blocked-src="', "").split("image-blocked")[0]
    )
    assert re.search(r'<span class="image-blocked"[^>]*>Image blocked: pixel</span>', html)


def test_inline_image_goes_through_the_portal(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    with acme.scope():
        comment = comment_create(
            ticket=ticket,
            body_text="screenshot",
            body_html='<p>See <img src="cid:shot@x" alt="shot"></p>',
            author_contact=customer,
            channel="email",
            uploads=[Upload("shot.png", PNG, "image/png", content_id="shot@x", inline=True)],
        )
        attachment = comment.attachments.get()
    html = _html(customer_client.get(f"/tickets/{ticket.number}/"))
    portal_url = f"/tickets/{ticket.number}/attachments/{attachment.pk}/"
    assert f'<img src="{portal_url}" alt="shot">' in html
    assert "/agent/" not in html.split('<main id="main"')[1].split("</main>")[0]
    assert customer_client.get(portal_url)["Content-Type"] == "image/png"


def test_ticket_page_lists_public_attachments(acme, customer, customer_client):
    ticket = _ticket(
        acme, customer, uploads=[Upload("report.pdf", b"%PDF-1.4 data", "application/pdf")]
    )
    with acme.scope():
        attachment = Attachment.objects.get(ticket=ticket)
    html = _html(customer_client.get(f"/tickets/{ticket.number}/"))
    link = re.search(
        rf'<a class="chip-file" href="/tickets/{ticket.number}/attachments/{attachment.pk}/">'
        r"report.pdf <span class=\"muted\">([^<]+)</span></a>",
        html,
    )
    assert link is not None
    assert link.group(1) == "13\xa0bytes"


def test_colleague_comments_show_their_name(acme, customer, customer_client):
    colleague = make_contact(acme, "colleague@acme.test", "Colin Colleague")
    ticket = _ticket(acme, customer)
    _comment(acme, ticket, "I see this too", author_contact=colleague, channel="email")
    html = _html(customer_client.get(f"/tickets/{ticket.number}/"))
    assert "<strong>Colin Colleague</strong>" in html


def test_ticket_page_query_count_is_constant(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    customer_client.get(f"/tickets/{ticket.number}/")
    one = _queries(customer_client, f"/tickets/{ticket.number}/")
    for i in range(49):
        if i % 2:
            _comment(
                acme, ticket, f"agent {i}", user=acme.agent, uploads=[Upload(f"{i}.txt", b"x")]
            )
        else:
            _comment(acme, ticket, f"me {i}", author_contact=customer, channel="portal")
    many = _queries(customer_client, f"/tickets/{ticket.number}/")
    with acme.scope():
        assert Comment.objects.filter(ticket=ticket, is_public=True).count() == 50
    assert (one, many) == (one, one)
    assert one <= 10


def test_portal_disabled_is_a_404(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    with acme.scope():
        portal_settings(acme.org)  # the row, made on first use
        PortalSettings.objects.update(portal_enabled=False)
    assert customer_client.get("/tickets/").status_code == 404
    assert customer_client.get(f"/tickets/{ticket.number}/").status_code == 404


def test_signed_out_goes_to_sign_in(acme):
    response = acme.client().get("/tickets/1/")
    assert response.status_code == 302
    assert response["Location"] == "/sign-in/?next=%2Ftickets%2F1%2F"


def test_pages_are_not_cached(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    for url in ("/tickets/", f"/tickets/{ticket.number}/"):
        cache_control = customer_client.get(url)["Cache-Control"]
        assert "no-store" in cache_control
        assert "private" in cache_control


# -- attachments -------------------------------------------------------------------------------


def _attachment(tenant, ticket, name, content, content_type, *, public=True, **author):
    with tenant.scope():
        comment = comment_create(
            ticket=ticket,
            body_text="file",
            is_public=public,
            uploads=[Upload(name, content, content_type)],
            **author,
        )
        return comment.attachments.get()


def test_attachment_download_of_a_public_comment(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    attachment = _attachment(
        acme, ticket, "x.html", b"<script>alert(1)</script>", "text/html", author_user=acme.agent
    )
    response = customer_client.get(f"/tickets/{ticket.number}/attachments/{attachment.pk}/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="x.html"'
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"


def test_safe_image_is_inline_svg_never(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    png = _attachment(acme, ticket, "dot.png", PNG, "image/png", author_contact=customer)
    svg = _attachment(
        acme, ticket, "x.svg", b"<svg onload=alert(1)/>", "image/svg+xml", author_contact=customer
    )
    base = f"/tickets/{ticket.number}/attachments/"
    response = customer_client.get(f"{base}{png.pk}/")
    assert (response["Content-Type"], response["Content-Disposition"]) == (
        "image/png",
        'inline; filename="dot.png"',
    )
    assert customer_client.get(f"{base}{svg.pk}/")["Content-Disposition"].startswith("attachment;")


def test_attachment_access_is_checked(acme, globex, customer, customer_client):
    ticket = _ticket(acme, customer)
    internal = _attachment(
        acme, ticket, "internal.txt", b"secret", "text/plain", public=False, author_user=acme.agent
    )
    other_contact = make_contact(acme, "other@x.test", "Other")
    other_ticket = _ticket(acme, other_contact)
    others = _attachment(
        acme, other_ticket, "theirs.txt", b"x", "text/plain", author_contact=other_contact
    )
    mine = _attachment(acme, ticket, "mine.txt", b"mine", "text/plain", author_contact=customer)
    with acme.scope():
        loose = Attachment.objects.create(
            organization=acme.org,
            ticket=ticket,
            comment=None,
            file=mine.file.name,
            filename="loose.txt",
            size=4,
            sha256=mine.sha256,
        )
    globex_contact = make_contact(globex, "g@globex.test", "G")
    globex_ticket = _ticket(globex, globex_contact)
    globex_file = _attachment(
        globex, globex_ticket, "g.txt", b"g", "text/plain", author_contact=globex_contact
    )
    get = customer_client.get
    assert get(f"/tickets/{ticket.number}/attachments/{mine.pk}/").status_code == 200
    # An internal comment's file, a file of the contact's ticket with no comment, another
    # contact's (through their number and through ours), another tenant's: all 404.
    assert get(f"/tickets/{ticket.number}/attachments/{internal.pk}/").status_code == 404
    assert get(f"/tickets/{ticket.number}/attachments/{loose.pk}/").status_code == 404
    assert get(f"/tickets/{other_ticket.number}/attachments/{others.pk}/").status_code == 404
    assert get(f"/tickets/{ticket.number}/attachments/{others.pk}/").status_code == 404
    assert get(f"/tickets/{globex_ticket.number}/attachments/{globex_file.pk}/").status_code == 404
    assert get(f"/tickets/{ticket.number}/attachments/{globex_file.pk}/").status_code == 404


def test_attachment_of_a_reply_made_internal_is_gone(acme, customer, customer_client):
    from tickets.services.comments import comment_set_public

    ticket = _ticket(acme, customer)
    attachment = _attachment(acme, ticket, "oops.txt", b"x", "text/plain", author_user=acme.agent)
    url = f"/tickets/{ticket.number}/attachments/{attachment.pk}/"
    assert customer_client.get(url).status_code == 200
    with acme.scope():
        comment_set_public(comment=attachment.comment, public=False, actor_user=acme.agent)
    assert customer_client.get(url).status_code == 404
    assert "oops.txt" not in _html(customer_client.get(f"/tickets/{ticket.number}/"))


# -- an agent's preview ------------------------------------------------------------------------


@pytest.fixture
def preview_client(acme, customer):
    """The acme agent's browser, viewing the portal as the customer (portal.auth.PREVIEW_KEY)."""
    client = acme.client(acme.agent)
    session = client.session
    session[auth.PREVIEW_KEY] = {"contact": customer.pk, "org": acme.org.pk}
    session.save()
    return client


def test_preview_reads_without_reply_or_buttons(acme, customer, preview_client):
    ticket = _ticket(acme, customer, subject="Seen by the agent")
    _comment(acme, ticket, "INTERNAL for agents", public=False, user=acme.agent)
    assert _listed(preview_client.get("/tickets/")) == [ticket.number]
    html = _html(preview_client.get(f"/tickets/{ticket.number}/"))
    assert "Seen by the agent" in html
    assert "INTERNAL for agents" not in html
    assert 'name="body"' not in html
    assert "/close/" not in html
    assert "/reopen/" not in html
    assert "/reply/" not in html
    assert "This is a preview" in html


# -- in a real browser: axe-core, phone width, screenshots ---------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_ticket_pages_in_the_browser(live_server, acme, browser_page, tmp_path):
    from tests.browser import ARTIFACTS, axe_violations

    customer = make_contact(acme, "customer@acme.test", "Casey Customer")
    ticket = _ticket(acme, customer, subject="The printer smokes", body="It smokes since Monday.")
    _ticket(acme, customer, subject="Invoice 1043 looks wrong", body="The total is off.")
    _comment(
        acme,
        ticket,
        "Please **unplug** it and send a photo.",
        user=acme.agent,
        body_html="<p>Please <strong>unplug</strong> it and send a photo.</p>",
    )
    _comment(acme, ticket, "INTERNAL: replace under warranty", public=False, user=acme.agent)
    client = portal_client(acme, customer)
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    page = browser_page
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base}]
    )

    page.goto(f"{base}/tickets/")
    assert page.locator(".portal-ticket-row").count() == 2
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "portal-tickets.png"), full_page=True)

    page.click("text=The printer smokes")
    page.wait_for_url(f"{base}/tickets/{ticket.number}/")
    assert "INTERNAL" not in page.content()
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "portal-ticket.png"), full_page=True)

    # Keyboard only: the reply box by its label, a file, send.
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    page.get_by_label("Your reply").fill("Unplugged. Photo attached.")
    page.get_by_label("Attach files").set_input_files(str(photo))
    page.get_by_label("Your reply").focus()
    page.keyboard.press("Tab")  # the file input
    page.keyboard.press("Tab")  # Send reply
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Reply sent.")
    assert page.locator(".portal-message").count() == 3
    assert page.locator(".portal-message .chip-file", has_text="photo.png").count() == 1

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/tickets/{ticket.number}/")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "portal-ticket-phone.png"), full_page=True)
    page.goto(f"{base}/tickets/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "portal-tickets-phone.png"), full_page=True)
