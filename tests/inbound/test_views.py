"""Settings pages, "Mark as spam", and the platform quarantine: who may see what."""

import re

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from inbound_mail import raw_mail
from inbound_mail.models import InboundAddress, InboundMessage, Mailbox, SpamRule, UnclaimedMessage
from tenants.models import User
from tests.inbound.mails import mail
from tests.peers import free_port
from tickets.models import Contact, CustomerDomain, Ticket
from tickets.services.contacts import contact_get_or_create

PAGES = [
    "/settings/mail/quarantine/",
    "/settings/mail/addresses/",
    "/settings/mail/mailboxes/",
    "/settings/mail/mailboxes/new/",
    "/settings/mail/spam/",
    "/settings/mail/domains/",
]


def _quarantined(tenant, deliver, subject: str) -> InboundMessage:
    [row] = deliver(mail(subject=subject, sender="nobody", to=_address(tenant)))
    return row


def _address(tenant) -> str:
    return "support@acme.test" if tenant.org.slug == "acme" else "help@globex.test"


def _ids(response, prefix: str) -> list[int]:
    return [int(n) for n in re.findall(rf'id="{prefix}-(\d+)"', response.content.decode())]


@pytest.mark.parametrize("path", PAGES)
def test_settings_pages_are_for_admins_only(support, path):
    acme, globex = support
    assert acme.client(acme.admin).get(path).status_code == 200
    assert acme.client(acme.agent).get(path).status_code == 404
    assert acme.client(globex.admin).get(path).status_code == 404
    assert acme.client().get(path)["Location"] == f"/login/?next={path}"


def test_quarantine_lists_only_this_tenants_mail(support, deliver):
    acme, globex = support
    mine = _quarantined(acme, deliver, "Acme broken")
    _quarantined(globex, deliver, "Globex broken")
    response = acme.client(acme.admin).get("/settings/mail/quarantine/")
    assert _ids(response, "message") == [mine.pk]
    assert "no sender address" in response.content.decode()


def test_quarantine_query_count_is_constant(support, deliver):
    acme, _ = support
    client = acme.client(acme.admin)
    _quarantined(acme, deliver, "one")
    client.get("/settings/mail/quarantine/")  # warm the session and the rail's cache
    with CaptureQueriesContext(connection) as one:
        client.get("/settings/mail/quarantine/")
    for n in range(5):
        _quarantined(acme, deliver, f"more {n}")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/settings/mail/quarantine/")
    assert len(_ids(response, "message")) == 6
    assert len(many) == len(one) <= 6


def test_ignored_tab_lists_set_aside_mail(support, deliver):
    acme, _ = support
    [row] = deliver(mail(subject="Auto", headers={"Auto-Submitted": "auto-replied"}))
    response = acme.client(acme.admin).get("/settings/mail/quarantine/?show=ignored")
    assert _ids(response, "message") == [row.pk]


def test_download_raw_of_own_message_only(support, deliver):
    acme, globex = support
    row = _quarantined(acme, deliver, "Download me")
    other = _quarantined(globex, deliver, "Not yours")
    client = acme.client(acme.admin)
    response = client.get(f"/settings/mail/messages/{row.pk}/raw/")
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == f'attachment; filename="message-{row.pk}.eml"'
    assert raw_mail.digest(response.content) == row.sha256
    assert client.get(f"/settings/mail/messages/{other.pk}/raw/").status_code == 404


def test_download_of_raw_missing_from_storage_is_404(support, deliver):
    acme, _ = support
    row = _quarantined(acme, deliver, "Lost bytes")
    default_storage.delete(raw_mail.raw_storage_path(row.sha256))
    response = acme.client(acme.admin).get(f"/settings/mail/messages/{row.pk}/raw/")
    assert response.status_code == 404


def test_reprocess_and_delete(support, deliver, django_capture_on_commit_callbacks):
    acme, globex = support
    row = _quarantined(acme, deliver, "Again")
    other = _quarantined(globex, deliver, "Globex")
    client = acme.client(acme.admin)
    assert client.post(f"/settings/mail/messages/{other.pk}/reprocess/").status_code == 404
    assert client.post(f"/settings/mail/messages/{other.pk}/delete/").status_code == 404
    first_done = row.processed_at
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/settings/mail/messages/{row.pk}/reprocess/")
    assert response["Location"] == "/settings/mail/quarantine/"
    with acme.scope():
        row.refresh_from_db()
    # Processed again, with the same answer: it still has no sender.
    assert (row.status, row.processed_at > first_done) == ("quarantined", True)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/settings/mail/messages/{row.pk}/delete/")
    with scopes_disabled():
        assert list(InboundMessage.objects.values_list("subject", flat=True)) == ["Globex"]
    assert default_storage.exists(row.raw_path) is False
    assert default_storage.exists(other.raw_path) is True


