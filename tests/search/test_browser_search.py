"""The top bar's search in a real Chromium: `/` focuses it, typing shows the dropdown (htmx,
debounced) with the match marked, the arrow keys and Enter open a result, Escape closes it,
and Enter in the box opens the whole results page."""

import shutil

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, axe_violations
from tests.factories import make_ticket
from tickets.services.comments import comment_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


@pytest.mark.django_db(transaction=True)
def test_search_as_you_type(live_server, acme, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Billing question", body="Hello <b>there</b>")
        comment_create(ticket=ticket, body_text="The invoice 4471 is wrong")
        make_ticket(acme.org, subject="Printer on fire", body="smoke")
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    page.goto(f"{base}/agent/")
    page.fill("#id_username", "agent@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "top-search"
    page.keyboard.type("invoice 44")
    dropdown = page.locator("#search-dropdown.open")
    dropdown.wait_for()
    assert dropdown.locator("mark").all_inner_texts() == ["invoice", "4471"]
    assert page.get_attribute("#top-search", "aria-expanded") == "true"
    page.screenshot(path=str(ARTIFACTS / "search-dropdown.png"))
    assert axe_violations(page) == []

    page.keyboard.press("Escape")
    assert page.get_attribute("#top-search", "aria-expanded") == "false"
    page.keyboard.type("7")  # "invoice 447": still the same ticket
    dropdown.wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/agent/tickets/{ticket.number}/#comment-*")

    page.fill("#top-search", "printer")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/agent/search/?q=printer")
    assert page.locator(".search-hit-title mark").all_inner_texts() == ["Printer"]
    page.screenshot(path=str(ARTIFACTS / "search-results.png"), full_page=True)
    assert axe_violations(page) == []
