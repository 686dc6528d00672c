"""Talking to the mail server: SMTP sessions kept open per worker, ESPs through Django's backend.

SMTP is spoken with smtplib one command at a time (MAIL, RCPT, DATA) instead of
`sendmail()`, which drops the server's final reply: we keep it ("250 2.0.0 Ok: queued as ...")
for the delivery status and the settings page's test button, and we know at which step a
failure happened, which decides whether it is worth retrying (RFC 5321 section 4.2.1):

- a 4yz reply anywhere, a dropped or refused connection, a timeout: temporary, retry later;
- a 5yz reply to RCPT or DATA: this recipient or this message is refused for good;
- a 5yz reply to MAIL or to AUTH, a missing STARTTLS: the tenant's settings are wrong, which
  an admin can fix within the retry window, so these are retried too.
"""

import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

from tenants import egress
from tenants.egress import PrivateAddressError

# Servers drop idle clients after a few minutes (RFC 5321 4.5.3.2.7 suggests 5); reconnecting
# before that is cheaper than a failed command.
IDLE_LIMIT = 60.0
AGE_LIMIT = 600.0
TIMEOUT = 30.0


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str = "none"  # none | starttls | tls
    username: str = ""
    password: str = ""
    timeout: float = TIMEOUT
    # A tenant's own server must not be an address inside our network (SSRF: the settings
    # page shows the server's answer): tenants.egress. The platform's own settings are trusted.
    public_only: bool = False


class PublicSMTP(smtplib.SMTP):
    """smtplib.SMTP connected only to a checked public address of the host (tenants.egress)."""

    def __init__(self, *args, allow_private: bool, **kwargs):
        self.allow_private = allow_private
        super().__init__(*args, **kwargs)

    def _get_socket(self, host, port, timeout):
        return egress.connect(host, port, timeout=timeout, allow_private=self.allow_private)


class PublicSMTP_SSL(smtplib.SMTP_SSL, PublicSMTP):
    """The same with TLS from the start: SMTP_SSL wraps PublicSMTP's socket, verifying the
    certificate against the host name (smtplib's `_host`), not the address."""

    def __init__(self, *args, allow_private: bool, **kwargs):
        self.allow_private = allow_private
        # SMTP_SSL calls SMTP.__init__ by name, past PublicSMTP's; its super()._get_socket
        # is PublicSMTP's (the method order), whose socket it then wraps.
        smtplib.SMTP_SSL.__init__(self, *args, **kwargs)


def _open_client(config: SmtpConfig) -> smtplib.SMTP:
    if not config.public_only:  # the platform's own settings are trusted
        if config.security == "tls":
            return smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=_tls_context()
            )
        return smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    allow_private = settings.OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS
    if config.security == "tls":
        return PublicSMTP_SSL(
            config.host,
            config.port,
            timeout=config.timeout,
            context=_tls_context(),
            allow_private=allow_private,
        )
    return PublicSMTP(config.host, config.port, timeout=config.timeout, allow_private=allow_private)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    response: str
    temporary: bool = False
    provider_message_id: str = ""
    esp_name: str = ""  # the ESP that accepted it, for its tracking events; "" over SMTP


class SmtpReplyError(Exception):
    """A reply we did not want, with the step it answered."""

    def __init__(self, step: str, code: int, text: str):
        super().__init__(f"{code} {text}".strip())
        self.step, self.code, self.text = step, code, text

    @property
    def temporary(self) -> bool:
        return not (500 <= self.code < 600 and self.step in ("RCPT", "DATA"))


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


class SmtpSession:
    """One open SMTP connection; `send` runs one mail transaction on it."""

    def __init__(self, config: SmtpConfig):
        self.config = config
        self.client: smtplib.SMTP | None = None
        self.opened_at = self.used_at = 0.0

    def open(self) -> None:
        config = self.config
        client = _open_client(config)
        try:
            client.ehlo_or_helo_if_needed()
            if config.security == "starttls":
                client.starttls(context=_tls_context())
                client.ehlo()
            if config.username:
                client.login(config.username, config.password)
        except BaseException:
            _quietly_close(client)
            raise
        self.client = client
        self.opened_at = self.used_at = time.monotonic()

    @property
    def stale(self) -> bool:
        now = time.monotonic()
        return now - self.used_at > IDLE_LIMIT or now - self.opened_at > AGE_LIMIT

    def send(self, from_address: str, recipients: list[str], raw: bytes) -> str:
        """Run MAIL, RCPT, DATA; return the server's final reply or raise SmtpReplyError."""
        client = self._connected()
        self.used_at = time.monotonic()
        self._expect("MAIL", client.mail(from_address), (250,))
        for recipient in recipients:
            self._expect("RCPT", client.rcpt(recipient), (250, 251))
        try:
            code, text = client.data(raw)
        except smtplib.SMTPDataError as exc:  # the server refused to start DATA (no 354)
            self._abort()
            raise SmtpReplyError("DATA", exc.smtp_code, _decode(exc.smtp_error)) from exc
        self._expect("DATA", (code, text), (250,))
        return f"{code} {_decode(text)}"

    def _expect(self, step: str, reply: tuple[int, bytes], codes: tuple[int, ...]) -> None:
        code, text = reply
        if code in codes:
            return
        if code == 421 or code == -1:  # the server is closing the channel (RFC 5321 3.8)
            self.close()
            raise smtplib.SMTPServerDisconnected(f"{code} {_decode(text)}")
        self._abort()
        raise SmtpReplyError(step, code, _decode(text))

    def _connected(self) -> smtplib.SMTP:
        if self.client is None:  # closed after a 421; the pool opens a new session
            raise smtplib.SMTPServerDisconnected("the SMTP session is closed")
        return self.client

    def _abort(self) -> None:
        # Reset the transaction so that the connection can carry the next message.
        try:
            self._connected().rset()
        except (smtplib.SMTPException, OSError):
            self.close()

    def close(self) -> None:
        if self.client is not None:
            _quietly_close(self.client)
        self.client = None