def test_addresses_add_default_and_remove(support):
    acme, globex = support
    client = acme.client(acme.admin)
    response = client.post(
        "/settings/mail/addresses/", {"address": "Sales@ACME.localhost", "plus_addressing": "on"}
    )
    assert response.status_code == 302
    taken = client.post("/settings/mail/addresses/", {"address": "help@globex.test"})
    assert taken.status_code == 400
    assert "globex.test is not verified" in taken.content.decode()
    with acme.scope():
        sales = InboundAddress.objects.get(address="sales@acme.localhost")
        client.post(f"/settings/mail/addresses/{sales.pk}/default/")
        assert list(InboundAddress.objects.values_list("address", "is_default")) == [
            ("sales@acme.localhost", True),
            ("support@acme.test", False),
        ]
        client.post(f"/settings/mail/addresses/{sales.pk}/delete/")
        assert list(InboundAddress.objects.values_list("address", "is_default")) == [
            ("support@acme.test", True)
        ]
    with globex.scope():
        other = InboundAddress.objects.get()
    assert client.post(f"/settings/mail/addresses/{other.pk}/delete/").status_code == 404


def test_mailbox_form_and_test_connection(support, settings):
    settings.INBOUND_IMAP_ALLOW_PRIVATE_HOSTS = True  # the refused port is on loopback
    acme, globex = support
    client = acme.client(acme.admin)
    port = free_port()
    data = {
        "name": "Support",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": "support",
        "password": "pw",
        "folder": "INBOX",
        "after_intake": "seen",
        "enabled": "on",
    }
    assert client.post("/settings/mail/mailboxes/new/", data).status_code == 302
    with acme.scope():
        box = Mailbox.objects.get()
    # Leaving the password empty keeps it.
    client.post(f"/settings/mail/mailboxes/{box.pk}/", {**data, "password": "", "name": "Renamed"})
    with acme.scope():
        box.refresh_from_db()
    assert (box.name, box.password) == ("Renamed", "pw")
    response = client.post(f"/settings/mail/mailboxes/{box.pk}/test/")
    assert f"Connection failed. Connection refused to 127.0.0.1:{port}" in response.content.decode()
    move_without_folder = client.post(
        "/settings/mail/mailboxes/new/", {**data, "after_intake": "move", "move_to": ""}
    )
    assert move_without_folder.status_code == 400
    with globex.scope():
        theirs = Mailbox.objects.create(organization=globex.org, name="G", host="h", username="u")
    assert client.post(f"/settings/mail/mailboxes/{theirs.pk}/test/").status_code == 404
    assert client.get(f"/settings/mail/mailboxes/{theirs.pk}/").status_code == 404


def test_mailbox_list_shows_last_error(support):
    acme, _ = support
    with acme.scope():
        Mailbox.objects.create(
            organization=acme.org,
            name="Box",
            host="imap.acme.test",
            username="u",
            last_error="Login failed: [AUTHENTICATIONFAILED]",
        )
    page = acme.client(acme.admin).get("/settings/mail/mailboxes/").content.decode()
    assert "Login failed: [AUTHENTICATIONFAILED]" in page


def test_spam_list_add_and_remove(support):
    acme, globex = support
    client = acme.client(acme.admin)
    assert client.post("/settings/mail/spam/", {"value": "@Spam.example"}).status_code == 302
    assert client.post("/settings/mail/spam/", {"value": "not a domain"}).status_code == 400
    with acme.scope():
        rule = SpamRule.objects.get()
    assert (rule.value, rule.kind, rule.created_by) == ("spam.example", "domain", acme.admin)
    with globex.scope():
        assert SpamRule.objects.count() == 0
    client.post(f"/settings/mail/spam/{rule.pk}/delete/")
    with acme.scope():
        assert SpamRule.objects.count() == 0


