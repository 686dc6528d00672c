"""The test peers themselves: what they record, the faults they inject, that they clean up."""

import smtplib
import uuid
from email.message import EmailMessage

import pytest

from tests.peers.imap import ImapPeer, live_processes_in_group
from tests.peers.smtp import SmtpPeer

SENDER = "helpdesk@acme.test"


def _message(subject: str = "Your ticket [#42]") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "customer@example.com"
    message["Subject"] = subject
    message.set_content("We are on it.")
    return message


def _client(peer: SmtpPeer) -> smtplib.SMTP:
    return smtplib.SMTP(peer.host, peer.port, timeout=5)


# SMTP


def test_smtp_peer_records_envelope_and_parsed_message(smtp_peer):
    with _client(smtp_peer) as client:
        client.send_message(_message(), to_addrs=["customer@example.com", "cc@example.com"])

    [received] = smtp_peer.wait_for(1)
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["customer@example.com", "cc@example.com"]
    assert received.message["Subject"] == "Your ticket [#42]"
    assert received.message.get_content() == "We are on it.\n"
    assert received.raw.startswith(b"From: helpdesk@acme.test\r\n")
    assert (received.tls, received.authenticated_as) == (False, None)


def test_smtp_peer_temporary_rcpt_failure_refuses_only_that_recipient(smtp_peer):
    smtp_peer.fail_rcpt("full@example.com", 450, "4.2.2 Mailbox full")

    with _client(smtp_peer) as client:
        refused = client.send_message(_message(), to_addrs=["full@example.com", "ok@example.com"])

    assert refused == {"full@example.com": (450, b"4.2.2 Mailbox full")}
    assert [m.rcpt_tos for m in smtp_peer.wait_for(1)] == [["ok@example.com"]]


def test_smtp_peer_permanent_rcpt_failure_is_seen_by_the_client(smtp_peer):
    smtp_peer.fail_rcpt("gone@example.com", 550, "5.1.1 No such user")

    with _client(smtp_peer) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as error:
        client.send_message(_message(), to_addrs=["gone@example.com"])

    assert error.value.recipients == {"gone@example.com": (550, b"5.1.1 No such user")}
    assert smtp_peer.messages == []


def test_smtp_peer_rcpt_failure_with_times_recovers(smtp_peer):
    smtp_peer.fail_rcpt("grey@example.com", 451, "4.7.1 Greylisted", times=1)

    with _client(smtp_peer) as client:
        first = client.send_message(_message(), to_addrs=["grey@example.com", "ok@example.com"])
        second = client.send_message(_message(), to_addrs=["grey@example.com"])

    assert first == {"grey@example.com": (451, b"4.7.1 Greylisted")}
    assert second == {}
    assert [m.rcpt_tos for m in smtp_peer.wait_for(2)] == [["ok@example.com"], ["grey@example.com"]]


def test_smtp_peer_fail_next_data_fails_once(smtp_peer):
    smtp_peer.fail_next_data(451, "4.3.0 Queue full")

    with _client(smtp_peer) as client:
        with pytest.raises(smtplib.SMTPDataError) as error:
            client.send_message(_message("first"))
        client.send_message(_message("second"))

    assert (error.value.smtp_code, error.value.smtp_error) == (451, b"4.3.0 Queue full")
    assert [m.message["Subject"] for m in smtp_peer.wait_for(1)] == ["second"]


def test_smtp_peer_clear_forgets_messages_and_faults(smtp_peer):
    smtp_peer.fail_rcpt("gone@example.com")
    with _client(smtp_peer) as client:
        client.send_message(_message())
    smtp_peer.wait_for(1)

    smtp_peer.clear()
    with _client(smtp_peer) as client:
        client.send_message(_message(), to_addrs=["gone@example.com"])

    assert [m.rcpt_tos for m in smtp_peer.wait_for(1)] == [["gone@example.com"]]


def test_smtp_peer_wait_for_times_out(smtp_peer):
    with pytest.raises(TimeoutError, match="got 0 message"):
        smtp_peer.wait_for(1, timeout=0.05)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_peer_auth_accepts_the_right_password(smtp_peer_factory, mechanism):
    peer = smtp_peer_factory(auth=("mailer", "s3cret"))

    with _client(peer) as client:
        client.ehlo()
        client.user, client.password = "mailer", "s3cret"
        client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
        client.send_message(_message())

    assert peer.wait_for(1)[0].authenticated_as == "mailer"


def test_smtp_peer_auth_rejects_a_wrong_password(smtp_peer_factory):
    peer = smtp_peer_factory(auth=("mailer", "s3cret"))

    with _client(peer) as client, pytest.raises(smtplib.SMTPAuthenticationError) as error:
        client.login("mailer", "wrong")

    assert error.value.smtp_code == 535


def test_smtp_peer_auth_required_before_mail(smtp_peer_factory):
    peer = smtp_peer_factory(auth=("mailer", "s3cret"))

    with _client(peer) as client, pytest.raises(smtplib.SMTPSenderRefused) as error:
        client.send_message(_message())

    assert error.value.smtp_code == 530
    assert peer.messages == []


def test_smtp_peer_starttls_with_auth(smtp_peer_factory):
    peer = smtp_peer_factory(auth=("mailer", "s3cret"), starttls=True)

    with _client(peer) as client:
        client.starttls(context=peer.client_ssl_context())
        client.login("mailer", "s3cret")
        client.send_message(_message())

    assert (peer.wait_for(1)[0].tls, peer.messages[0].authenticated_as) == (True, "mailer")


def test_smtp_peer_implicit_tls(smtp_peer_factory):
    peer = smtp_peer_factory(implicit_tls=True)

    with smtplib.SMTP_SSL(
        peer.host, peer.port, context=peer.client_ssl_context(), timeout=5
    ) as client:
        client.send_message(_message())

    assert peer.wait_for(1)[0].tls is True


# S3


def test_s3_peer_stores_and_returns_objects(s3_peer):
    client, key = s3_peer.client(), f"raw-mail/{uuid.uuid4()}.eml"

    client.put_object(Bucket=s3_peer.bucket, Key=key, Body=b"Subject: hi\r\n\r\nbody\r\n")
    body = client.get_object(Bucket=s3_peer.bucket, Key=key)["Body"].read()

    assert body == b"Subject: hi\r\n\r\nbody\r\n"


# IMAP


def test_imap_peer_stop_leaves_no_process(imap_peer):
    peer = ImapPeer().start()
    master = peer._process.pid
    directory = peer.dir

    peer.stop()

    # Dovecot runs in its own process group led by the master; no member may survive.
    assert live_processes_in_group(master) == {}
    assert not directory.exists()
