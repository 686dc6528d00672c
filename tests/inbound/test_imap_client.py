"""inbound_mail.imap against a real Dovecot on loopback (tests/peers/imap.py)."""

import dataclasses
import re
import socket

import pytest

from inbound_mail import imap
from inbound_mail.imap import FetchedMessage, ImapError, ImapSettings, acknowledge, fetch_new
from tests.peers import LOOPBACK, free_port
from tests.peers.imap import ImapAccount, ImapPeer

DELETED, SEEN = "\\Deleted", "\\Seen"


def _settings(account: ImapAccount, **changes) -> ImapSettings:
    settings = ImapSettings(
        host=account.host,
        port=account.port,
        security="none",
        username=account.username,
        password=account.password,
        timeout=5,
        allow_private=True,  # the test Dovecot listens on loopback
    )
    return dataclasses.replace(settings, **changes)


def _mail(n: int) -> bytes:
    return (
        f"From: customer{n}@example.com\r\nTo: support@acme.test\r\n"
        f"Subject: Printer {n} is on fire\r\nMessage-ID: <{n}@example.com>\r\n\r\nHelp!\r\n"
    ).encode()


@pytest.fixture(scope="module")
def old_imap_peer(imap_peer):
    """Dovecot announcing neither MOVE (RFC 6851) nor UIDPLUS (RFC 4315), like older servers.
    Depends on imap_peer for its skip when Dovecot is missing."""
    with ImapPeer(capability="IMAP4rev1 LITERAL+ SASL-IR NAMESPACE CHILDREN") as peer:
        yield peer


# fetch_new


def test_fetch_new_returns_new_messages_in_uid_order(imap_account):
    uids = [imap_account.append(_mail(n)) for n in range(3)]

    result = fetch_new(_settings(imap_account), last_uid=0, uidvalidity=None)

    assert result.messages == [FetchedMessage(uid, _mail(n)) for n, uid in enumerate(uids)]
    assert result.uidvalidity == imap_account.uidvalidity()
    assert result.uidvalidity_changed is False
    assert result.last_uid == uids[-1]
    assert result.has_more is False


def test_fetch_new_twice_returns_nothing_the_second_time(imap_account):
    imap_account.append(_mail(1))
    first = fetch_new(_settings(imap_account), last_uid=0, uidvalidity=None)

    # UID SEARCH "<last+1>:*" still matches the highest UID (RFC 3501 section 6.4.8).
    second = fetch_new(
        _settings(imap_account), last_uid=first.last_uid, uidvalidity=first.uidvalidity
    )

    assert second.messages == []
    assert second.last_uid == first.last_uid
    assert second.uidvalidity_changed is False


def test_fetch_new_returns_only_messages_after_last_uid(imap_account):
    first = imap_account.append(_mail(1))
    second = imap_account.append(_mail(2))
    uidvalidity = imap_account.uidvalidity()

    result = fetch_new(_settings(imap_account), last_uid=first, uidvalidity=uidvalidity)

    assert result.messages == [FetchedMessage(second, _mail(2))]


def test_fetch_new_leaves_flags_unchanged(imap_account):
    uid = imap_account.append(_mail(1))

    fetch_new(_settings(imap_account), last_uid=0, uidvalidity=None)

    assert imap_account.flags() == {uid: set()}


def test_fetch_new_includes_message_already_seen_by_a_person(imap_account):
    uid = imap_account.append(_mail(1))
    imap_account.set_flags(uid, [SEEN])

    result = fetch_new(_settings(imap_account), last_uid=0, uidvalidity=None)

    assert result.messages == [FetchedMessage(uid, _mail(1))]


def test_fetch_new_with_empty_folder_returns_nothing(imap_account):
    result = fetch_new(_settings(imap_account), last_uid=0, uidvalidity=None)

    assert result.messages == []
    assert result.last_uid == 0
    assert result.uidvalidity == imap_account.uidvalidity()


def test_fetch_new_in_batches_reports_more(imap_account):
    uids = [imap_account.append(_mail(n)) for n in range(5)]
    settings, last_uid, uidvalidity, batches = _settings(imap_account), 0, None, []

    while True:
        result = fetch_new(settings, last_uid=last_uid, uidvalidity=uidvalidity, batch=2)
        batches.append(([m.uid for m in result.messages], result.has_more))
        last_uid, uidvalidity = result.last_uid, result.uidvalidity
        if not result.has_more:
            break

    assert batches == [(uids[0:2], True), (uids[2:4], True), (uids[4:], False)]


