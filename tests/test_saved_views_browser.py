"""Saved views in a real Chromium: choose a column (applies at once), save the list as a view,
find it in the rail highlighted with its count, see the count follow a new ticket through the
rail fragment without reloading, and the pages pass axe."""

import shutil

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, axe_violations, sign_in
from tests.factories import make_ticket
from tickets.models import SavedView

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


@pytest.mark.django_db(transaction=True)
def test_choose_columns_save_the_view_and_watch_its_count(live_server, acme, browser_page):
    with acme.scope():
        make_ticket(acme.org, subject="Printer on fire", team=acme.team)
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    sign_in(page, base)
    page.goto(f"{base}/agent/?view=open&team={acme.team.pk}")
    page.click(".columns-pick summary")
    with page.expect_navigation():
        page.check(".columns-pick input[value=team]")
    headers = page.locator("table.tickets thead th").all_inner_texts()
    assert headers == [
        "",
        "#",
        "Subject",
        "Status",
        "Priority",
        "Assignee",
        "Team",
        "Last activity",
    ]
    page.click(".save-view summary")
    page.fill(".save-view input[name=name]", "Support queue")
    with page.expect_navigation():
        page.click(".save-view button[type=submit]")
    link = page.locator("#rail a[aria-current=page]")
    assert link.inner_text().split() == ["Support", "queue", "1"]
    assert page.locator("h1").inner_text() == "Support queue"
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "saved-view-list.png"), full_page=True)
    with acme.scope():
        view = SavedView.objects.get()
        assert view.columns == ["status", "priority", "assignee", "team", "updated"]
        make_ticket(acme.org, subject="Second", email="second@x.test", team=acme.team)
    # The page asks the rail fragment again; the count changes in place, the highlight stays.
    page.evaluate("document.dispatchEvent(new Event('rail:refresh'))")
    page.locator("#rail a[aria-current=page] .count", has_text="2").wait_for()
    assert link.inner_text().split() == ["Support", "queue", "2"]
    page.goto(f"{base}/agent/tickets/views/")
    assert axe_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "saved-views-manage.png"), full_page=True)
