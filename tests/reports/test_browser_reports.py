"""The reports page in Chromium: the charts drawn under the page's CSP with no console error and
no serious accessibility violation, the filters sent by the form, and the print layout without
the frame; screenshots under test-artifacts/."""

from datetime import date

import pytest

from reports.services import rollups_rebuild
from tests.browser import ARTIFACTS, axe_violations
from tests.reports.data import build


@pytest.mark.django_db(transaction=True)
def test_reports_page_in_the_browser(asgi_live_server, acme, browser_page):
    with acme.scope():
        build(acme)
        rollups_rebuild(organization_id=acme.org.pk, start=date(2026, 5, 1), end=date(2026, 6, 7))
    base = asgi_live_server.tenant_url("acme")  # ASGI: the page's live socket connects
    page = browser_page
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.goto(f"{base}/agent/reports/?start=2026-06-01&end=2026-06-07")
    page.fill("#id_username", "admin@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/agent/reports/**")
    assert page.locator("svg.chart").count() == 5
    assert page.locator("#chart-volume polyline").count() == 2
    box = page.locator("#chart-volume svg").bounding_box()
    assert box is not None
    assert box["width"] > 600
    # The busiest hours are filled by class from reports.css: the stylesheet applied.
    busy = page.locator("#chart-hours rect.h5").first
    assert busy.evaluate("e => getComputedStyle(e).fill") == "rgb(30, 58, 138)"
    page.screenshot(path=str(ARTIFACTS / "reports.png"), full_page=True)
    assert axe_violations(page) == []

    page.select_option("#id_channel", "portal")
    page.click(".report-filters button[type=submit]")
    page.wait_for_url("**channel=portal**")
    assert page.locator(".report-kpis dd").all_inner_texts()[:2] == ["1", "1"]

    page.emulate_media(media="print")
    assert page.locator(".rail").is_hidden()
    assert page.locator(".report-filters button").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "reports-print.png"), full_page=True)
    assert [line for line in console if not line.startswith("log:")] == []
