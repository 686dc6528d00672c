"""The ticket list and ticket page in a real Chromium: no horizontal scroll at desktop and phone
widths (a subject without spaces once made the list 3,497 px wide), cards on a phone, select-all
and the whole row as a link."""

import shutil

import pytest

from tests.browser import ARTIFACTS, CHROMIUM, sign_in
from tests.factories import make_ticket
from tickets.models import Ticket

LONG = "Unbreakable" * 40  # 440 characters, no spaces

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


def _box(locator) -> tuple[float, float, float]:
    """Left edge, right edge and width of an element on screen."""
    box = locator.bounding_box()
    assert box is not None
    return box["x"], box["x"] + box["width"], box["width"]


def _overflow(page) -> tuple[int, int]:
    return page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )


@pytest.mark.django_db(transaction=True)
def test_long_subjects_never_scroll_sideways(live_server, acme, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject=LONG, body=LONG, email=f"{'x' * 60}@example.test")
        make_ticket(acme.org, subject="Printer on fire", assignee=acme.agent)
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    sign_in(page, base)
    for width in (1366, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{base}/agent/")
        scroll, client = _overflow(page)
        assert scroll <= client == width
        page.screenshot(path=str(ARTIFACTS / f"ticket-list-{width}.png"), full_page=True)
        page.goto(f"{base}/agent/tickets/{ticket.number}/")
        scroll, client = _overflow(page)
        assert scroll <= client == width
        assert _box(page.locator("#send"))[1] <= width
        page.screenshot(path=str(ARTIFACTS / f"ticket-page-{width}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_phone_list_shows_cards(live_server, acme, browser_page):
    with acme.scope():
        make_ticket(acme.org, subject="Printer on fire", assignee=acme.agent)
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    sign_in(page, base)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{base}/agent/")
    row = page.locator(".ticket-row").first
    assert row.evaluate("r => getComputedStyle(r).display") != "table-row"
    for cell in ("subj", "status", "prio", "assignee", "age"):
        left, right, _ = _box(row.locator(f"td.{cell}"))
        assert (cell, left >= 0, right <= 390) == (cell, True, True)
    assert _box(page.locator("#top-search"))[2] >= 150
    page.screenshot(path=str(ARTIFACTS / "ticket-list-phone.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_select_all_and_row_click(live_server, acme, browser_page):
    with acme.scope():
        for n in range(3):
            make_ticket(acme.org, subject=f"Ticket {n}")
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    sign_in(page, base)
    page.check("#select-all")
    assert page.locator("#bulk .bulk-count").inner_text() == "3 selected"
    page.screenshot(path=str(ARTIFACTS / "ticket-list-bulk.png"))
    page.select_option("#bulk [name=team]", label="Support")
    page.click("#bulk button[type=submit]")
    page.locator("#toasts .toast", has_text="Updated 3 tickets.").first.wait_for()
    with acme.scope():
        assert set(Ticket.objects.values_list("team_id", flat=True)) == {acme.team.pk}
    page.keyboard.press("?")
    page.locator("#shortcuts[open]").wait_for()
    page.screenshot(path=str(ARTIFACTS / "shortcuts.png"))
    page.keyboard.press("Escape")
    page.locator(".ticket-row", has_text="Ticket 1").locator("td.age").click()
    page.wait_for_url(f"{base}/agent/tickets/2/")


@pytest.mark.django_db(transaction=True)
def test_tags_and_follow_in_place(live_server, acme, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Printer on fire")
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    sign_in(page, base)
    page.goto(f"{base}/agent/tickets/{ticket.number}/")
    page.fill("#tag-add", "VIP, billing")
    page.press("#tag-add", "Enter")
    page.locator("#ticket-tags li", has_text="billing").wait_for()
    page.locator(".timeline li", has_text="tagged billing, VIP").wait_for()
    page.click("#follow-button")
    page.locator("#follow-button", has_text="Unfollow").wait_for()
    page.click("[aria-label='Remove tag billing']")
    page.locator("#ticket-tags li", has_text="billing").wait_for(state="detached")
    page.screenshot(path=str(ARTIFACTS / "ticket-tags-follow.png"), full_page=True)
    with acme.scope():
        ticket = Ticket.objects.get(pk=ticket.pk)
        assert list(ticket.tags.values_list("name", flat=True)) == ["VIP"]
        assert list(ticket.followers.values_list("user_id", flat=True)) == [acme.agent.pk]
    page.goto(f"{base}/agent/?view=all&tag=vip")
    assert page.locator(".ticket-row").count() == 1
    page.locator(".ticket-row a.tag", has_text="VIP").wait_for()

    admin = page.context.browser.new_page(viewport={"width": 1366, "height": 900})
    admin.goto(f"{base}/settings/tags/")
    admin.fill("#id_username", "admin@acme.test")
    admin.fill("#id_password", "pw")
    admin.click("button[type=submit]")
    admin.locator("table.tag-settings").wait_for()
    admin.screenshot(path=str(ARTIFACTS / "settings-tags.png"), full_page=True)
