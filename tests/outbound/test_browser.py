"""In a real Chromium: the bell, the notification list, delivery status, the template editor."""

import re
import shutil

import pytest

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


@pytest.mark.django_db(transaction=True)
def test_agent_hears_of_a_ticket_and_admin_previews_a_template(
    live_server,
    acme,
    globex,
    mailer,
    run,
    browser_page,
):
    with acme.scope(), run():
        make_ticket(acme.org, subject="Cannot print invoices", body="The printer is dead")
    with globex.scope(), run():
        make_ticket(globex.org, subject="Globex private matter")
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page

    _login(page, base, "agent@acme.test")
    page.wait_for_selector(".bell-count.has-unread")
    assert page.text_content(".bell-count") == "1 unread"
    page.click("a.bell")
    page.screenshot(path=str(ARTIFACTS / "outbound-notifications.png"), full_page=True)
    assert "Globex" not in page.content()
    page.click("text=New ticket #1: Cannot print invoices")
    page.wait_for_url(re.compile(r".*/agent/tickets/1/$"))
    page.click("details.delivery summary")
    delivery = page.inner_text("details.delivery")
    assert "carol@customer.test: Sent · New ticket confirmation" in delivery
    page.screenshot(path=str(ARTIFACTS / "outbound-ticket-delivery.png"), full_page=True)
    page.wait_for_selector(".bell-count:not(.has-unread)", state="attached")

    page.context.clear_cookies()
    _login(page, base, "admin@acme.test")
    page.goto(f"{base}/settings/templates/new_ticket_confirmation/")
    page.fill("#id_subject", "We got it: {{ ticket_subject }}")
    page.fill("#id_body_html", "<p>Dear {{ requester_name }}, about {{ ticket_subject }}.</p>")
    frame = page.frame_locator("iframe.mail-preview")
    frame.locator("text=Dear Carol, about Cannot print invoices.").wait_for()
    assert page.inner_text("#preview p") == "Subject: We got it: Cannot print invoices [#1]"
    page.screenshot(path=str(ARTIFACTS / "outbound-template-editor.png"), full_page=True)
    page.locator("iframe.mail-preview").screenshot(path=str(ARTIFACTS / "outbound-frame.png"))
    page.fill("#id_body_text", "{% if requester_name %}never closed")
    page.click("button.primary")
    assert "Unclosed tag on line 1: 'if'" in page.inner_text(".error")

    page.goto(f"{base}/settings/email/")
    page.fill("#id_to", "me@acme.test")
    page.click("text=Send test email")
    outcome = page.inner_text(".test-outcome")
    assert outcome == "Sent. The server answered: 250 2.0.0 Message accepted for delivery"
    page.screenshot(path=str(ARTIFACTS / "outbound-email-settings.png"), full_page=True)
    page.goto(f"{base}/agent/notifications/preferences/")
    page.check("input[name=assignment][value=none]")
    page.click("button.primary")
    page.wait_for_selector("input[name=assignment][value=none]:checked")
    page.screenshot(path=str(ARTIFACTS / "outbound-preferences.png"), full_page=True)
