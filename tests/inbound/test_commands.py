"""manage.py ingest_email and parse_email."""

import io
import json
import mailbox
import sys

import pytest
from django.core.management import CommandError, call_command
from django_scopes import scopes_disabled

from inbound_mail.models import InboundMessage, UnclaimedMessage
from tests.inbound.mails import mail
from tickets.models import Ticket


def _ingest(*args, stdin: bytes | None = None, capture=None) -> str:
    out = io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        with capture(execute=True):
            call_command("ingest_email", *args, stdout=out, stderr=io.StringIO())
    finally:
        sys.stdin = old_stdin
    return out.getvalue().strip()


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def _subjects(tenant) -> list[str]:
    with tenant.scope():
        return sorted(Ticket.objects.values_list("subject", flat=True))


def test_ingest_files_and_folders(support, tmp_path, capture):
    acme, globex = support
    (tmp_path / "one.eml").write_bytes(mail(subject="One"))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.eml").write_bytes(mail(subject="Two", to="help@globex.test"))
    (folder / "b.msg").write_bytes(mail(subject="Three", to="nobody@unknown.test"))
    output = _ingest(str(tmp_path / "one.eml"), str(folder), capture=capture)
    assert output == "stored 3 message(s), 1 of them claimed by no tenant"
    assert (_subjects(acme), _subjects(globex)) == (["One"], ["Two"])
    assert list(UnclaimedMessage.objects.values_list("subject", flat=True)) == ["Three"]


def test_ingest_mbox_and_maildir(support, tmp_path, capture):
    acme, _ = support
    box = mailbox.mbox(tmp_path / "archive.mbox")
    for subject in ("Mbox one", "Mbox two"):
        box.add(mail(subject=subject))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(mail(subject="Maildir one"))
    output = _ingest(str(tmp_path / "archive.mbox"), str(tmp_path / "Maildir"), capture=capture)
    assert output == "stored 3 message(s), 0 of them claimed by no tenant"
    assert _subjects(acme) == ["Maildir one", "Mbox one", "Mbox two"]


def test_ingest_stdin_with_fallback_tenant(support, capture):
    _, globex = support
    raw = mail(subject="From the MTA", to="nobody@unknown.test")
    output = _ingest("--tenant", "globex", "-", stdin=raw, capture=capture)
    assert output == "stored 1 message(s), 0 of them claimed by no tenant"
    assert _subjects(globex) == ["From the MTA"]
    with scopes_disabled():
        assert InboundMessage.objects.get().source == "command"


def test_ingest_exits_75_when_storage_is_down(support, settings, tmp_path, capture):
    # The storage root is a file, not a folder: every write fails as on a full or gone disk.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker)},
        },
    }
    with pytest.raises(CommandError) as error:
        _ingest("-", stdin=mail(), capture=capture)
    assert (error.value.returncode, str(error.value)) == (75, "1 message(s) not stored")
    with scopes_disabled():
        assert InboundMessage.objects.count() == 0


def test_ingest_unknown_tenant_defers(support, capture):
    with pytest.raises(CommandError) as error:
        _ingest("--tenant", "nope", "-", stdin=mail(), capture=capture)
    assert (error.value.returncode, str(error.value)) == (75, "no tenant 'nope'")


def test_ingest_missing_path_is_an_error(support, capture, tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        _ingest(str(tmp_path / "missing.eml"), capture=capture)


def test_parse_email_json(tmp_path):
    raw = mail(
        sender="Carol <carol@customer.test>",
        subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?=",
        body="Hello\n\n> quoted\n",
        message_id="abc@customer.test",
        attachments=[("a.txt", "text/plain", b"x")],
    )
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    out = io.StringIO()
    call_command("parse_email", str(path), "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert sorted(data) == sorted(
        [
            "message_id",
            "in_reply_to",
            "references",
            "from",
            "to",
            "cc",
            "reply_to",
            "subject",
            "date",
            "text",
            "text_full",
            "html",
            "attachments",
            "auto_generated",
            "auto_reason",
            "bounce",
            "forwarded_from",
            "bcc",
            "thread_index",
            "thread_topic",
            "skipped_before_headers",
        ]
    )
    assert (data["message_id"], data["subject"], data["text"]) == (
        "abc@customer.test",
        "Grüße",
        "Hello",
    )
    assert data["from"] == {"name": "Carol", "address": "carol@customer.test"}
    assert [(a["filename"], a["size"]) for a in data["attachments"]] == [("a.txt", 1)]
    assert (data["bounce"], data["forwarded_from"], data["auto_generated"]) == (None, None, False)
