"""The LMTP door over loopback, spoken to with smtplib.LMTP as an MTA would: one reply per
recipient after the data, only once the message is stored; 451 (and nothing stored) on a
transient failure, stored on the retry."""

import asyncio
import smtplib
import threading

import pytest
from django.db import OperationalError, connection
from django_scopes import scopes_disabled

from inbound_mail import lmtp, raw_mail
from inbound_mail.models import InboundAddress, InboundMessage, UnclaimedMessage
from tests.inbound.mails import mail
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)

# smtplib gives a reply's code and its text after the code.
STORED = (250, lmtp.STORED[4:])
UNCLAIMED = (250, lmtp.UNCLAIMED[4:])
NOT_STORED = (451, lmtp.NOT_STORED[4:])


@pytest.fixture
def lmtp_port(transactional_db):
    """An LMTPDoor on a free loopback port, on a loop in its own thread, stopped afterwards."""
    loop = asyncio.new_event_loop()
    door = lmtp.LMTPDoor(threads=2)
    started = threading.Event()
    address: list[tuple[str, int]] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        address.append(loop.run_until_complete(door.start("127.0.0.1", 0)))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield address[0][1]
    asyncio.run_coroutine_threadsafe(door.stop(grace=5), loop).result(15)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def addresses(acme, globex):
    for tenant, address in ((acme, "support@acme.test"), (globex, "help@globex.test")):
        with tenant.scope():
            InboundAddress.objects.create(organization=tenant.org, address=address, is_default=True)
    return acme, globex


def deliver(port: int, raw: bytes, recipients: list[str]) -> list[tuple[int, str]]:
    """One LMTP transaction; the reply after the data for each recipient, in their order."""
    crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    with smtplib.LMTP("127.0.0.1", port) as client:
        assert client.ehlo_or_helo_if_needed() is None
        assert client.mail("carol@customer.test")[0] == 250
        for recipient in recipients:
            assert client.rcpt(recipient)[0] == 250
        # smtplib reads one reply after the data; LMTP sends one per recipient (RFC 2033 4.2).
        replies = [client.data(crlf)]
        replies += [client.getreply() for _ in recipients[1:]]
    return [(code, text.decode()) for code, text in replies]


def _rows() -> list[tuple[int, str, list[str]]]:
    with scopes_disabled():  # the test checks where the rows of both tenants landed
        rows = InboundMessage.objects.order_by("organization_id")
        return [(r.organization_id, r.source, r.envelope_recipients) for r in rows]


def test_lmtp_answers_each_recipient_after_storing_for_two_tenants(addresses, lmtp_port):
    acme, globex = addresses
    raw = mail(to="support@acme.test, help@globex.test", subject="Both of you")
    recipients = ["support@acme.test", "help@globex.test", "Support@Acme.test"]
    replies = deliver(lmtp_port, raw, recipients)
    assert replies == [STORED] * 3
    assert _rows() == [
        (acme.org.pk, "lmtp", [r.lower() for r in recipients]),
        (globex.org.pk, "lmtp", [r.lower() for r in recipients]),
    ]
    with scopes_disabled():  # one row per tenant, both naming the same stored bytes
        digests = set(InboundMessage.objects.values_list("sha256", flat=True))
    assert digests == {raw_mail.digest(raw.replace(b"\n", b"\r\n"))}
    for tenant in (acme, globex):
        with tenant.scope():
            assert list(Ticket.objects.values_list("subject", flat=True)) == ["Both of you"]


def test_lmtp_envelope_routes_mail_whose_headers_name_no_tenant(addresses, lmtp_port):
    _, globex = addresses
    raw = mail(to="undisclosed-recipients:;", subject="Bcc'd")
    assert deliver(lmtp_port, raw, ["help@globex.test"]) == [STORED]
    assert _rows() == [(globex.org.pk, "lmtp", ["help@globex.test"])]


def test_lmtp_mail_no_tenant_claims_is_kept_unclaimed_and_answered_250(addresses, lmtp_port):
    raw = mail(to="nobody@elsewhere.test")
    assert deliver(lmtp_port, raw, ["nobody@elsewhere.test"]) == [UNCLAIMED]
    assert _rows() == []
    assert list(UnclaimedMessage.objects.values_list("source", "envelope_recipients")) == [
        ("lmtp", ["nobody@elsewhere.test"])
    ]


def test_lmtp_transient_failure_answers_451_stores_nothing_and_the_retry_stores_once(
    addresses, lmtp_port, monkeypatch
):
    acme, globex = addresses
    raw = mail(to="support@acme.test, help@globex.test", subject="Retried")
    real_store = lmtp.store

    def refuse_inserts(execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("INSERT"):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    def store_with_database_down(raw, recipients):
        with connection.execute_wrapper(refuse_inserts):  # this intake thread's connection
            return real_store(raw, recipients)

    monkeypatch.setattr(lmtp, "store", store_with_database_down)
    recipients = ["support@acme.test", "help@globex.test"]
    assert deliver(lmtp_port, raw, recipients) == [NOT_STORED] * 2
    assert _rows() == []
    assert UnclaimedMessage.objects.count() == 0

    monkeypatch.setattr(lmtp, "store", real_store)  # the database is back; the MTA retries
    assert deliver(lmtp_port, raw, recipients) == [STORED] * 2
    assert deliver(lmtp_port, raw, recipients) == [STORED] * 2  # a redelivery
    assert [org for org, _, _ in _rows()] == [acme.org.pk, globex.org.pk]
    for tenant in (acme, globex):
        with tenant.scope():
            assert Ticket.objects.count() == 1


def test_lmtp_refused_data_gets_one_reply_per_recipient(addresses, lmtp_port, settings):
    """Over aiosmtpd's size limit the data is refused by aiosmtpd itself: still one reply each,
    so the client is not left waiting, and the session goes on."""
    settings.INBOUND_MAX_BYTES = 1000  # the door refuses over twice this
    big = mail(body="x" * 3000)
    small = mail(subject="Small one")
    crlf = big.replace(b"\n", b"\r\n")
    with smtplib.LMTP("127.0.0.1", lmtp_port) as client:
        client.ehlo_or_helo_if_needed()
        client.mail("carol@customer.test")
        client.rcpt("support@acme.test")
        client.rcpt("help@globex.test")
        replies = [client.data(crlf)[0], client.getreply()[0]]
        client.mail("carol@customer.test")
        client.rcpt("support@acme.test")
        after = client.data(small.replace(b"\n", b"\r\n"))
    assert replies == [552, 552]
    assert (after[0], after[1].decode()) == STORED
    assert [source for _, source, _ in _rows()] == ["lmtp"]


def test_lmtp_rejects_smtp_greetings(lmtp_port):
    with smtplib.SMTP("127.0.0.1", lmtp_port) as client:
        assert client.ehlo()[0] == 500  # LMTP speaks LHLO only (RFC 2033 4.1)