def test_customer_domains(support):
    acme, globex = support
    with acme.scope():
        contact_get_or_create(organization=acme.org, email="ann@northwind.test")
    client = acme.client(acme.admin)
    data = {"domain": "NorthWind.test", "customer": "Northwind"}
    assert client.post("/settings/mail/domains/", data).status_code == 302
    assert client.post("/settings/mail/domains/", data).status_code == 400
    with acme.scope():
        mapping = CustomerDomain.objects.select_related("customer").get()
        ann = Contact.objects.select_related("customer").get(email="ann@northwind.test")
    assert (mapping.domain, mapping.customer.name, ann.customer) == (
        "northwind.test",
        "Northwind",
        mapping.customer,
    )
    assert (
        globex.client(globex.admin).post(f"/settings/mail/domains/{mapping.pk}/delete/").status_code
        == 404
    )
    client.post(f"/settings/mail/domains/{mapping.pk}/delete/")
    with acme.scope():
        assert CustomerDomain.objects.count() == 0


def test_mark_as_spam_on_a_ticket(support, deliver):
    acme, globex = support
    [row] = deliver(mail(sender="pest@spam.test"))
    page = acme.client(acme.agent).get(f"/agent/tickets/{row.ticket.number}/").content.decode()
    assert f'action="/agent/tickets/{row.ticket.number}/spam/"' in page
    assert (
        globex.client(globex.agent).post(f"/agent/tickets/{row.ticket.number}/spam/").status_code
        == 404
    )
    response = acme.client(acme.agent).post(f"/agent/tickets/{row.ticket.number}/spam/")
    assert response["Location"] == f"/agent/tickets/{row.ticket.number}/"
    with acme.scope():
        assert list(SpamRule.objects.values_list("value", flat=True)) == ["pest@spam.test"]
        assert Ticket.objects.get(pk=row.ticket_id).status_category == "closed"
    with globex.scope():
        assert SpamRule.objects.count() == 0


# -- the platform quarantine -----------------------------------------------------------------


@pytest.fixture
def staff(db):
    return User.objects.create_user(email="ops@platform.test", password="pw", is_staff=True)


def _platform(user=None) -> Client:
    client = Client(HTTP_HOST="localhost")
    if user is not None:
        client.force_login(user)
    return client


def test_platform_quarantine_is_for_platform_staff(support, deliver, staff):
    acme, _ = support
    deliver(mail(to="lost@unknown.test", subject="Unclaimed"))
    row = UnclaimedMessage.objects.get()
    page = _platform(staff).get("/platform/quarantine/")
    assert _ids(page, "unclaimed") == [row.pk]
    assert _platform(acme.admin).get("/platform/quarantine/").status_code == 404
    assert (
        _platform().get("/platform/quarantine/")["Location"] == "/login/?next=/platform/quarantine/"
    )
    # Nor is it on a tenant's host.
    assert acme.client(acme.admin).get("/platform/quarantine/").status_code == 404
    raw = _platform(staff).get(f"/platform/quarantine/{row.pk}/raw/")
    assert raw_mail.digest(raw.content) == row.sha256


def test_platform_login_is_staff_only(support, staff):
    acme, _ = support
    ok = _platform().post("/login/", {"username": "ops@platform.test", "password": "pw"})
    assert ok["Location"] == "/platform/quarantine/"
    refused = _platform().post("/login/", {"username": acme.admin.email, "password": "pw"})
    assert refused.status_code == 200


def test_platform_reprocess_routes_once_the_address_exists(
    support, deliver, staff, django_capture_on_commit_callbacks
):
    acme, _ = support
    deliver(mail(to="billing@acme.test", subject="Early"))
    row = UnclaimedMessage.objects.get()
    client = _platform(staff)
    client.post(f"/platform/quarantine/{row.pk}/reprocess/")
    assert UnclaimedMessage.objects.count() == 1  # still nobody's
    with acme.scope():
        InboundAddress.objects.create(organization=acme.org, address="billing@acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/platform/quarantine/{row.pk}/reprocess/")
    assert UnclaimedMessage.objects.count() == 0
    with acme.scope():
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["Early"]


def test_platform_delete_removes_raw_bytes(
    support, deliver, staff, django_capture_on_commit_callbacks
):
    deliver(mail(to="lost@unknown.test"))
    row = UnclaimedMessage.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        _platform(staff).post(f"/platform/quarantine/{row.pk}/delete/")
    assert (UnclaimedMessage.objects.count(), default_storage.exists(row.raw_path)) == (0, False)