def _quietly_close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _tls_context() -> ssl.SSLContext:
    # Verifying, with the system's trust store (SSL_CERT_FILE / SSL_CERT_DIR are honoured).
    return ssl.create_default_context()


class SessionPool:
    """Open sessions by configuration, one set per thread (Celery prefork: per worker)."""

    def __init__(self):
        self._local = threading.local()

    def _sessions(self) -> dict[SmtpConfig, SmtpSession]:
        if not hasattr(self._local, "sessions"):
            self._local.sessions = {}
        return self._local.sessions

    def session(self, config: SmtpConfig) -> tuple[SmtpSession, bool]:
        """An open session and whether it was reused (a reused one may have been dropped)."""
        sessions = self._sessions()
        current = sessions.get(config)
        if current is not None and current.client is not None and not current.stale:
            return current, True
        if current is not None:
            current.close()
        fresh = SmtpSession(config)
        fresh.open()
        sessions[config] = fresh
        return fresh, False

    def discard(self, config: SmtpConfig) -> None:
        current = self._sessions().pop(config, None)
        if current is not None:
            current.close()

    def close_all(self) -> None:
        for session in self._sessions().values():
            session.close()
        self._sessions().clear()


pool = SessionPool()

TEMPORARY_ERRORS = (smtplib.SMTPException, OSError, socket.timeout, ssl.SSLError)


def send_smtp(
    config: SmtpConfig, message: EmailMessage, sign: Callable[[bytes], bytes] | None = None
) -> Outcome:
    """Send one message over a pooled session; a session the server dropped is reopened once.

    `sign` (a DKIM signer) gets the final bytes: message() makes new MIME boundaries each
    call, so a signature is only good for the very bytes it was made from.
    """
    # Django's SafeMIME classes take linesep; the stub types message() as the base Message.
    raw = message.message().as_bytes(linesep="\r\n")  # type: ignore[call-arg]  # see above
    if sign is not None:
        raw = sign(raw)
    recipients = message.recipients()
    try:
        return _send_on_pooled(config, message.from_email, recipients, raw)
    except SmtpReplyError as exc:
        return Outcome(ok=False, temporary=exc.temporary, response=f"{exc.step}: {exc}")
    except TEMPORARY_ERRORS as exc:
        pool.discard(config)
        return Outcome(ok=False, temporary=True, response=describe(exc))


def _send_on_pooled(config, from_address, recipients, raw) -> Outcome:
    session, reused = pool.session(config)
    try:
        reply = session.send(_envelope(from_address), recipients, raw)
    except (smtplib.SMTPServerDisconnected, ConnectionError):
        pool.discard(config)
        if not reused:
            raise
        # The server closed an idle connection before MAIL; nothing was sent yet. Once more.
        session, _ = pool.session(config)
        reply = session.send(_envelope(from_address), recipients, raw)
    return Outcome(ok=True, response=reply)


def _envelope(from_header: str) -> str:
    """The reverse-path (RFC 5321 4.1.2): the bare address of the From header; bounces go there."""
    return parseaddr(from_header)[1]


def describe(exc: BaseException) -> str:
    """A readable reason with the server's own words where there are any."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_decode(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r}: {c} {_decode(t)}" for r, (c, t) in exc.recipients.items())
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out talking to the mail server"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused by the mail server"
    if isinstance(exc, PrivateAddressError):
        return f"refused: {exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the mail server's name: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}".strip()


def send_backend(message: EmailMessage) -> Outcome:
    """Send through Django's configured EMAIL_BACKEND (an ESP through django-anymail, files)."""
    try:
        backend = get_connection(fail_silently=False)
        backend.send_messages([message])
    except Exception as exc:
        return Outcome(ok=False, temporary=backend_error_is_temporary(exc), response=describe(exc))
    status = getattr(message, "anymail_status", None)
    provider_id = (getattr(status, "message_id", None) or "") if status else ""
    response = f"accepted ({', '.join(sorted(status.status))})" if status else "accepted"
    return Outcome(
        ok=True,
        response=response,
        provider_message_id=str(provider_id),
        esp_name=str(getattr(backend, "esp_name", "") or "") if provider_id else "",
    )


def backend_error_is_temporary(exc: BaseException) -> bool:
    from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused

    if isinstance(exc, AnymailRecipientsRefused):
        return False
    if isinstance(exc, AnymailAPIError):
        code = getattr(exc, "status_code", None)
        # No status: the API was unreachable. 429 and 5xx: the ESP asks us to come back later.
        return code is None or code == 429 or code >= 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code < 500
    return True
