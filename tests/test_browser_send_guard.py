"""The send guard in a real Chromium, two agents in two browser contexts on one ticket: agent B
answers first, agent A's reply is held with B's reply shown, and Send anyway sends it. Then
the same without JavaScript: the plain form post is held and Edit first gives the form back."""

import shutil

import pytest

from outbound_mail.models import OutgoingMessage
from tenants import services as tenant_services
from tenants.models import Membership
from tests.browser import ARTIFACTS, CHROMIUM
from tests.factories import make_ticket
from tickets.models import Comment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


@pytest.fixture
def bob(acme):
    with acme.scope():
        user = tenant_services.user_get_or_create(
            email="bob@acme.test", name="Bob Mulder", password="pw"
        )
        tenant_services.membership_add(organization=acme.org, user=user, role=Membership.AGENT)
    return user


def _base(live_server) -> str:
    return f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"


def _sign_in(context, base: str, email: str):
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/agent/")
    page.fill("#id_username", email)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")
    return page


def _bodies(acme, ticket) -> list[str]:
    with acme.scope():
        return list(
            Comment.objects.filter(ticket=ticket).order_by("pk").values_list("body_text", flat=True)
        )


@pytest.mark.django_db(transaction=True)
def test_the_other_agent_answered_first_and_send_anyway_sends(
    live_server, acme, globex, bob, browser_page
):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Invoice missing", body="Where is my invoice?")
    base = _base(live_server)
    url = f"{base}/agent/tickets/{ticket.number}/"
    browser = browser_page.context.browser
    agent_a = _sign_in(
        browser.new_context(viewport={"width": 1400, "height": 900}), base, "agent@acme.test"
    )
    agent_b = _sign_in(
        browser.new_context(viewport={"width": 1400, "height": 900}), base, "bob@acme.test"
    )
    agent_a.goto(url)
    agent_b.goto(url)

    agent_a.fill("#id_body", "Your invoice is attached to this mail.")
    agent_b.fill("#id_body", "I just resent the invoice to you.")
    agent_b.click("#send")
    agent_b.locator(".entry", has_text="I just resent the invoice to you.").wait_for()

    agent_a.click("#send")
    guard = agent_a.locator("#send-guard")
    guard.wait_for()
    assert " ".join(guard.locator("#send-guard-title").inner_text().split()) == (
        "Not sent. While you were writing, a new entry arrived on this ticket. Read it before "
        "you send."
    )
    assert "Bob Mulder replied" in guard.inner_text()
    assert "I just resent the invoice to you." in guard.inner_text()
    # B's reply is in A's conversation now, and A's text is still in the box.
    assert agent_a.locator(".entry", has_text="I just resent the invoice to you.").count() == 1
    assert agent_a.locator("#id_body").input_value() == "Your invoice is attached to this mail."
    assert agent_a.locator("#send").is_hidden()
    agent_a.screenshot(path=str(ARTIFACTS / "send-guard-held.png"), full_page=True)
    assert _bodies(acme, ticket) == ["Where is my invoice?", "I just resent the invoice to you."]

    agent_a.click("#send-anyway")
    agent_a.locator(".entry", has_text="Your invoice is attached to this mail.").wait_for()
    assert agent_a.locator("#send-guard").count() == 0
    assert agent_a.locator("#toasts .toast").last.inner_text() == (
        "Sending in 2 min. Undo on the reply until then."
    )
    agent_a.screenshot(path=str(ARTIFACTS / "send-guard-sent-anyway.png"), full_page=True)
    assert _bodies(acme, ticket) == [
        "Where is my invoice?",
        "I just resent the invoice to you.",
        "Your invoice is attached to this mail.",
    ]
    with acme.scope():
        replies = list(
            OutgoingMessage.objects.filter(kind="agent_reply").values_list("to_address", flat=True)
        )
    # Both replies wait out the debounce, folded into one update to the customer.
    assert replies == ["carol@customer.test"]


@pytest.mark.django_db(transaction=True)
def test_without_javascript_the_reply_is_held_and_edit_first_gives_it_back(
    live_server, acme, globex, bob, browser_page
):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Invoice missing", body="Where is my invoice?")
    base = _base(live_server)
    browser = browser_page.context.browser
    page = _sign_in(browser.new_context(java_script_enabled=False), base, "agent@acme.test")
    page.goto(f"{base}/agent/tickets/{ticket.number}/")
    with acme.scope():
        from tickets.services.comments import comment_create

        comment_create(
            ticket=ticket, body_text="Found it, thanks!", author_contact=ticket.requester
        )
    page.fill("#id_body", "Here it is.")
    with page.expect_response(lambda r: r.url.endswith("/reply/")) as held:
        page.click("#send")
    assert held.value.status == 409
    assert "Carol wrote" in page.locator("#send-guard").inner_text()
    with page.expect_response(lambda r: r.url.endswith("/reply/")) as edited:
        page.click("#edit-first")
    assert edited.value.status == 200
    page.wait_for_load_state()
    assert page.locator("#send-guard").count() == 0
    assert page.locator("#id_body").input_value() == "Here it is."
    assert _bodies(acme, ticket) == ["Where is my invoice?", "Found it, thanks!"]


