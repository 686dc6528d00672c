"""Every main page of the product checked with axe-core in Chromium: the sign-in page, the
agent's list, a ticket, a new ticket, contacts and customers, and the settings pages an admin
opens most. Serious and critical faults fail everywhere; these pages have none of the minor and
moderate ones either (a page without a heading, a table column without a name), so those fail
here too."""

import pytest

from tests.browser import axe_violations
from tests.factories import make_ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALL_IMPACTS = ("minor", "moderate", "serious", "critical")
PAGES = [
    "/agent/",
    "/agent/tickets/new/",
    "/agent/tickets/1/",
    "/agent/contacts/",
    "/agent/customers/",
    "/settings/",
    "/settings/members/",
    "/settings/teams/",
    "/settings/statuses/",
    "/settings/sla/",
    "/settings/notifications/",
    "/settings/branding/",
    "/settings/priorities/",
    "/settings/canned/",
    "/settings/sla/calendars/",
    "/settings/automations/",
    "/settings/automations/new/",
    "/settings/macros/",
    "/settings/macros/new/",
]


def test_the_sign_in_page_passes_axe(live_server, acme, browser_page):
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    browser_page.goto(f"{base}/login/")
    assert axe_violations(browser_page, impacts=ALL_IMPACTS) == []


def test_the_main_pages_pass_axe(live_server, acme, browser_page):
    with acme.scope():
        make_ticket(acme.org, subject="Printer on fire", body="It **smokes**.")
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    page.goto(f"{base}/login/")
    page.fill("#id_username", "admin@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    found = {}
    for path in PAGES:
        response = page.goto(f"{base}{path}")
        assert response is not None, path
        assert response.status == 200, path
        found[path] = axe_violations(page, impacts=ALL_IMPACTS)
    assert found == {path: [] for path in PAGES}
