"""A real SMTP server on loopback (aiosmtpd) that records what it receives and fails on demand.

    peer = SmtpPeer(auth=("mailer", "pw"), starttls=True).start()
    ... send to peer.host:peer.port ...
    peer.wait_for(1)[0].message["Subject"]
    peer.stop()

Fixtures (register with ``pytest_plugins = ["tests.peers.smtp"]``):
``smtp_peer`` (a fresh plain server per test) and ``smtp_peer_factory`` (``**options`` of
``SmtpPeer``; every server it made is stopped after the test).
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.peers import LOOPBACK, TlsFiles, make_tls_files


@dataclass(frozen=True)
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    authenticated_as: str | None
    tls: bool


@dataclass
class _Fault:
    code: int
    text: str
    remaining: int | None  # None: every time

    def reply(self) -> str:
        return f"{self.code} {self.text}"


class _Controller(Controller):
    def _trigger_server(self) -> None:
        # Binding port 0 lets the kernel pick a free port without a race; aiosmtpd's start-up
        # self-test connects to self.port, so learn the real one first.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpPeer:
    """aiosmtpd in a thread. ``auth=(user, password)`` demands AUTH PLAIN/LOGIN before MAIL;
    ``starttls=True`` offers STARTTLS (RFC 3207); ``implicit_tls=True`` speaks TLS from the
    first byte (RFC 8314, port 465 style). Certificates are made at start: trust ``cafile``.
    """

    host = LOOPBACK

    def __init__(
        self,
        *,
        auth: tuple[str, str] | None = None,
        starttls: bool = False,
        implicit_tls: bool = False,
    ) -> None:
        self.auth = auth
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.port = 0
        self.cafile: Path | None = None
        self._messages: list[ReceivedMessage] = []
        self._rcpt_faults: dict[str, _Fault] = {}
        self._data_faults: list[_Fault] = []
        self._changed = threading.Condition()
        self._controller: _Controller | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # lifecycle

    def start(self) -> SmtpPeer:
        # A fixed server_hostname: aiosmtpd otherwise calls socket.getfqdn(), which can hang
        # for seconds on a machine without working DNS.
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True, "server_hostname": "smtp-peer.test"}
        if self.starttls or self.implicit_tls:
            context = self._server_ssl_context()
            kwargs["tls_context" if self.starttls else "ssl_context"] = context
        if self.auth:
            # aiosmtpd refuses AUTH before STARTTLS unless told otherwise (RFC 4954 section 4
            # advice); plaintext AUTH is what some tenant SMTP setups really do. AUTH is
            # enforced in handle_MAIL: aiosmtpd's auth_required warns on every connection
            # when combined with auth_require_tls=False.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = _Controller(_Handler(self), hostname=self.host, port=0, **kwargs)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpPeer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this peer's certificate authority."""
        assert self.cafile is not None, "started with starttls=True or implicit_tls=True?"
        return ssl.create_default_context(cafile=str(self.cafile))

    # what arrived

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._changed:
            return list(self._messages)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``n`` messages arrived; return them all."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= n, timeout):
                got = len(self._messages)
                raise TimeoutError(f"SMTP peer got {got} message(s), expected {n}")
            return list(self._messages)

    def clear(self) -> None:
        """Forget received messages and all injected faults."""
        with self._changed:
            self._messages.clear()
            self._rcpt_faults.clear()
            self._data_faults.clear()

    # fault injection

    def fail_rcpt(
        self,
        address: str,
        code: int = 550,
        text: str = "5.1.1 User unknown",
        *,
        times: int | None = None,
    ) -> None:
        """Answer RCPT TO for ``address`` with ``code``: 4xx is temporary, 5xx permanent
        (RFC 5321 section 4.2.1). ``times=None`` fails forever, ``times=1`` once (greylisting)."""
        with self._changed:
            self._rcpt_faults[address.lower()] = _Fault(code, text, times)

    def fail_next_data(
        self, code: int = 451, text: str = "4.3.0 Try again later", *, times: int = 1
    ) -> None:
        """Answer the next ``times`` DATA transactions with ``code`` after the message body."""
        with self._changed:
            self._data_faults.append(_Fault(code, text, times))

    # called from the server thread

    def _rcpt_fault(self, address: str) -> str | None:
        with self._changed:
            fault = self._rcpt_faults.get(address.lower())
            return _consume(fault, lambda: self._rcpt_faults.pop(address.lower()))

    def _data_fault(self) -> str | None:
        with self._changed:
            fault = self._data_faults[0] if self._data_faults else None
            return _consume(fault, lambda: self._data_faults.pop(0))

    def _record(self, message: ReceivedMessage) -> None:
        with self._changed:
            self._messages.append(message)
            self._changed.notify_all()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if mechanism not in ("LOGIN", "PLAIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        if (user, password) != self.auth:
            # handled=False: aiosmtpd then answers 535 itself (its default, True, stays silent).
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=user)

    def _server_ssl_context(self) -> ssl.SSLContext:
        self._tmp = tempfile.TemporaryDirectory(prefix="smtp-peer-")
        files: TlsFiles = make_tls_files(Path(self._tmp.name))
        self.cafile = files.cafile
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.certfile, files.keyfile)
        return context


def _consume(fault: _Fault | None, forget: Callable[[], object]) -> str | None:
    if fault is None:
        return None
    if fault.remaining is not None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            forget()
    return fault.reply()


def _parse(raw: bytes) -> EmailMessage:
    # SMTP lines end in CRLF (RFC 5321 section 2.3.8); the email package works with "\n" and
    # would otherwise keep "\r\n" inside text parts, so get_content() would not compare
    # equal to what the sender wrote. ``raw`` keeps the bytes as they came.
    lf = raw.replace(b"\r\n", b"\n")
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(lf))


class _Handler:
    """aiosmtpd handler hooks; they run on the server's event loop thread."""

    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:
        if self.peer.auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        fault = self.peer._rcpt_fault(address)
        if fault:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        fault = self.peer._data_fault()
        if fault:
            return fault
        raw = envelope.original_content or envelope.content
        self.peer._record(
            ReceivedMessage(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                message=_parse(raw),
                authenticated_as=session.auth_data if session.authenticated else None,
                tls=server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


@pytest.fixture
def smtp_peer() -> Iterator[SmtpPeer]:
    """A fresh plaintext SMTP server without AUTH for one test (starts in a few ms)."""
    with SmtpPeer() as peer:
        yield peer


@pytest.fixture
def smtp_peer_factory() -> Iterator[Callable[..., SmtpPeer]]:
    """``smtp_peer_factory(auth=("u", "p"), starttls=True)``: started peers, stopped after."""
    peers: list[SmtpPeer] = []

    def make(**options: Any) -> SmtpPeer:
        peers.append(SmtpPeer(**options).start())
        return peers[-1]

    yield make
    for peer in peers:
        peer.stop()
