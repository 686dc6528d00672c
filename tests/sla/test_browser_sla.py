"""Settings -> SLA and the list badge in a real Chromium: an admin adds a calendar (a bad
interval first), imports holidays, adds a policy and previews its due times; an agent sees the
badges, filters breached tickets and opens one to its timers card. Screenshots in
test-artifacts/."""

import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from sla.models import Calendar, Policy, TicketSLA
from tests.browser import ARTIFACTS, CHROMIUM
from tests.factories import make_ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


def _login(page, base, email):
    page.goto(f"{base}/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.django_db(transaction=True)
def test_admin_sets_up_sla_and_agent_sees_badges(live_server, acme, globex, browser_page):
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    _login(page, base, "admin@acme.test")

    page.goto(f"{base}/settings/sla/calendars/")
    page.fill("#id_name", "Berlin office")
    page.select_option("#id_timezone", "Europe/Berlin")
    for n in range(5):
        page.fill(f"#id_day_{n}", "09:00-17:00")
    page.fill("#id_day_0", "09:00-12:30, 12:00-17:00")
    page.click("text=Save calendar")
    page.locator(".field-error", has_text="12:00-17:00 overlaps 09:00-12:30").wait_for()
    page.screenshot(path=str(ARTIFACTS / "sla-calendar-error.png"), full_page=True)
    page.fill("#id_day_0", "09:00-12:30, 13:30-17:00")
    page.click("text=Save calendar")
    page.locator("h1", has_text="Calendar “Berlin office”").wait_for()

    page.select_option("#id_import-country", "DE")
    page.fill("#id_import-year", "2026")
    page.click("button:text('Import')")
    page.locator(".toast, .messages, body", has_text="Imported").first.wait_for()
    page.fill("#id_holiday-date", "2026-12-24")
    page.fill("#id_holiday-name", "Christmas Eve")
    page.fill("#id_holiday-intervals", "09:00-12:00")
    page.click("text=Save holiday")
    page.locator(".sla-holidays td", has_text="Christmas Eve").wait_for()
    page.screenshot(path=str(ARTIFACTS / "sla-calendar.png"), full_page=True)

    page.goto(f"{base}/settings/sla/policies/new/")
    page.fill("#id_name", "Urgent")
    page.select_option("#id_priorities", label="Urgent")
    page.fill("#id_first_response_minutes", "60")
    page.fill("#id_resolution_minutes", "480")
    page.fill("#id_warn_percent", "75")
    page.click("text=Save policy")
    page.locator("h1", has_text="Policy “Urgent”").wait_for()
    page.fill("#id_preview-start", "2026-12-24T11:30")
    page.click("text=Preview due times")
    page.locator(".sla-preview td.due").first.wait_for()
    dues = page.locator(".sla-preview td.due").all_inner_texts()
    # Christmas Eve works 09:00-12:00, then the 25th and 26th are holidays, the 27th a Sunday.
    assert dues == ["Mon 28 Dec 2026, 09:30", "Tue 29 Dec 2026, 09:30"]
    page.screenshot(path=str(ARTIFACTS / "sla-policy-preview.png"), full_page=True)
    page.goto(f"{base}/settings/sla/")
    page.screenshot(path=str(ARTIFACTS / "sla-policies.png"), full_page=True)
    page.goto(f"{base}/settings/sla/calendars/")
    page.screenshot(path=str(ARTIFACTS / "sla-calendars.png"), full_page=True)

    with acme.scope():
        policy = Policy.objects.get()
        now = timezone.now()
        rows = [
            ("Checkout is down", timedelta(minutes=-40), None),
            ("Invoices are wrong", timedelta(minutes=25), timedelta(minutes=-5)),
            ("Question about plans", timedelta(hours=5, minutes=10), None),
        ]
        for subject, due, warn in rows:
            ticket = make_ticket(acme.org, subject=subject)
            TicketSLA.objects.filter(ticket=ticket).delete()
            TicketSLA.objects.create(
                organization=acme.org,
                ticket=ticket,
                policy=policy,
                target="first_response",
                started_at=now - timedelta(hours=1),
                # Half a minute of slack, so the minutes shown hold while the browser loads.
                due_at=now + due + timedelta(seconds=30 if due > timedelta(0) else -5),
                warn_at=now + warn if warn else None,
            )
        assert Calendar.objects.count() == 1
    page.context.clear_cookies()
    _login(page, base, "agent@acme.test")
    page.goto(f"{base}/agent/?view=all&sort=sla_due")
    badges = page.locator(".ticket-row .sla-badge").all_inner_texts()
    assert badges == ["Reply · overdue by 40m", "Reply · 25m left", "Reply · 5h 10m left"]
    page.screenshot(path=str(ARTIFACTS / "sla-list-badges.png"), full_page=True)
    page.select_option("select[name=only]", "sla_breached")
    page.wait_for_url("**only=sla_breached**")
    assert page.locator(".ticket-row").count() == 1
    page.click("text=Checkout is down")
    page.locator(".sla-card .sla-badge", has_text="overdue by").wait_for()
    assert "Policy: Urgent" in page.locator(".sla-card").inner_text()
    page.locator(".sla-card").screenshot(path=str(ARTIFACTS / "sla-ticket-card.png"))