@pytest.mark.django_db(transaction=True)
def test_a_reply_held_by_mail_is_reviewed_and_sent_from_its_page(
    live_server, acme, globex, bob, browser_page
):
    from tickets.services.comments import comment_create
    from tickets.services.send_guard import mail_reply_create

    with acme.scope():
        ticket = make_ticket(acme.org, subject="Invoice missing", body="Where is my invoice?")
        first = ticket.comments.get()
        comment_create(
            ticket=ticket, body_text="I just resent the invoice to you.", author_user=bob
        )
        held = mail_reply_create(
            ticket=ticket,
            answered=first.pk,
            author_user=acme.agent,
            is_public=True,
            body_text="Your invoice is attached to this mail.",
            channel=Comment.Channel.EMAIL,
        )
    base = _base(live_server)
    context = browser_page.context.browser.new_context(viewport={"width": 1400, "height": 900})
    page = _sign_in(context, base, "agent@acme.test")
    page.goto(f"{base}/agent/tickets/{ticket.number}/")
    entry = page.locator(f"#comment-{held.pk}")
    assert entry.locator(".label-held").inner_text() == "Held: a newer reply exists"
    entry.locator("a.held-review").click()
    page.locator("#send-held").wait_for()
    assert page.locator("h1").inner_text() == "Your reply was held"
    assert page.locator(".entry", has_text="I just resent the invoice to you.").count() == 1
    page.screenshot(path=str(ARTIFACTS / "send-guard-held-by-mail.png"), full_page=True)
    page.click("#send-held")
    page.locator("#toasts .toast", has_text="Sending in 2 min").wait_for()
    assert page.locator(f"#comment-{held.pk} .label-held").count() == 0
    assert "internal" not in (page.locator(f"#comment-{held.pk}").get_attribute("class") or "")
    with acme.scope():
        assert Comment.objects.get(pk=held.pk).is_public is True
        assert list(
            OutgoingMessage.objects.filter(kind="agent_reply").values_list("to_address", flat=True)
        ) == ["carol@customer.test"]


@pytest.mark.django_db(transaction=True)
def test_a_pushed_entry_still_holds_the_reply(asgi_live_server, acme, globex, bob, browser_page):
    """With the live socket (daphne): B's reply appears on A's open page without a reload, and
    A's send is still held, since a pushed entry may not have been read."""
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Invoice missing", body="Where is my invoice?")
    base = asgi_live_server.tenant_url("acme")
    url = f"{base}/agent/tickets/{ticket.number}/"
    browser = browser_page.context.browser
    size = {"width": 1400, "height": 900}
    agent_a = _sign_in(browser.new_context(viewport=size), base, "agent@acme.test")
    agent_b = _sign_in(browser.new_context(viewport=size), base, "bob@acme.test")
    agent_a.goto(url)
    agent_b.goto(url)
    agent_a.fill("#id_body", "Your invoice is attached to this mail.")
    seen = agent_a.locator("#reply [name=seen_comment]").input_value()

    agent_b.fill("#id_body", "I just resent the invoice to you.")
    agent_b.click("#send")
    # Pushed to A: inserted in place, no reload (A's text is still in the box).
    agent_a.locator(".entry", has_text="I just resent the invoice to you.").wait_for()
    assert agent_a.locator("#id_body").input_value() == "Your invoice is attached to this mail."
    assert agent_a.locator("#reply [name=seen_comment]").input_value() == seen

    agent_a.click("#send")
    agent_a.locator("#send-guard").wait_for()
    assert "Bob Mulder replied" in agent_a.locator("#send-guard").inner_text()
    assert agent_a.locator(".entry", has_text="I just resent the invoice to you.").count() == 1
    assert _bodies(acme, ticket) == ["Where is my invoice?", "I just resent the invoice to you."]
    agent_a.click("#send-anyway")
    agent_a.locator(".entry", has_text="Your invoice is attached to this mail.").wait_for()
    assert _bodies(acme, ticket)[-1] == "Your invoice is attached to this mail."
