"""A tenant's IMAP mailbox (and SMTP server) may only be a public host: the name is resolved
once, every address checked, and the socket connected to the checked address (no DNS
rebinding). A server that does not greet as IMAP is never quoted to the tenant."""

import re
import socket
import threading
from html import unescape

import pytest

from inbound_mail.models import Mailbox
from inbound_mail.services import mailboxes
from outbound_mail import transport
from tenants import egress

REFUSAL = (
    "Refused: {host} is not a public address ({address}); "
    "only mail servers on public addresses can be used"
)


@pytest.fixture
def connects(monkeypatch):
    """Every TCP connect attempted (address, port), refused at once instead of made."""
    attempts: list[tuple] = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(tuple(address[:2]))
            raise ConnectionRefusedError(111, "Connection refused (by the test)")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def resolver(monkeypatch, *answers: str) -> list[str]:
    """socket.getaddrinfo answering each lookup with the next of `answers`; the names asked."""
    asked: list[str] = []
    pending = list(answers)

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        asked.append(host)
        address = pending.pop(0) if len(pending) > 1 else pending[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def mailbox(tenant, host: str, port: int = 993, security: str = "tls") -> Mailbox:
    with tenant.scope():
        return Mailbox.objects.create(
            organization=tenant.org,
            name="Support",
            host=host,
            port=port,
            security=security,
            username="support",
            password="secret",
        )


def test_connection(tenant, box) -> tuple[bool, str]:
    with tenant.scope():
        return mailboxes.mailbox_test(mailbox=box)


test_connection.__test__ = False  # a helper, whatever its name


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("169.254.169.254", "169.254.169.254"),
    ],
)
def test_test_connection_refuses_internal_hosts(acme, connects, host, address):
    box = mailbox(acme, host)
    worked, text = test_connection(acme, box)
    assert (worked, text, connects) == (
        False,
        REFUSAL.format(host=host, address=address),
        [],
    )


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_a_name_resolving_to_a_private_address_is_refused(acme, connects, monkeypatch, security):
    asked = resolver(monkeypatch, "10.0.0.5")
    box = mailbox(acme, "imap.customer.example", port=143, security=security)
    assert test_connection(acme, box) == (
        False,
        REFUSAL.format(host="imap.customer.example", address="10.0.0.5"),
    )
    assert (asked, connects) == (["imap.customer.example"], [])


def test_every_address_of_a_name_is_checked(acme, connects, monkeypatch):
    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::ffff:127.0.0.1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    box = mailbox(acme, "imap.customer.example")
    assert test_connection(acme, box) == (
        False,
        REFUSAL.format(host="imap.customer.example", address="::ffff:127.0.0.1"),
    )
    assert connects == []


def test_imap_connects_to_the_address_it_checked(acme, connects, monkeypatch):
    # DNS rebinding: public for the check, loopback for a second lookup. There is none.
    asked = resolver(monkeypatch, "8.8.8.8", "127.0.0.1")
    box = mailbox(acme, "imap.customer.example", security="none", port=143)
    assert test_connection(acme, box) == (False, "Connection refused to imap.customer.example:143")
    assert (asked, connects) == (["imap.customer.example"], [("8.8.8.8", 143)])


def test_smtp_connects_to_the_address_it_checked(connects, monkeypatch, settings):
    settings.OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS = False
    asked = resolver(monkeypatch, "8.8.8.8", "127.0.0.1")
    config = transport.SmtpConfig(host="smtp.customer.example", port=587, public_only=True)
    with pytest.raises(ConnectionRefusedError):
        transport.SmtpSession(config).open()
    assert (asked, connects) == (["smtp.customer.example"], [("8.8.8.8", 587)])


def test_smtp_refuses_a_name_resolving_to_a_private_address(connects, monkeypatch, settings):
    settings.OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS = False
    resolver(monkeypatch, "192.168.1.20")
    config = transport.SmtpConfig(
        host="smtp.customer.example", port=465, security="tls", public_only=True
    )
    with pytest.raises(egress.PrivateAddressError) as refused:
        transport.SmtpSession(config).open()
    assert (str(refused.value), connects) == (
        "smtp.customer.example is not a public address (192.168.1.20)",
        [],
    )


def test_polling_refuses_internal_hosts(acme, connects):
    box = mailbox(acme, "169.254.169.254", security="none", port=143)
    with acme.scope():
        mailboxes.mailbox_poll(mailbox_id=box.pk)
        box.refresh_from_db()
    assert (box.last_error, connects) == (
        REFUSAL.format(host="169.254.169.254", address="169.254.169.254"),
        [],
    )


class Banner:
    """A TCP server on loopback that greets every client with `banner` and waits."""

    def __init__(self, banner: bytes, *, imap: bool = False):
        self.banner, self.imap = banner, imap
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with client:
                client.sendall(self.banner)
                client.settimeout(2)
                try:
                    for line in client.makefile("rb"):
                        if self.imap:
                            client.sendall(self._answer(line))
                except OSError:
                    pass

    @staticmethod
    def _answer(line: bytes) -> bytes:
        tag, command = [*line.split(), b"", b""][:2]
        if command.upper() == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n"
        return tag + b" NO [AUTHENTICATIONFAILED] nope\r\n"

    def close(self):
        self.server.close()


@pytest.mark.parametrize(
    "banner",
    [
        b"SSH-2.0-OpenSSH_9.6 internal-build-7\r\n",
        b"-ERR internal-build-7 unknown command\r\n",
        b"HTTP/1.1 400 Bad Request\r\nServer: internal-build-7\r\n\r\n",
        b"* BYE internal-build-7\r\n",
        b"220 internal-build-7 ESMTP Postfix\r\n",
    ],
)
def test_a_server_that_does_not_greet_as_imap_is_never_quoted(acme, settings, banner):
    settings.INBOUND_IMAP_ALLOW_PRIVATE_HOSTS = True  # the stand-in listens on loopback
    server = Banner(banner)
    try:
        box = mailbox(acme, "127.0.0.1", port=server.port, security="none")
        result = test_connection(acme, box)
        page = acme.client(acme.admin).post(f"/settings/mail/mailboxes/{box.pk}/test/")
    finally:
        server.close()
    expected = f"127.0.0.1:{server.port}: That server did not answer as an IMAP server."
    assert result == (False, expected)
    shown = re.search(r'id="test-result">(.*?)</div>', page.content.decode(), re.S)
    assert (page.status_code, "internal-build-7" in page.content.decode()) == (200, False)
    assert " ".join(unescape(shown.group(1)).split()).endswith(expected)


def test_the_private_setting_lets_the_platform_reach_its_own_network(acme, settings):
    settings.INBOUND_IMAP_ALLOW_PRIVATE_HOSTS = True
    server = Banner(b"* OK [CAPABILITY IMAP4rev1] ready\r\n", imap=True)
    try:
        box = mailbox(acme, "127.0.0.1", port=server.port, security="none")
        result = test_connection(acme, box)
    finally:
        server.close()
    # It connected, was greeted as IMAP, and the server's IMAP answers are shown.
    assert result == (False, "Login failed: [AUTHENTICATIONFAILED] nope")
