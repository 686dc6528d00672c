"""IMAP polling against a real Dovecot on loopback (tests/peers/imap.py)."""

import pytest
from django.utils import timezone

from inbound_mail import tasks
from inbound_mail.models import InboundMessage, Mailbox
from inbound_mail.services import mailboxes
from tests.inbound.mails import mail
from tests.peers import free_port
from tickets.models import Ticket

SEEN, DELETED = "\\Seen", "\\Deleted"


def _mailbox(tenant, account, **fields) -> Mailbox:
    values = {
        "name": "Support",
        "host": account.host,
        "port": account.port,
        "security": "none",
        "username": account.username,
        "password": account.password,
        **fields,
    }
    with tenant.scope():
        return Mailbox.objects.create(organization=tenant.org, **values)


def _poll(tenant, mailbox, capture) -> int | None:
    with capture(execute=True):
        result = tasks.poll_mailbox.delay(mailbox.pk, organization_id=tenant.org.pk).get()
    with tenant.scope():
        mailbox.refresh_from_db()
    return result


def _subjects(tenant) -> list[str]:
    with tenant.scope():
        return list(Ticket.objects.order_by("number").values_list("subject", flat=True))


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture(autouse=True)
def _loopback_imap_allowed(settings):
    # The test Dovecot listens on loopback, which tenants' mailboxes may not use in production.
    settings.INBOUND_IMAP_ALLOW_PRIVATE_HOSTS = True


def test_poll_stores_processes_and_marks_seen(support, imap_account, capture):
    acme, globex = support
    first = imap_account.append(mail(subject="One", to="anyone@else.test"))
    second = imap_account.append(mail(subject="Two"))
    mailbox = _mailbox(acme, imap_account)
    assert _poll(acme, mailbox, capture) == 2
    # The mailbox is acme's: its mail is acme's whatever the To: says.
    assert (_subjects(acme), _subjects(globex)) == (["One", "Two"], [])
    assert (mailbox.last_uid, mailbox.pending_ack, mailbox.last_error) == (second, [], "")
    assert mailbox.uidvalidity == imap_account.uidvalidity()
    assert mailbox.last_polled_at is not None
    assert imap_account.flags() == {first: {SEEN}, second: {SEEN}}
    with acme.scope():
        assert set(InboundMessage.objects.values_list("source", "mailbox_id")) == {
            ("imap", mailbox.pk)
        }


def test_message_already_read_by_a_person_is_still_ingested(support, imap_account, capture):
    acme, _ = support
    uid = imap_account.append(mail(subject="Read in Thunderbird"), flags=[SEEN])
    mailbox = _mailbox(acme, imap_account)
    _poll(acme, mailbox, capture)
    assert (_subjects(acme), mailbox.last_uid) == (["Read in Thunderbird"], uid)


def test_second_poll_fetches_only_new_mail(support, imap_account, capture):
    acme, _ = support
    imap_account.append(mail(subject="Old"))
    mailbox = _mailbox(acme, imap_account)
    _poll(acme, mailbox, capture)
    imap_account.append(mail(subject="New"))
    assert _poll(acme, mailbox, capture) == 1
    assert _subjects(acme) == ["Old", "New"]


def test_uidvalidity_change_resyncs_without_duplicates(support, imap_account, capture):
    acme, _ = support
    imap_account.append(mail(subject="Before"))
    mailbox = _mailbox(acme, imap_account)
    _poll(acme, mailbox, capture)
    old_validity = mailbox.uidvalidity
    new_validity = imap_account.reset_uidvalidity()
    imap_account.append(mail(subject="After"))
    _poll(acme, mailbox, capture)
    assert new_validity != old_validity
    assert (mailbox.uidvalidity, mailbox.last_uid) == (new_validity, max(imap_account.list_uids()))
    assert _subjects(acme) == ["Before", "After"]
    with acme.scope():
        assert InboundMessage.objects.count() == 2


def test_after_intake_move_and_delete(support, imap_account, capture):
    acme, _ = support
    imap_account.append(mail(subject="Move me"))
    mailbox = _mailbox(acme, imap_account, after_intake="move", move_to="Processed")
    _poll(acme, mailbox, capture)
    assert (imap_account.list_uids(), len(imap_account.list_uids("Processed"))) == ([], 1)
    with acme.scope():
        Mailbox.objects.filter(pk=mailbox.pk).update(after_intake="delete")
    imap_account.append(mail(subject="Delete me"))
    _poll(acme, mailbox, capture)
    assert (imap_account.list_uids(), _subjects(acme)) == ([], ["Move me", "Delete me"])


