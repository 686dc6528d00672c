"""The audit log: every settings change and every sign-in of a tenant, without secrets, shown to
its admins only, newest first, in pages of 50 with a fixed number of queries."""

import re
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scopes_disabled

from tenants.audit import audit_record
from tenants.models import AuditEntry, Membership
from tickets.models import Status

AUDIT_URL = "/settings/audit/"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _entries(tenant) -> list[tuple]:
    with tenant.scope():
        return [
            (e.action, e.actor.email if e.actor else None, e.target, e.object_id, e.data)
            for e in AuditEntry.objects.select_related("actor").order_by("pk")
        ]


def _client(tenant, **extra) -> Client:
    return Client(HTTP_HOST=f"{tenant.org.slug}.localhost", REMOTE_ADDR="198.51.100.4", **extra)


# -- settings changes ----------------------------------------------------------------------------


def test_a_status_rename_is_recorded(acme):
    with acme.scope():
        status = Status.objects.get(name="Open")
    client = acme.client(acme.admin)
    response = client.post(
        "/settings/statuses/", {"id": status.pk, "name": "Triage", "category": "open"}
    )
    assert response.status_code == 302
    fields = {"id": str(status.pk), "name": "Triage", "category": "open"}
    assert _entries(acme) == [
        (
            "settings_change",
            "admin@acme.test",
            "settings_statuses",
            "",
            {"path": "/settings/statuses/", "fields": fields},
        )
    ]


def test_a_member_role_change_names_the_membership(acme):
    with acme.scope():
        membership = Membership.objects.get(user=acme.agent)
    acme.client(acme.admin).post(f"/settings/members/{membership.pk}/role/", {"role": "admin"})
    path = f"/settings/members/{membership.pk}/role/"
    assert _entries(acme) == [
        (
            "settings_change",
            "admin@acme.test",
            "settings_member_role",
            str(membership.pk),
            {"path": path, "fields": {"role": "admin"}},
        )
    ]


def test_an_smtp_password_is_never_stored_in_the_log(acme, smtp_peer):
    form = {
        "smtp": "1",
        "smtp-enabled": "on",
        "smtp-host": smtp_peer.host,
        "smtp-port": str(smtp_peer.port),
        "smtp-security": "none",
        "smtp-username": "mailer",
        "smtp-password": "s3cret-Pa55",
        "smtp-from_address": "help@acme.test",
        "smtp-from_name": "Acme Help",
        "smtp-reply_to_address": "",
    }
    client = acme.client(acme.admin)
    assert client.post("/settings/email/", form).status_code == 302
    [entry] = _entries(acme)
    assert (entry[2], entry[4]["fields"]["smtp-password"]) == ("outbound_mail:email", "(changed)")
    assert entry[4]["fields"]["smtp-username"] == "mailer"
    with acme.scope():
        stored = str(list(AuditEntry.objects.values_list("data", "target", "object_id")))
    assert "s3cret-Pa55" not in stored
    assert "s3cret-Pa55" not in client.get(AUDIT_URL).content.decode()


def test_an_upload_is_recorded_by_name_and_size(acme):
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")
    data = {"accent_color": "#112233", "sender_name": "Acme Care", "footer_text": "Bye"}
    assert (
        acme.client(acme.admin).post("/settings/branding/", {**data, "logo": logo}).status_code
        == 302
    )
    [entry] = _entries(acme)
    assert entry[4]["fields"] == {**data, "logo": {"name": "logo.png", "size": len(PNG)}}


def test_a_refused_change_is_not_recorded(acme):
    client = acme.client(acme.admin)
    invalid = client.post("/settings/statuses/", {"name": "", "category": "bogus"})
    with acme.scope():
        admin_membership = Membership.objects.get(user=acme.admin)
    # The only admin cannot demote themselves: a redirect carrying an error message.
    refused = client.post(f"/settings/members/{admin_membership.pk}/role/", {"role": "agent"})
    preview_or_test = client.post("/settings/email/test/", {"to": "not an address"})
    assert (invalid.status_code, refused.status_code) == (400, 302)
    assert preview_or_test.status_code in (200, 400)
    assert _entries(acme) == []


