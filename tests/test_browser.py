"""An agent works a ticket in a real Chromium: log in, reply, note, change status and assignee."""

import os
import shutil

import pytest

from tests.browser import ARTIFACTS, CHROMIUM
from tests.factories import make_ticket
from tickets.models import Comment, Ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


@pytest.mark.django_db(transaction=True)
def test_agent_works_a_ticket(live_server, acme, globex, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Cannot print invoices", body="The printer is dead")
    with globex.scope():
        make_ticket(globex.org, subject="Globex private matter")
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    page = browser_page

    page.goto(f"{base}/agent/")
    page.fill("#id_username", "agent@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")
    assert page.locator(".ticket-row").count() == 1
    assert "Globex private matter" not in page.content()

    page.click("text=Cannot print invoices")
    page.wait_for_url(f"{base}/agent/tickets/{ticket.number}/")
    page.fill("#id_body", "We are on it.")
    page.click("#send")
    page.locator(".entry", has_text="We are on it.").wait_for()

    page.keyboard.press("Escape")
    page.locator("body").press("n")  # keyboard: internal note
    page.fill("#id_body", "Checked the spooler: queue is stuck.")
    assert page.locator("#send").inner_text() == "Add note"
    page.keyboard.press("Control+Enter")
    page.locator(".entry.internal", has_text="queue is stuck").wait_for()

    # The note's answer swaps the sidebar in: a change made to the select it replaces would be
    # lost, so wait for it to settle, and for the change's own answer before its toast.
    page.wait_for_load_state("networkidle")
    with page.expect_response(lambda r: r.url.endswith(f"/tickets/{ticket.number}/update/")):
        page.select_option("#prop-status", label="Pending")
    page.locator("#toasts .toast", has_text="Saved.").first.wait_for()
    # The rail's counts follow the change without a reload.
    page.locator("#rail a", has_text="Pending").locator(".count", has_text="1").wait_for()
    page.select_option("#prop-assignee", label="Acme Agent")
    page.locator("#prop-assignee option[selected]", has_text="Acme Agent").wait_for(
        state="attached"
    )
    page.screenshot(path=str(ARTIFACTS / "ticket-page.png"), full_page=True)

    with acme.scope():
        ticket = Ticket.objects.select_related("status").get(pk=ticket.pk)
        comments = list(Comment.objects.filter(ticket=ticket).values_list("body_text", "is_public"))
    assert (ticket.status.name, ticket.assignee_id) == ("Pending", acme.agent.pk)
    assert comments == [
        ("The printer is dead", True),
        ("We are on it.", True),
        ("Checked the spooler: queue is stuck.", False),
    ]
    page.goto(f"{base}/agent/?view=all")
    page.screenshot(path=str(ARTIFACTS / "ticket-list.png"), full_page=True)
    assert os.path.getsize(ARTIFACTS / "ticket-page.png") > 10_000