def test_fetch_new_after_uidvalidity_change_fetches_everything_again(imap_account):
    imap_account.append(_mail(1))
    imap_account.append(_mail(2))
    before = fetch_new(_settings(imap_account), last_uid=0, uidvalidity=None)
    new_uidvalidity = imap_account.reset_uidvalidity()

    after = fetch_new(
        _settings(imap_account), last_uid=before.last_uid, uidvalidity=before.uidvalidity
    )

    assert after.uidvalidity == new_uidvalidity != before.uidvalidity
    assert after.uidvalidity_changed is True
    assert [m.raw for m in after.messages] == [_mail(1), _mail(2)]
    assert after.last_uid == max(imap_account.list_uids())


def test_fetch_new_from_folder_with_space_in_name(imap_account):
    uid = imap_account.append(_mail(1), folder="Support Queue")

    result = fetch_new(
        _settings(imap_account, folder="Support Queue"), last_uid=0, uidvalidity=None
    )

    assert result.messages == [FetchedMessage(uid, _mail(1))]


# acknowledge


def test_acknowledge_seen_flags_only_the_given_messages(imap_account):
    done, waiting = imap_account.append(_mail(1)), imap_account.append(_mail(2))

    acknowledge(_settings(imap_account), [done], "seen")

    assert imap_account.flags() == {done: {SEEN}, waiting: set()}


def test_acknowledge_move_creates_the_target_folder(imap_account):
    done, waiting = imap_account.append(_mail(1)), imap_account.append(_mail(2))

    acknowledge(_settings(imap_account), [done], "move", move_to="Traité")

    # Folder names travel in modified UTF-7 (RFC 3501 section 5.1.3).
    assert imap_account.folders() == ["INBOX", "Trait&AOk-"]
    assert imap_account.list_uids() == [waiting]
    assert len(imap_account.list_uids("Trait&AOk-")) == 1


def test_acknowledge_move_into_existing_folder_spares_other_deleted_messages(imap_account):
    imap_account.create_folder("Processed")
    done, someone_elses = imap_account.append(_mail(1)), imap_account.append(_mail(2))
    imap_account.set_flags(someone_elses, [DELETED])

    acknowledge(_settings(imap_account), [done], "move", move_to="Processed")

    # MOVE (announced after login only) expunges nothing else.
    assert imap_account.list_uids() == [someone_elses]
    assert len(imap_account.list_uids("Processed")) == 1


def test_acknowledge_delete_removes_only_the_given_messages(imap_account):
    done, someone_elses = imap_account.append(_mail(1)), imap_account.append(_mail(2))
    imap_account.set_flags(someone_elses, [DELETED])

    acknowledge(_settings(imap_account), [done], "delete")

    # UID EXPUNGE (UIDPLUS) leaves another client's \Deleted message alone.
    assert imap_account.list_uids() == [someone_elses]


def test_acknowledge_move_without_move_capability_copies_and_expunges(old_imap_peer):
    account = old_imap_peer.new_account()
    done, someone_elses = account.append(_mail(1)), account.append(_mail(2))
    account.set_flags(someone_elses, [DELETED])

    acknowledge(_settings(account), [done], "move", move_to="Processed")

    assert len(account.list_uids("Processed")) == 1
    # Plain EXPUNGE, the only one without UIDPLUS, takes the other \Deleted message too.
    assert account.list_uids() == []


def test_acknowledge_delete_without_uidplus_expunges(old_imap_peer):
    account = old_imap_peer.new_account()
    done, kept = account.append(_mail(1)), account.append(_mail(2))

    acknowledge(_settings(account), [done], "delete")

    assert account.list_uids() == [kept]


def test_acknowledge_without_uids_does_not_connect():
    closed = ImapSettings(LOOPBACK, free_port(), "none", "nobody", "pw")

    acknowledge(closed, [], "delete")


