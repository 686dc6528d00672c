"""The settings index, a delete that asks first (JS dialog adds confirm=1, the tickets move), and
the marked quarantine tab, in Chromium; screenshots under test-artifacts/."""

import pytest

from tests.browser import ARTIFACTS
from tests.factories import make_ticket
from tickets.models import Priority, Ticket


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/settings/")
    page.fill("#id_username", "admin@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/settings/")


@pytest.mark.django_db(transaction=True)
def test_settings_index_and_confirmed_deletes(live_server, acme, globex, browser_page):
    with acme.scope():
        low, high = Priority.objects.order_by("rank")[:2]
        ticket = make_ticket(acme.org, priority=low)
        spare = Priority.objects.create(organization=acme.org, name="Spare", rank=7)
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    _sign_in(page, base)
    assert page.locator(".settings-group h2").all_inner_texts()[:3] == [
        "People",
        "Tickets",
        "Email",
    ]
    assert page.locator(".settings-nav a[aria-current=page]").inner_text() == "All settings"
    page.screenshot(path=str(ARTIFACTS / "settings-index.png"), full_page=True)

    page.goto(f"{base}/settings/priorities/")
    page.once("dialog", lambda dialog: dialog.dismiss())  # Cancel in the browser's dialog
    page.locator(f"form[action='/settings/priorities/{spare.pk}/delete/'] button").click()
    with acme.scope():
        assert Priority.objects.filter(pk=spare.pk).exists() is True
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"form[action='/settings/priorities/{spare.pk}/delete/'] button").click()
    page.locator(".toast", has_text="Priority “Spare” deleted.").wait_for()
    with acme.scope():
        assert Priority.objects.filter(pk=spare.pk).exists() is False

    page.locator(f"form[action='/settings/priorities/{low.pk}/delete/'] button").click()
    page.locator("#confirm-replacement").wait_for()
    page.select_option("#confirm-replacement", str(high.pk))
    page.screenshot(path=str(ARTIFACTS / "settings-delete-replacement.png"), full_page=True)
    page.click("button.danger")
    page.locator(".toast", has_text="1 ticket moved").wait_for()
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).priority_id == high.pk

    page.goto(f"{base}/settings/mail/quarantine/?show=ignored")
    current = page.locator(".tabs a[aria-current=page]")
    assert current.inner_text().startswith("Set aside")
    assert current.evaluate("e => getComputedStyle(e).fontWeight") == "600"
    page.screenshot(path=str(ARTIFACTS / "settings-quarantine-tabs.png"))