def test_posts_outside_settings_and_by_outsiders_are_not_recorded(acme, globex):
    acme.client(acme.agent).post("/settings/statuses/", {"name": "X", "category": "open"})
    acme.client(globex.admin).post("/settings/statuses/", {"name": "Y", "category": "open"})
    acme.client().post("/settings/statuses/", {"name": "Z", "category": "open"})
    assert (_entries(acme), _entries(globex)) == ([], [])


# -- sign-in ---------------------------------------------------------------------------------


def test_sign_in_and_sign_out_are_recorded(acme):
    client = _client(acme)
    assert (
        client.post("/login/", {"username": acme.agent.email, "password": "pw"}).status_code == 302
    )
    client.post("/logout/")
    assert _entries(acme) == [
        ("sign_in", "agent@acme.test", "agent@acme.test", "", {}),
        ("sign_out", "agent@acme.test", "agent@acme.test", "", {}),
    ]
    with acme.scope():
        assert list(AuditEntry.objects.values_list("ip", flat=True)) == ["198.51.100.4"] * 2


def test_a_failed_sign_in_of_a_member_is_recorded_and_strangers_are_not(acme, globex):
    client = _client(acme)
    wrong = client.post("/login/", {"username": "AGENT@acme.test", "password": "nope"})
    client.post("/login/", {"username": "nobody@acme.test", "password": "nope"})
    client.post("/login/", {"username": globex.agent.email, "password": "nope"})
    assert wrong.status_code == 200
    assert _entries(acme) == [("sign_in_failed", "agent@acme.test", "agent@acme.test", "", {})]
    assert _entries(globex) == []
    with acme.scope():
        assert "nope" not in str(list(AuditEntry.objects.values_list("data", flat=True)))


# -- the page --------------------------------------------------------------------------------


def test_the_audit_page_is_for_admins_only(acme, globex):
    assert acme.client(acme.agent).get(AUDIT_URL).status_code == 404
    assert acme.client(globex.admin).get(AUDIT_URL).status_code == 404
    assert acme.client().get(AUDIT_URL).status_code == 302
    assert acme.client(acme.admin).get(AUDIT_URL).status_code == 200


def test_the_audit_page_never_shows_another_tenants_entries(acme, globex):
    _client(globex).post("/login/", {"username": globex.agent.email, "password": "pw"})
    with globex.scope():
        status = Status.objects.get(name="Open")
    globex.client(globex.admin).post(
        "/settings/statuses/", {"id": status.pk, "name": "Globex secret stage", "category": "open"}
    )
    assert len(_entries(globex)) == 2
    body = acme.client(acme.admin).get(AUDIT_URL).content.decode()
    assert "Globex secret stage" not in body
    assert "globex.test" not in body
    assert "Nothing recorded yet." in body


def _add_entries(tenant, count: int) -> None:
    start = timezone.now() - timedelta(hours=1)
    with tenant.scope():
        for n in range(count):
            entry = audit_record(
                organization=tenant.org,
                action=AuditEntry.SETTINGS_CHANGE,
                actor=tenant.admin if n % 2 else tenant.agent,
                ip="192.0.2.1",
                target=f"change-{n:03d}",
            )
            entry.created_at = start + timedelta(seconds=n)
            entry.save(update_fields=["created_at"])


def _queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        body = client.get(url).content.decode()
    return len(queries), body


def test_the_audit_page_is_newest_first_in_pages_of_50_with_fixed_queries(acme):
    client = acme.client(acme.admin)
    client.get(AUDIT_URL)  # warm: the first request of a client loads its session
    _add_entries(acme, 1)
    one, _ = _queries(client, AUDIT_URL)
    with scopes_disabled():  # the test empties the log of its one tenant
        AuditEntry.objects.all().delete()
    _add_entries(acme, 60)
    many, first_page = _queries(client, AUDIT_URL)
    _, second_page = _queries(client, f"{AUDIT_URL}?page=2")

    assert one == many
    first = re.findall(r"change-(\d{3})", first_page)
    second = re.findall(r"change-(\d{3})", second_page)
    assert (first[0], first[-1], len(first)) == ("059", "010", 50)
    assert (second[0], second[-1], len(second)) == ("009", "000", 10)
    assert "Page 1 of 2" in first_page