def test_acknowledge_move_without_target_is_refused(imap_account):
    with pytest.raises(ValueError, match="move_to"):
        acknowledge(_settings(imap_account), [1], "move")


# test_connection, logins and TLS


def test_test_connection_describes_the_mailbox(imap_account):
    imap_account.append(_mail(1))

    description = imap.test_connection(_settings(imap_account))

    assert description == (
        f"Logged in to {LOOPBACK}:{imap_account.port} as {imap_account.username} "
        "without encryption; INBOX holds 1 message(s)."
    )


def test_login_with_quote_and_backslash_in_password(imap_peer):
    account = imap_peer.new_account(password='se"cr\\et')

    assert imap.test_connection(_settings(account)).startswith("Logged in")


def test_login_with_non_ascii_password(imap_peer):
    account = imap_peer.new_account(password="pässwörd")

    assert imap.test_connection(_settings(account)).startswith("Logged in")


def test_starttls_with_trusted_certificate(imap_account, monkeypatch):
    # ssl.create_default_context() reads the trust store from here, as in production.
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_account.peer.cafile))

    description = imap.test_connection(_settings(imap_account, security="starttls"))

    assert " with STARTTLS;" in description


def test_tls_with_trusted_certificate_fetches(imap_account, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_account.peer.cafile))
    uid = imap_account.append(_mail(1))
    settings = _settings(imap_account, security="tls", port=imap_account.tls_port)

    result = fetch_new(settings, last_uid=0, uidvalidity=None)

    assert result.messages == [FetchedMessage(uid, _mail(1))]


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_untrusted_certificate_raises(imap_account, security):
    port = imap_account.tls_port if security == "tls" else imap_account.port

    with pytest.raises(ImapError) as error:
        imap.test_connection(_settings(imap_account, security=security, port=port))

    assert str(error.value) == (
        f"TLS certificate of {LOOPBACK} rejected: unable to get local issuer certificate"
    )


def test_tls_against_plaintext_port_raises(imap_account):
    with pytest.raises(ImapError) as error:
        imap.test_connection(_settings(imap_account, security="tls"))

    assert str(error.value) == (
        f"TLS handshake with {LOOPBACK}:{imap_account.port} failed: WRONG_VERSION_NUMBER"
    )


# failures


def test_wrong_password_raises_the_server_answer(imap_account):
    with pytest.raises(ImapError) as error:
        fetch_new(_settings(imap_account, password="wrong"), last_uid=0, uidvalidity=None)

    assert str(error.value) == "Login failed: [AUTHENTICATIONFAILED] Authentication failed."


def test_missing_folder_raises_the_server_answer(imap_account):
    with pytest.raises(ImapError) as error:
        fetch_new(_settings(imap_account, folder="Nope"), last_uid=0, uidvalidity=None)

    # Dovecot appends its timing, e.g. "(0.001 + 0.000 secs).".
    assert re.fullmatch(
        r"Opening folder 'Nope' failed: Mailbox doesn't exist: Nope \(.*\)\.", str(error.value)
    )


def test_stopped_server_raises_connection_refused(imap_peer):
    account = imap_peer.new_account()
    imap_peer.stop_server()
    try:
        with pytest.raises(ImapError) as error:
            fetch_new(_settings(account), last_uid=0, uidvalidity=None)
    finally:
        imap_peer.start_server()

    assert str(error.value) == f"Connection refused to {LOOPBACK}:{account.port}"


def test_closed_port_raises_connection_refused():
    port = free_port()

    with pytest.raises(ImapError) as error:
        imap.test_connection(
            ImapSettings(LOOPBACK, port, "none", "someone", "pw", allow_private=True)
        )

    assert str(error.value) == f"Connection refused to {LOOPBACK}:{port}"


def test_server_that_never_greets_times_out():
    # The kernel completes the TCP handshake for a listening socket nobody accepts from.
    with socket.create_server((LOOPBACK, 0)) as silent:
        port = silent.getsockname()[1]
        settings = ImapSettings(
            LOOPBACK, port, "none", "someone", "pw", timeout=0.2, allow_private=True
        )

        with pytest.raises(ImapError) as error:
            imap.test_connection(settings)

    assert str(error.value) == f"Timed out connecting to {LOOPBACK}:{port} after 0.2 s"
