"""The admin's pages and the ticket page's delivery status, with another tenant's data around."""

import html
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from outbound_mail import selectors
from outbound_mail.models import MailSettings, NotificationDefault, SmtpConnection
from tests.factories import make_ticket
from tests.outbound.conftest import connect, rows, set_debounce
from tests.peers import free_port
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import collaborator_add

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SMTP_FORM = {
    "smtp": "1",
    "smtp-enabled": "on",
    "smtp-port": "25",
    "smtp-security": "none",
    "smtp-username": "mailer",
    "smtp-from_address": "help@acme.test",
    "smtp-from_name": "Acme Help",
    "smtp-reply_to_address": "",
}


def _outcome(response) -> str:
    found = re.search(
        r'class="test-outcome[^"]*" role="status">(.*?)</div>', response.content.decode(), re.S
    )
    return " ".join(re.sub(r"<[^>]+>", "", html.unescape(found.group(1))).split())


def test_smtp_settings_save_and_keep_the_password(acme, smtp_peer):
    client = acme.client(acme.admin)
    form = {**SMTP_FORM, "smtp-host": smtp_peer.host, "smtp-port": str(smtp_peer.port)}
    assert client.post("/settings/email/", {**form, "smtp-password": "s3cret"}).status_code == 302
    assert client.post("/settings/email/", form).status_code == 302  # password left empty
    with acme.scope():
        saved = SmtpConnection.objects.get()
    assert (saved.host, saved.from_address, saved.username, saved.password) == (
        smtp_peer.host,
        "help@acme.test",
        "mailer",
        "s3cret",
    )
    page = client.get("/settings/email/").content.decode()
    assert "s3cret" not in page


def test_test_button_shows_the_servers_exact_answer(acme, smtp_peer):
    connect(acme, smtp_peer, enabled=False)  # tested before it is switched on
    client = acme.client(acme.admin)
    ok = client.post("/settings/email/test/", {"to": "me@acme.test"})
    assert _outcome(ok) == "Sent. The server answered: 250 2.0.0 Message accepted for delivery"
    [received] = smtp_peer.wait_for(1)
    assert (received.rcpt_tos, received.message["Subject"]) == (
        ["me@acme.test"],
        "Test email from Acme",
    )
    smtp_peer.fail_rcpt("me@acme.test", 550, "5.7.1 Relaying denied")
    refused = client.post("/settings/email/test/", {"to": "me@acme.test"})
    assert _outcome(refused) == "Refused. The server answered: RCPT: 550 5.7.1 Relaying denied"
    assert [(r.kind, r.status) for r in rows(acme)] == [("test", "sent"), ("test", "failed")]


def test_test_button_reports_an_unreachable_server(acme):
    connect(acme, type("Gone", (), {"host": "127.0.0.1", "port": free_port()}))
    response = acme.client(acme.admin).post("/settings/email/test/", {"to": "me@acme.test"})
    assert _outcome(response) == (
        "Not sent (temporary failure). The server answered: connection refused by the mail server"
    )
    assert [(r.status, r.send_after == r.created_at) for r in rows(acme)] == [("failed", True)]


def test_behaviour_and_defaults_pages_save(acme):
    client = acme.client(acme.admin)
    client.post(
        "/settings/email/",
        {
            "behaviour": "1",
            "mail-debounce_seconds": "30",
            "mail-new_ticket_alert_to": "all",
            "mail-auto_mail_limit": "5",
            "mail-auto_mail_window_minutes": "10",
        },
    )
    client.post(
        "/settings/notifications/",
        {
            "new_ticket_alert": "none",
            "customer_reply": "email",
            "assignment": "both",
            "sla_warning": "in_app",
            "sla_breach": "both",
            "automation_notice": "email",
        },
    )
    with acme.scope():
        saved = MailSettings.objects.get()
        defaults = dict(NotificationDefault.objects.values_list("kind", "channel"))
    assert (saved.debounce_seconds, saved.new_ticket_alert_to, saved.auto_mail_limit) == (
        30,
        "all",
        5,
    )
    assert defaults == {
        "new_ticket_alert": "none",
        "customer_reply": "email",
        "assignment": "both",
        "sla_warning": "in_app",
        "sla_breach": "both",
        "automation_notice": "email",
    }


