"""A tenant admin works the inbound mail settings in a real Chromium."""

import shutil

import pytest

from inbound_mail.models import InboundAddress, InboundMessage, Mailbox
from inbound_mail.services import intake
from tests.browser import ARTIFACTS, CHROMIUM
from tests.peers import free_port

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]


@pytest.mark.django_db(transaction=True)
def test_admin_triages_quarantine_and_tests_a_mailbox(
    live_server,
    acme,
    globex,
    browser_page,
    settings,
):
    settings.INBOUND_IMAP_ALLOW_PRIVATE_HOSTS = True  # the refused port is on loopback
    with acme.scope():
        InboundAddress.objects.create(organization=acme.org, address="support@acme.test")
    # No sender at all: processed at once (transactional test, eager tasks) into the quarantine.
    intake.inbound_receive(
        raw=b"To: support@acme.test\r\nSubject: Who sent this?\r\n\r\nHello\r\n", source="command"
    )
    port = live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    page = browser_page
    page.goto(f"{base}/settings/mail/quarantine/")
    page.fill("#id_username", "admin@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    row = page.locator("tr", has_text="Who sent this?")
    assert row.locator("td").nth(3).inner_text().startswith("Quarantined no sender address")
    page.screenshot(path=str(ARTIFACTS / "inbound-quarantine.png"), full_page=True)
    row.get_by_role("button", name="Reprocess").click()
    assert page.locator(".toast").inner_text() == "Queued for another try."
    with acme.scope():
        assert InboundMessage.objects.get().status == "quarantined"

    page.goto(f"{base}/settings/mail/mailboxes/new/")
    refused_port = free_port()
    page.fill("#id_name", "Support inbox")
    page.fill("#id_host", "127.0.0.1")
    page.fill("#id_port", str(refused_port))
    page.select_option("#id_security", "none")
    page.fill("#id_username", "support")
    page.fill("#id_password", "secret")
    page.get_by_role("button", name="Save mailbox").click()
    page.get_by_role("button", name="Test connection").click()
    assert page.locator("#test-result").inner_text() == (
        f"Support inbox: Connection failed. Connection refused to 127.0.0.1:{refused_port}"
    )
    page.screenshot(path=str(ARTIFACTS / "inbound-mailboxes.png"), full_page=True)
    with acme.scope():
        assert Mailbox.objects.get().password == "secret"
