"""The customer's whole journey in Chromium, with an agent watching in a second browser: sign
in by the link read from the outbox, open a ticket through an intake form with a file, see it;
the agent's list shows the customer's reply without a reload; the agent's public reply appears
in the portal and the internal note does not; close, reopen; the same ticket at phone width.
axe-core finds nothing serious or critical on each portal page."""

import pytest

from portal.models import IntakeField, IntakeForm
from tests.browser import ARTIFACTS, axe_violations
from tests.portal.test_browser_auth import PHONE, _base, _sign_in_by_link
from tickets.models import Attachment, Comment, Ticket
from tickets.services.comments import comment_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A 1x1 PNG: the screenshot the customer attaches.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2264bb3"
    "0000000049454e44ae426082"
)


def _bug_report(acme) -> IntakeForm:
    with acme.scope():
        form = IntakeForm.objects.create(organization=acme.org, name="Bug report", position=0)
        IntakeField.objects.create(
            organization=acme.org, form=form, key="area", label="Where does it happen?",
            kind=IntakeField.Kind.SINGLE_CHOICE, required=True, choices=["Web app", "API"],
        )  # fmt: skip
        IntakeField.objects.create(
            organization=acme.org, form=form, key="screenshot", label="Screenshot",
            kind=IntakeField.Kind.FILE, position=1,
        )  # fmt: skip
    return form


def _clean(page, name: str) -> None:
    assert axe_violations(page) == [], name
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name} scrolls sideways ({width}px)"
    page.screenshot(path=str(ARTIFACTS / f"portal-journey-{name}.png"), full_page=True)


def test_a_customer_and_an_agent_work_one_ticket(asgi_live_server, acme, customer, browser_page):
    # The ASGI server: the agent's list hears the customer's reply over its socket (live).
    _bug_report(acme)
    page, base = browser_page, _base(asgi_live_server)

    _sign_in_by_link(page, base, acme)
    page.click("nav >> text=New ticket")
    page.click("text=Bug report")
    page.fill("#id_subject", "Export button does nothing")
    page.fill("#id_message", "Clicking Export on the reports page does nothing at all.")
    page.select_option("#id_f_area", label="Web app")
    page.set_input_files(
        "#id_f_screenshot", files=[{"name": "export.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.click("button:has-text('Send')")
    page.locator("h1", has_text="Export button does nothing").wait_for()
    with acme.scope():
        ticket = Ticket.objects.get(subject="Export button does nothing")
        assert ticket.source == Ticket.Source.PORTAL
        assert ticket.requester_id == customer.pk
        assert Attachment.objects.filter(ticket=ticket, filename="export.png").exists()
    assert page.locator("a", has_text="export.png").count() == 1
    _clean(page, "new-ticket")

    # The agent keeps the list open in a browser of their own.
    agent = page.context.browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    agent.goto(f"{base}/agent/")
    agent.fill("#id_username", "agent@acme.test")
    agent.fill("#id_password", "pw")
    agent.click("button[type=submit]")
    agent.wait_for_url(f"{base}/agent/")
    row = agent.locator(".ticket-row", has_text="Export button does nothing")
    row.wait_for()

    page.fill("#id_body", "Any news? It still happens today.")
    page.click("button:has-text('Send reply')")
    page.locator("text=Any news? It still happens today.").wait_for()
    # No reload on the agent's side: the reply is pushed and the list refreshes that row.
    row.locator("text=Any news? It still happens today.").wait_for(timeout=15_000)
    agent.screenshot(path=str(ARTIFACTS / "portal-journey-agent-list.png"))

    with acme.scope():
        ticket.refresh_from_db()
        comment_create(
            ticket=ticket, author_user=acme.agent, body_text="Fixed in 4.2, please retry."
        )
        note = "Internal: was a CSP bug."
        comment_create(ticket=ticket, author_user=acme.agent, body_text=note, is_public=False)
        assert Comment.objects.filter(ticket=ticket, is_public=False).count() == 1
    page.reload()
    page.locator("text=Fixed in 4.2, please retry.").wait_for()
    assert "was a CSP bug" not in page.content()

    page.click("button:has-text('Close this ticket')")
    page.locator("#ticket-status", has_text="Solved").wait_for()
    _clean(page, "closed")
    page.click("button:has-text('Reopen this ticket')")
    page.locator("#ticket-status", has_text="We're on it").wait_for()
    with acme.scope():
        ticket.refresh_from_db()
        assert ticket.status_category == "open"

    page.set_viewport_size(PHONE)
    page.reload()
    _clean(page, "ticket-phone")
    page.goto(f"{base}/tickets/")
    page.locator("a", has_text="Export button does nothing").wait_for()
    _clean(page, "tickets-phone")
    assert "was a CSP bug" not in page.content()
    agent.context.close()
