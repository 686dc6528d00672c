"""IMAP client for mailbox polling: fetch what is new by UID, acknowledge what was stored.

Plain functions over imaplib with plain arguments, no Django. The poller keeps ``uidvalidity``
and ``last_uid`` per mailbox, stores every fetched message raw, commits, and only then calls
``acknowledge`` (ARCHITECTURE.md, inbound mail step 1). Every failure is an ``ImapError`` whose
message can be shown to a tenant admin as is. Connections go only to checked public addresses
(``tenants.egress``) unless the settings allow private ones.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

from tenants import egress

Security = Literal["none", "starttls", "tls"]
Action = Literal["seen", "move", "delete"]

# RFC 7162 section 4 asks clients to keep command lines under 8192 octets.
_UIDS_PER_COMMAND = 500
_UID = re.compile(rb"\bUID (\d+)")


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: Security
    username: str
    password: str
    folder: str = "INBOX"
    timeout: float = 30
    # A tenant's server must be on a public address (tenants.egress); the platform may allow
    # private ones (INBOUND_IMAP_ALLOW_PRIVATE_HOSTS, read by the caller: no Django here).
    allow_private: bool = False

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"unknown IMAP security {self.security!r}")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class ImapError(Exception):
    """A failure worded for a tenant admin, quoting the server where it said something."""


class FetchedMessage(NamedTuple):
    uid: int
    raw: bytes


@dataclass(frozen=True)
class FetchResult:
    uidvalidity: int
    # The server renumbered the folder (RFC 3501 section 2.3.1.1): the UIDs we remember mean
    # nothing now, so everything was fetched again from UID 1; duplicates are the intake's to
    # drop (Message-ID, sha256 of the raw bytes).
    uidvalidity_changed: bool
    messages: list[FetchedMessage]
    # Store this as the mailbox's last UID once the messages are stored.
    last_uid: int
    # More new messages wait than ``batch`` allowed: poll again.
    has_more: bool


@dataclass(frozen=True)
class _Folder:
    uidvalidity: int
    exists: int


def fetch_new(
    settings: ImapSettings, *, last_uid: int, uidvalidity: int | None, batch: int = 50
) -> FetchResult:
    """Fetch up to ``batch`` messages with a UID above ``last_uid``, oldest first, without
    changing any flag: a message a person has already read is still new to the helpdesk."""
    with _session(settings) as conn:
        folder = _select(conn, settings.folder, readonly=True)
        changed = uidvalidity is not None and folder.uidvalidity != uidvalidity
        after = 0 if changed else last_uid
        new = _uids_after(conn, after) if folder.exists else []
        messages = _fetch(conn, new[:batch])
    return FetchResult(
        uidvalidity=folder.uidvalidity,
        uidvalidity_changed=changed,
        messages=messages,
        last_uid=max(new[:batch], default=after),
        has_more=len(new) > batch,
    )


def acknowledge(
    settings: ImapSettings, uids: Iterable[int], action: Action, move_to: str = ""
) -> None:
    """After intake: flag the messages \\Seen, move them to ``move_to``, or delete them."""
    if action not in ("seen", "move", "delete"):
        raise ValueError(f"unknown acknowledge action {action!r}")
    if action == "move" and not move_to:
        raise ValueError("acknowledge(action='move') needs move_to")
    wanted = sorted(set(uids))
    if not wanted:
        return
    with _session(settings) as conn:
        _select(conn, settings.folder, readonly=False)
        capabilities = _capabilities(conn)
        for start in range(0, len(wanted), _UIDS_PER_COMMAND):
            uid_set = _uid_set(wanted[start : start + _UIDS_PER_COMMAND])
            if action == "seen":
                _add_flag(conn, uid_set, "\\Seen")
            elif action == "move":
                _move(conn, uid_set, move_to, capabilities)
            else:
                _add_flag(conn, uid_set, "\\Deleted")
                _expunge(conn, uid_set, capabilities)


def test_connection(settings: ImapSettings) -> str:
    """Log in and open the folder; a one-line description of what worked."""
    with _session(settings) as conn:
        folder = _select(conn, settings.folder, readonly=True)
    security = {"none": "without encryption", "starttls": "with STARTTLS", "tls": "with TLS"}
    return (
        f"Logged in to {settings.address} as {settings.username} "
        f"{security[settings.security]}; {settings.folder} holds {folder.exists} message(s)."
    )


# Not a pytest test, whatever its name, when a test module imports it.
test_connection.__test__ = False  # type: ignore[attr-defined]  # a function attribute pytest reads


# sessions and errors


@contextlib.contextmanager
def _session(settings: ImapSettings) -> Iterator[imaplib.IMAP4]:
    conn = _connect(settings)
    try:
        with _translated_errors(settings):
            _login(conn, settings)
            yield conn
    except BaseException:
        # No LOGOUT: the connection may be what failed, and waiting for its answer would
        # cost another full timeout.
        _close(conn)
        raise
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        conn.logout()


class _PublicIMAP4(imaplib.IMAP4):
    """imaplib.IMAP4 connected to a checked address of the host, never to the name again
    (tenants.egress: resolved once, so DNS rebinding cannot swap in a private address)."""

    def __init__(self, settings: ImapSettings):
        self.allow_private = settings.allow_private
        super().__init__(settings.host, settings.port, timeout=settings.timeout)

    def _create_socket(self, timeout):
        return egress.connect(
            self.host, self.port, timeout=timeout, allow_private=self.allow_private
        )


class _PublicIMAP4_SSL(imaplib.IMAP4_SSL):
    """The same with TLS from the start, the certificate verified against the host name."""

    def __init__(self, settings: ImapSettings):
        self.allow_private = settings.allow_private
        super().__init__(
            settings.host,
            settings.port,
            ssl_context=ssl.create_default_context(),
            timeout=settings.timeout,
        )

    def _create_socket(self, timeout):
        sock = egress.connect(
            self.host, self.port, timeout=timeout, allow_private=self.allow_private
        )
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


NOT_IMAP = "That server did not answer as an IMAP server."


def _connect(settings: ImapSettings) -> imaplib.IMAP4:
    try:
        if settings.security == "tls":
            return _PublicIMAP4_SSL(settings)
        conn: imaplib.IMAP4 = _PublicIMAP4(settings)
    except imaplib.IMAP4.error as exc:
        # imaplib refuses a greeting other than "* OK" or "* PREAUTH" (RFC 3501 7.1), quoting
        # it: never shown, it may be an internal service's banner.
        raise ImapError(f"{settings.address}: {NOT_IMAP}") from exc
    except OSError as exc:
        raise ImapError(_connect_failure(settings, exc)) from exc
    if settings.security == "starttls":
        _starttls(conn, settings)
    return conn


def _starttls(conn: imaplib.IMAP4, settings: ImapSettings) -> None:
    if "STARTTLS" not in conn.capabilities:
        _close(conn)
        raise ImapError(f"{settings.address} does not offer STARTTLS")
    try:
        conn.starttls(ssl.create_default_context())
    except (OSError, imaplib.IMAP4.error) as exc:
        _close(conn)
        raise ImapError(_connect_failure(settings, exc)) from exc


def _close(conn: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown()


def _connect_failure(settings: ImapSettings, exc: Exception) -> str:
    address = settings.address
    if isinstance(exc, egress.PrivateAddressError):
        return f"Refused: {exc}; only mail servers on public addresses can be used"
    if isinstance(exc, ConnectionRefusedError):
        return f"Connection refused to {address}"
    if isinstance(exc, TimeoutError):
        return f"Timed out connecting to {address} after {settings.timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"Could not resolve {settings.host}: {exc.strerror}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {settings.host} rejected: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {address} failed: {exc.reason or exc}"
    if isinstance(exc, OSError):
        return f"Could not connect to {address}: {exc.strerror or exc}"
    return f"Unexpected answer from {address}: {_text(exc)}"


@contextlib.contextmanager
def _translated_errors(settings: ImapSettings) -> Iterator[None]:
    address = settings.address
    try:
        yield
    except imaplib.IMAP4.readonly as exc:  # imaplib's answer to a READ-ONLY folder on SELECT
        raise ImapError(f"Folder is read-only on {address}: {_text(exc)}") from exc
    except imaplib.IMAP4.abort as exc:
        raise ImapError(f"Connection to {address} lost: {_text(exc)}") from exc
    except TimeoutError as exc:
        raise ImapError(f"Timed out waiting for {address} after {settings.timeout:g} s") from exc
    except OSError as exc:
        raise ImapError(f"Connection to {address} failed: {exc.strerror or exc}") from exc
    except imaplib.IMAP4.error as exc:  # a BAD answer or a command imaplib refused to send
        raise ImapError(f"{address} answered: {_text(exc)}") from exc


def _login(conn: imaplib.IMAP4, settings: ImapSettings) -> None:
    user, password = settings.username, settings.password
    try:
        if (user + password).isascii():
            # imaplib quotes the password but sends the user name bare.
            conn.login(_quote(user), password)
        else:
            _login_utf8(conn, user, password)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        raise ImapError(f"Login failed: {_text(exc)}") from exc


def _login_utf8(conn: imaplib.IMAP4, user: str, password: str) -> None:
    # LOGIN is ASCII-only in imaplib; SASL PLAIN (RFC 4616) carries UTF-8.
    if "AUTH=PLAIN" not in conn.capabilities:
        raise ImapError(
            "Login failed: the user name or password is not ASCII and the server "
            "does not offer AUTH=PLAIN"
        )
    conn.authenticate("PLAIN", lambda _challenge: f"\0{user}\0{password}".encode())


def _capabilities(conn: imaplib.IMAP4) -> set[str]:
    # Servers announce more after login (Dovecot adds MOVE and UIDPLUS then; RFC 3501 section
    # 7.2.1 allows it), but imaplib keeps the list from before login: ask again.
    typ, data = conn.capability()
    _check(typ, data, "CAPABILITY")
    return set(_text(data[-1]).upper().split())


# folder operations


def _select(conn: imaplib.IMAP4, name: str, *, readonly: bool) -> _Folder:
    typ, data = conn.select(_mailbox(name), readonly=readonly)  # readonly: EXAMINE
    _check(typ, data, f"Opening folder {name!r}")
    exists = int(data[-1] or 0)
    found = conn.untagged_responses.get("UIDVALIDITY")
    if found:
        # imaplib keeps the untagged "OK [UIDVALIDITY n]" answer as plain bytes, never a literal.
        return _Folder(uidvalidity=int(cast(bytes, found[-1])), exists=exists)
    # RFC 3501 requires UIDVALIDITY in the SELECT answer; ask for it if a server forgot.
    typ, data = conn.status(_mailbox(name), "(UIDVALIDITY)")
    _check(typ, data, f"Reading the status of {name!r}")
    match = re.search(rb"UIDVALIDITY (\d+)", data[-1] or b"")
    if not match:
        raise ImapError(f"Folder {name!r} on the server has no UIDVALIDITY")
    return _Folder(uidvalidity=int(match.group(1)), exists=exists)


def _uids_after(conn: imaplib.IMAP4, last_uid: int) -> list[int]:
    typ, data = conn.uid("SEARCH", f"UID {last_uid + 1}:*")
    _check(typ, data, "Searching for new messages")
    found = b" ".join(part for part in data if part).split()
    # "n:*" always matches the highest UID, even when n is above it (RFC 3501 section 6.4.8):
    # keep only what is really new.
    return sorted(uid for uid in map(int, found) if uid > last_uid)


def _fetch(conn: imaplib.IMAP4, uids: list[int]) -> list[FetchedMessage]:
    if not uids:
        return []
    # BODY.PEEK[] leaves \Seen alone (RFC 3501 section 6.4.5); BODY[] would set it.
    typ, data = conn.uid("FETCH", _uid_set(uids), "(UID BODY.PEEK[])")
    _check(typ, data, "Fetching messages")
    bodies: dict[int, bytes] = {}
    for index, item in enumerate(data):
        if not isinstance(item, tuple) or b"BODY[]" not in item[0]:
            continue  # closing parentheses, unsolicited FLAGS updates
        # The server may put UID before the literal or after it (then in the next item).
        after = data[index + 1] if index + 1 < len(data) else b""
        match = _UID.search(item[0]) or _UID.search(after if isinstance(after, bytes) else b"")
        if match:
            bodies[int(match.group(1))] = item[1]
    # A message expunged meanwhile by someone else is simply absent.
    return [FetchedMessage(uid, bodies[uid]) for uid in uids if uid in bodies]


def _add_flag(conn: imaplib.IMAP4, uid_set: str, flag: str) -> None:
    typ, data = conn.uid("STORE", uid_set, "+FLAGS.SILENT", f"({flag})")
    _check(typ, data, f"Setting {flag}")


def _move(conn: imaplib.IMAP4, uid_set: str, target: str, capabilities: set[str]) -> None:
    if "MOVE" in capabilities:  # RFC 6851: atomic, leaves nothing flagged \Deleted behind
        _into_folder(conn, "MOVE", uid_set, target)
        return
    _into_folder(conn, "COPY", uid_set, target)
    _add_flag(conn, uid_set, "\\Deleted")
    _expunge(conn, uid_set, capabilities)


def _into_folder(conn: imaplib.IMAP4, command: str, uid_set: str, target: str) -> None:
    typ, data = conn.uid(command, uid_set, _mailbox(target))
    if typ == "NO" and b"[TRYCREATE]" in (data[-1] or b""):
        # RFC 3501 section 6.4.7: the target does not exist; create it, as mail clients do.
        _check(*conn.create(_mailbox(target)), f"Creating folder {target!r}")
        typ, data = conn.uid(command, uid_set, _mailbox(target))
    _check(typ, data, f"Moving messages to {target!r}")


def _expunge(conn: imaplib.IMAP4, uid_set: str, capabilities: set[str]) -> None:
    if "UIDPLUS" in capabilities:
        typ, data = conn.uid("EXPUNGE", uid_set)  # RFC 4315: only these messages
    else:
        # Without UIDPLUS, EXPUNGE also removes whatever else someone flagged \Deleted in
        # this folder (RFC 3501 section 6.4.3); there is no narrower command.
        typ, data = conn.expunge()
    _check(typ, data, "Expunging")


# encoding


def _uid_set(uids: list[int]) -> str:
    """Sorted UIDs as an IMAP sequence set with ranges: [1, 2, 3, 7] -> "1:3,7"."""
    ranges: list[list[int]] = []
    for uid in uids:
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1][1] = uid
        else:
            ranges.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def _mailbox(name: str) -> str:
    """A folder name as an IMAP argument: modified UTF-7 (RFC 3501 section 5.1.3), quoted."""
    return _quote(_modified_utf7(name))


def _modified_utf7(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []
    for char in [*name, None]:
        if char is not None and not " " <= char <= "~":
            pending.append(char)
            continue
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be"))
            out.append("&" + encoded.rstrip(b"=").replace(b"/", b",").decode() + "-")
            pending.clear()
        if char is not None:
            out.append("&-" if char == "&" else char)
    return "".join(out)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(typ: str, data: list, what: str) -> None:
    if typ != "OK":
        raise ImapError(f"{what} failed: {_text(data[-1] if data else typ)}")


def _text(value: object) -> str:
    """imaplib puts the server's bytes in its exceptions' args; str() would show b'...'."""
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()