def test_branding_page_takes_a_logo_and_refuses_other_files(acme):
    client = acme.client(acme.admin)
    fake = SimpleUploadedFile("logo.png", b"<svg onload=alert(1)>", content_type="image/png")
    data = {"accent_color": "#112233", "sender_name": "Acme Care", "footer_text": "Bye"}
    refused = client.post("/settings/branding/", {**data, "logo": fake})
    assert (refused.status_code, "Use a PNG or JPEG image." in refused.content.decode()) == (
        400,
        True,
    )
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    assert client.post("/settings/branding/", {**data, "logo": logo}).status_code == 302
    acme.org.refresh_from_db()
    assert (acme.org.accent_color, acme.org.sender_name, acme.org.footer_text) == (
        "#112233",
        "Acme Care",
        "Bye",
    )
    assert acme.org.logo.read() == PNG
    bad = client.post("/settings/branding/", {**data, "accent_color": "red;}</style>"})
    assert bad.status_code == 400


# -- the ticket page ---------------------------------------------------------------------------


def _delivery(page: str) -> list[str]:
    items = re.findall(r'<li class="delivery-\w+">(.*?)</li>', page, re.S)
    texts = [" ".join(re.sub(r"<[^>]+>", " ", html.unescape(i)).split()) for i in items]
    return [re.sub(r"[A-Z][a-z]{2} \d{1,2}, \d\d:\d\d", "<time>", t) for t in texts]


def test_ticket_page_shows_sent_failed_and_withheld(acme, globex, mailer, run):
    set_debounce(acme, 0)
    mailer.fail_rcpt("dan@customer.test", 550, "5.1.1 No such user")
    with acme.scope():
        with run():
            ticket = make_ticket(acme.org)
        for email in ("dan@customer.test", "support+old@acme.test"):
            contact = contact_get_or_create(organization=acme.org, email=email)
            collaborator_add(ticket=ticket, contact=contact)
        with run():
            comment_create(ticket=ticket, body_text="On it", author_user=acme.agent)
    with globex.scope(), run():
        make_ticket(globex.org, email="secret@globex-customer.test")
    page = acme.client(acme.agent).get("/agent/tickets/1/").content.decode()
    assert _delivery(page) == [
        "carol@customer.test : Sent · New ticket confirmation <time>",
        "carol@customer.test : Sent · Agent reply <time>",
        "dan@customer.test : Failed · Agent reply RCPT: 550 5.1.1 No such user",
        "support+old@acme.test : Not sent · Agent reply Not sent: this is one of our own "
        "addresses (it would loop back as a ticket).",
    ]
    assert "globex-customer" not in page


def test_ticket_page_query_count_stays_constant_with_mail(acme, mailer, run):
    set_debounce(acme, 0)
    client = acme.client(acme.agent)
    with acme.scope(), run():
        ticket = make_ticket(acme.org)
    one = _queries(client, ticket.number)
    with acme.scope():
        for i in range(6):
            contact = contact_get_or_create(organization=acme.org, email=f"c{i}@x.test")
            collaborator_add(ticket=ticket, contact=contact)
            with run():
                comment_create(ticket=ticket, body_text=f"r{i}", author_user=acme.agent)
    assert len(rows(acme)) == 3 + sum(range(2, 8))  # confirmation, alerts, a mail per reader
    assert _queries(client, ticket.number) == one


def _queries(client, number) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/agent/tickets/{number}/").status_code == 200
    return len(captured.captured_queries)


def test_selectors_never_read_another_tenants_settings(acme, globex, smtp_peer):
    connect(globex, smtp_peer)
    with acme.scope():
        assert (selectors.smtp_connection(), selectors.mail_settings().pk) == (None, None)
    with globex.scope():
        assert selectors.smtp_connection().host == smtp_peer.host


def test_a_tenant_smtp_server_inside_our_network_is_refused(acme, smtp_peer, settings):
    settings.OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS = False
    connect(acme, smtp_peer)
    response = acme.client(acme.admin).post("/settings/email/test/", {"to": "me@acme.test"})
    assert _outcome(response) == (
        "Not sent (temporary failure). The server answered: "
        "refused: 127.0.0.1 is not a public address (127.0.0.1)"
    )
    assert smtp_peer.messages == []


def test_platform_connection_tests_only_reach_members(acme, globex):
    client = acme.client(acme.admin)
    outsider = client.post("/settings/email/test/", {"to": "someone@elsewhere.test"})
    assert "tests go to members of this helpdesk" in outsider.content.decode()
    assert client.post("/settings/email/test/", {"to": globex.agent.email}).status_code == 200
    assert [r.to_address for r in rows(acme)] == []
    client.post("/settings/email/test/", {"to": "agent@acme.test"})
    assert [(r.to_address, r.status) for r in rows(acme)] == [("agent@acme.test", "sent")]
