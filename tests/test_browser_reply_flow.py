"""The ticket page's reply flow in a real Chromium: a reply that sets the status refreshes the
sidebar in place, and Undo within the debounce brings the draft back and sends nothing."""

import shutil
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from outbound_mail.models import OutgoingMessage
from outbound_mail.services.sending import outgoing_send_due
from tests.browser import ARTIFACTS, CHROMIUM
from tests.factories import make_ticket
from tickets.models import Comment

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


def _open_ticket(page, live_server, acme):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Invoice missing", body="Where is my invoice?")
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page.goto(f"{base}/agent/")
    page.fill("#id_username", "agent@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")
    page.goto(f"{base}/agent/tickets/{ticket.number}/")
    return ticket


@pytest.mark.django_db(transaction=True)
def test_reply_with_status_updates_the_sidebar_in_place(
    live_server,
    acme,
    globex,
    browser_page,
):
    page = browser_page
    _open_ticket(page, live_server, acme)
    page.fill("#id_body", "Could you send us the order number?")
    page.select_option("#reply select[name=status]", label="Pending")
    page.click("#send")
    page.locator(".entry", has_text="Could you send us the order number?").wait_for()
    # The sidebar and the title follow the reply's status change without a reload.
    assert page.locator("#prop-status option:checked").inner_text() == "Pending"
    assert page.locator("#ticket-status-chip").inner_text() == "Pending"
    timeline = " ".join(page.locator(".timeline").inner_text().split())
    assert "changed status from New to Pending" in timeline
    page.screenshot(path=str(ARTIFACTS / "reply-sidebar-in-place.png"), full_page=True)
    # And the other way: a property changed in the sidebar shows in the main column's title.
    page.select_option("#prop-status", label="Open")
    page.locator("#ticket-status-chip", has_text="Open").wait_for()


@pytest.mark.django_db(transaction=True)
def test_undo_within_the_window_brings_the_draft_back_and_sends_nothing(
    live_server,
    acme,
    globex,
    browser_page,
):
    page = browser_page
    ticket = _open_ticket(page, live_server, acme)
    page.fill("#id_body", "Wrong customer, sorry!")
    page.click("#send")
    entry = page.locator(".entry", has_text="Wrong customer, sorry!")
    entry.wait_for()
    assert page.locator("#toasts .toast").last.inner_text() == (
        "Sending in 2 min. Undo on the reply until then."
    )
    assert entry.locator(".sending").inner_text().startswith("Sending in")
    page.screenshot(path=str(ARTIFACTS / "reply-waiting-undo.png"), full_page=True)
    entry.locator("button.undo").click()
    page.locator("#toasts .toast", has_text="Reply withdrawn").wait_for()
    assert page.locator("#id_body").input_value() == "Wrong customer, sorry!"
    assert page.locator(".entry", has_text="Wrong customer, sorry!").count() == 0
    assert "withdrew a reply before it was sent" in page.locator(".timeline").inner_text()
    page.screenshot(path=str(ARTIFACTS / "reply-undone.png"), full_page=True)

    with acme.scope():
        later = timezone.now() + timedelta(minutes=10)
        assert outgoing_send_due(organization=acme.org, now=later) == 0
        replies = list(OutgoingMessage.objects.filter(kind="agent_reply").values_list("status"))
        bodies = list(Comment.objects.filter(ticket=ticket).values_list("body_text", flat=True))
    assert replies == [("cancelled",)]
    assert bodies == ["Where is my invoice?"]
    # What did go out is from before the reply (the ticket's confirmation and alerts).
    assert [m.to for m in mail.outbox if "Wrong customer" in m.body] == []