def test_connection_failure_is_recorded_and_other_mailboxes_still_poll(
    support, imap_account, capture
):
    acme, globex = support
    imap_account.append(mail(subject="Globex mail", to="help@globex.test"))
    broken = _mailbox(acme, imap_account, name="Broken", port=free_port())
    working = _mailbox(globex, imap_account, name="Working")
    with capture(execute=True):
        assert tasks.poll_mailboxes.delay().get() == 2
    with acme.scope():
        broken.refresh_from_db()
    assert broken.last_error == f"Connection refused to 127.0.0.1:{broken.port}"
    assert (broken.last_error_at is not None, broken.polling_until) == (True, None)
    assert (_subjects(acme), _subjects(globex)) == ([], ["Globex mail"])
    with globex.scope():
        working.refresh_from_db()
    assert working.last_error == ""


def test_login_failure_is_recorded_and_cleared_by_the_next_good_poll(
    support, imap_account, capture
):
    acme, _ = support
    mailbox = _mailbox(acme, imap_account, password="wrong")
    _poll(acme, mailbox, capture)
    assert mailbox.last_error.startswith("Login failed: ")
    with acme.scope():
        mailbox.password = imap_account.password
        mailboxes.mailbox_save(mailbox=mailbox)
    _poll(acme, mailbox, capture)
    assert mailbox.last_error == ""


def test_acknowledge_failure_keeps_uids_for_the_next_poll(support, imap_account, capture):
    acme, _ = support
    uid = imap_account.append(mail(subject="Ack later"))
    # "Move" to a name too long for the server once UTF-7 encoded: stored, not acknowledged.
    mailbox = _mailbox(acme, imap_account, after_intake="move", move_to="é" * 150)
    _poll(acme, mailbox, capture)
    assert (mailbox.pending_ack, _subjects(acme)) == ([uid], ["Ack later"])
    assert mailbox.last_error != ""
    with acme.scope():
        Mailbox.objects.filter(pk=mailbox.pk).update(move_to="Done")
    _poll(acme, mailbox, capture)
    assert (mailbox.pending_ack, imap_account.list_uids(), mailbox.last_error) == ([], [], "")
    assert _subjects(acme) == ["Ack later"]


def test_a_poll_in_progress_is_not_polled_twice(support, imap_account, capture):
    acme, _ = support
    mailbox = _mailbox(acme, imap_account)
    with acme.scope():
        Mailbox.objects.filter(pk=mailbox.pk).update(
            polling_until=timezone.now() + mailboxes.POLL_CLAIM
        )
    assert _poll(acme, mailbox, capture) is None


def test_disabled_mailbox_is_not_polled(support, imap_account, capture):
    acme, _ = support
    imap_account.append(mail(subject="Nobody fetches me"))
    mailbox = _mailbox(acme, imap_account, enabled=False)
    with capture(execute=True):
        assert tasks.poll_mailboxes.delay().get() == 0
    assert _poll(acme, mailbox, capture) is None
    assert _subjects(acme) == []


def test_test_connection_reports_the_exact_result(support, imap_account):
    acme, _ = support
    good = _mailbox(acme, imap_account)
    refused = _mailbox(acme, imap_account, name="Refused", port=free_port())
    with acme.scope():
        worked, text = mailboxes.mailbox_test(mailbox=good)
        assert (worked, text) == (
            True,
            f"Logged in to 127.0.0.1:{imap_account.port} as {imap_account.username} "
            "without encryption; INBOX holds 0 message(s).",
        )
        assert mailboxes.mailbox_test(mailbox=refused) == (
            False,
            f"Connection refused to 127.0.0.1:{refused.port}",
        )


def test_password_is_encrypted_at_rest(support, imap_account):
    acme, _ = support
    mailbox = _mailbox(acme, imap_account)
    with acme.scope():
        stored = Mailbox.objects.filter(pk=mailbox.pk).values_list("password", flat=True)
        # values_list goes through from_db_value too; read the column as stored.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT password FROM inbound_mail_mailbox WHERE id = %s", [mailbox.pk])
            (raw,) = cursor.fetchone()
    assert list(stored) == [imap_account.password]
    assert raw.startswith("fernet:")
    assert imap_account.password not in raw
