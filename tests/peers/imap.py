"""A real IMAP server on loopback: Dovecot with a throwaway configuration in a temp dir.

    peer = ImapPeer().start()           # ~30 ms; port = plain + STARTTLS, tls_port = IMAPS
    peer.add_user("support@acme.test", "secret")
    uid = peer.append("support@acme.test", raw_bytes)
    peer.stop()

Fixtures (register with ``pytest_plugins = ["tests.peers.imap"]``): ``imap_peer``, one Dovecot
per session (skipped when Dovecot is missing, failed instead when ``CI`` is set), and
``imap_account``, a fresh user with an empty mailbox on it for each test.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import imaplib
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers import LOOPBACK, free_port, make_tls_files

PASSWORD = "secret"
START_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0

_CONFIG = """\
protocols = imap
listen = {host}
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = imap-peer-{port}
log_path = {dir}/dovecot.log
# STARTTLS on the plain port and an IMAPS port; plaintext LOGIN still allowed without TLS.
ssl = yes
ssl_cert = <{dir}/tls/cert.pem
ssl_key = <{dir}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
# Dovecot slows failed logins down: auth_failure_delay (2 s, checked every 0.5 s) and the anvil
# auth penalty (growing to 15 s per IP). Tests fail logins on purpose; mode = 0 on the penalty
# socket is Dovecot's documented way to switch the penalty off.
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{privileges}
mail_location = maildir:{dir}/mail/%u
first_valid_uid = 1
{extra}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {tls_port}
    ssl = yes
  }}
}}
# One passwd-file per user: Dovecot stats a passwd-file at most once a second, so a user
# appended to a shared file right after a login would stay unknown for up to a second.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users/%u
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={dir}/mail/%u
}}
"""


def dovecot_binary() -> str | None:
    # Debian installs it in /usr/sbin, which is not on a non-root PATH.
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin"])
    return shutil.which("dovecot", path=search)


class ImapPeer:
    """Dovecot on 127.0.0.1. ``capability`` replaces the post-login CAPABILITY list (Dovecot's
    ``imap_capability``), e.g. to imitate a server without MOVE (RFC 6851) or UIDPLUS (RFC 4315).
    """

    host = LOOPBACK

    def __init__(self, *, capability: str | None = None) -> None:
        self.capability = capability
        self.port = 0
        self.tls_port = 0
        self.dir: Path | None = None
        self._users: dict[str, str] = {}
        self._process: subprocess.Popen | None = None
        self._user_numbers = itertools.count(1)

    @property
    def cafile(self) -> Path:
        """Trust this (or set SSL_CERT_FILE to it) to verify the server's certificate."""
        assert self.dir is not None
        return self.dir / "tls" / "ca.pem"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # lifecycle

    def start(self) -> ImapPeer:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError("Dovecot is not installed: apt-get install dovecot-imapd")
        self.dir = Path(tempfile.mkdtemp(prefix="imap-peer-"))
        atexit.register(self.stop)
        try:
            self._prepare_dir()
            self.start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stop_server()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> ImapPeer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start_server(self) -> None:
        """Start Dovecot (again, after ``stop_server``) with the same users and mail."""
        for _attempt in range(3):
            if self.port == 0 or not _port_is_free(self.port):
                # A free port can be taken between free_port() and Dovecot's bind: retry.
                self.port, self.tls_port = free_port(), free_port()
            self._write_config()
            if self._spawn():
                return
        raise RuntimeError(f"Dovecot did not start:\n{self.log()}")

    def stop_server(self) -> None:
        """Stop Dovecot; clients then see "connection refused". Users and mail are kept."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()  # the master shuts its children down
        _end_log_process_early(process)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT)
        # The master leads its own session (start_new_session): whatever of its group still
        # runs after a moment is ours to end.
        deadline = time.monotonic() + 2
        while live_processes_in_group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log(self) -> str:
        assert self.dir is not None
        parts = [self.dir / "dovecot.log", self.dir / "stderr.log"]
        return "".join(p.read_text(errors="replace") for p in parts if p.exists())

    # users and mail

    def add_user(self, user: str, password: str) -> None:
        assert self.dir is not None
        assert ":" not in user + password, "passwd-file fields are separated by ':'"
        assert "/" not in user, "a user is a file name here"
        assert user not in self._users, f"{user} exists"
        self._users[user] = password
        # Read by the auth process as default_internal_user; throwaway test passwords.
        entry = self.dir / "users" / user
        entry.write_text(f"{user}:{{PLAIN}}{password}::::::\n", encoding="utf-8")
        entry.chmod(0o644)

    def new_account(self, password: str = PASSWORD) -> ImapAccount:
        user = f"user{next(self._user_numbers)}@acme.test"
        self.add_user(user, password)
        return ImapAccount(self, user, password)

    def append(
        self, user: str, raw: bytes, folder: str = "INBOX", flags: Iterable[str] = ()
    ) -> int:
        """Deliver ``raw`` with IMAP APPEND as ``user``; return its UID."""
        with self.session(user) as conn:
            self._create_folder(conn, folder)
            flag_list = "({})".format(" ".join(flags))
            typ, data = conn.append(_quote(folder), flag_list, None, raw)
            _check(typ, data, "APPEND")
        # RFC 4315: APPEND answers OK [APPENDUID <uidvalidity> <uid>].
        match = re.search(rb"APPENDUID \d+ (\d+)", data[0])
        assert match, data
        return int(match.group(1))

    def create_folder(self, user: str, folder: str) -> None:
        with self.session(user) as conn:
            self._create_folder(conn, folder)

    def set_flags(self, user: str, uid: int, flags: Iterable[str], folder: str = "INBOX") -> None:
        """Replace the flags of one message, as a person's mail client would."""
        with self.session(user, folder) as conn:
            typ, data = conn.uid("STORE", str(uid), "FLAGS", "({})".format(" ".join(flags)))
            _check(typ, data, "STORE")

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[str]]:
        """Persistent flags by UID."""
        with self.session(user, folder) as conn:
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS)")
            _check(typ, data, "FETCH")
        result = {}
        for line in data:
            match = line and re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", line)
            if match:
                # \Recent belongs to a session, not to the message (RFC 3501 section 2.3.2).
                flags = set(match.group(2).decode().split()) - {"\\Recent"}
                result[int(match.group(1))] = flags
        return result

    def list_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        with self.session(user, folder) as conn:
            typ, data = conn.uid("SEARCH", "ALL")
            _check(typ, data, "SEARCH")
        return sorted(int(uid) for uid in data[0].split())

    def folders(self, user: str) -> list[str]:
        with self.session(user) as conn:
            typ, data = conn.list()
            _check(typ, data, "LIST")
        return sorted(line.rsplit(b' "." ', 1)[1].strip(b'"').decode() for line in data)

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.session(user) as conn:
            typ, data = conn.status(_quote(folder), "(UIDVALIDITY)")
            _check(typ, data, "STATUS")
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))

    def reset_uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Make the server renumber ``folder`` under a new UIDVALIDITY, keeping the messages,
        as after a restore or migration (RFC 3501 section 2.3.1.1). Returns the new value."""
        old = self.uidvalidity(user, folder)
        root = self._maildir(user)
        box = root if folder == "INBOX" else root / f".{folder}"
        # Dovecot keeps UIDs in dovecot-uidlist and caches them, with UIDVALIDITY, in its
        # indexes (the mailbox list index too, for STATUS). Without them it rescans the
        # maildir and takes the next value from dovecot-uidvalidity, so the new one differs.
        doomed = [*box.glob("dovecot-uidlist*"), *box.glob("dovecot.index*")]
        for path in [*doomed, *root.glob("dovecot.list.index*")]:
            path.unlink()
        new = self.uidvalidity(user, folder)
        if new == old:
            raise RuntimeError(f"UIDVALIDITY of {user}/{folder} stayed {old}")
        return new

    @contextlib.contextmanager
    def session(self, user: str, folder: str | None = None) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib connection as ``user``, ``folder`` selected if given."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(user, self._users[user])
            if folder is not None:
                _check(*conn.select(_quote(folder)), "SELECT")
            yield conn
        finally:
            conn.logout()

    # internals

    def _maildir(self, user: str) -> Path:
        assert self.dir is not None
        return self.dir / "mail" / user

    def _create_folder(self, conn: imaplib.IMAP4, folder: str) -> None:
        if folder != "INBOX":
            typ, data = conn.create(_quote(folder))
            if typ != "OK" and b"ALREADYEXISTS" not in data[0]:
                _check(typ, data, "CREATE")

    def _prepare_dir(self) -> None:
        assert self.dir is not None
        # Dovecot's unprivileged processes (auth as dovecot, imap as the mail user) must
        # traverse the directory; mkdtemp makes it 0700.
        self.dir.chmod(0o755)
        make_tls_files(self.dir / "tls")
        mail = self.dir / "mail"
        mail.mkdir()
        os.chown(mail, *_mail_ids())
        (self.dir / "users").mkdir(mode=0o755)

    def _write_config(self) -> None:
        assert self.dir is not None
        mail_uid, mail_gid = _mail_ids()
        extra = f"protocol imap {{\n  imap_capability = {self.capability}\n}}"
        (self.dir / "dovecot.conf").write_text(
            _CONFIG.format(
                host=self.host,
                dir=self.dir,
                port=self.port,
                tls_port=self.tls_port,
                privileges=_privileges(),
                mail_uid=mail_uid,
                mail_gid=mail_gid,
                extra=extra if self.capability else "",
            )
        )

    def _spawn(self) -> bool:
        assert self.dir is not None
        with (self.dir / "stderr.log").open("ab") as stderr:
            self._process = subprocess.Popen(
                [dovecot_binary(), "-F", "-c", str(self.dir / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if _greets(self.host, self.port):
                return True
            time.sleep(0.01)
        self.stop_server()
        return False


@dataclass(frozen=True)
class ImapAccount:
    """One user on an ``ImapPeer``, with the peer's helpers bound to it."""

    peer: ImapPeer
    username: str
    password: str

    @property
    def host(self) -> str:
        return self.peer.host

    @property
    def port(self) -> int:
        return self.peer.port

    @property
    def tls_port(self) -> int:
        return self.peer.tls_port

    def append(self, raw: bytes, folder: str = "INBOX", flags: Iterable[str] = ()) -> int:
        return self.peer.append(self.username, raw, folder, flags)

    def list_uids(self, folder: str = "INBOX") -> list[int]:
        return self.peer.list_uids(self.username, folder)

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        return self.peer.flags(self.username, folder)

    def set_flags(self, uid: int, flags: Iterable[str], folder: str = "INBOX") -> None:
        self.peer.set_flags(self.username, uid, flags, folder)

    def create_folder(self, folder: str) -> None:
        self.peer.create_folder(self.username, folder)

    def folders(self) -> list[str]:
        return self.peer.folders(self.username)

    def uidvalidity(self, folder: str = "INBOX") -> int:
        return self.peer.uidvalidity(self.username, folder)

    def reset_uidvalidity(self, folder: str = "INBOX") -> int:
        return self.peer.reset_uidvalidity(self.username, folder)


def _privileges() -> str:
    if os.geteuid() == 0:
        # Dovecot refuses to run its login processes as root; it drops to these system users,
        # created by the Debian package.
        return "default_internal_user = dovecot\ndefault_login_user = dovenull"
    # Without root everything runs as the caller; chroot and chown to Dovecot's own group
    # need root (Dovecot's "running without root privileges" notes).
    me = pwd.getpwuid(os.geteuid())
    group = grp.getgrgid(me.pw_gid).gr_name
    return (
        f"default_internal_user = {me.pw_name}\ndefault_login_user = {me.pw_name}\n"
        f"default_internal_group = {group}\n"
        "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}"
    )


def _mail_ids() -> tuple[int, int]:
    # Virtual users' mail is read and written by this uid; Dovecot never uses root for it.
    entry = pwd.getpwnam("nobody") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
    return entry.pw_uid, entry.pw_gid


def _end_log_process_early(master: subprocess.Popen) -> None:
    # Dovecot's master (2.3.19) waits up to a second for its log process once every other
    # child has exited. The log process has nothing left to write then, so end it: stopping
    # mostly takes ~0.1 s instead of ~1.1 s and the master still exits 0 (now and then it
    # sleeps out its second anyway).
    deadline = time.monotonic() + STOP_TIMEOUT
    while master.poll() is None and time.monotonic() < deadline:
        children = live_processes_in_group(master.pid)
        children.pop(master.pid, None)
        if set(children.values()) <= {"log"}:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        time.sleep(0.02)


def live_processes_in_group(pgid: int) -> dict[int, str]:
    """Running (not zombie) processes of a process group by pid, with their names (Linux).

    Children orphaned by the master are reparented to PID 1, which in containers may reap
    them late; as zombies they no longer run and are left out.
    """
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
            text = stat.read_text()
            state, _ppid, group = text.rpartition(")")[2].split()[:3]
            if int(group) == pgid and state != "Z":
                found[int(stat.parent.name)] = text[text.index("(") + 1 : text.rindex(")")]
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _greets(host: str, port: int) -> bool:
    """True once the imap-login process answers with the RFC 3501 greeting."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(5) == b"* OK "
    except OSError:
        return False


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(typ: str, data: list, command: str) -> None:
    if typ != "OK":
        raise RuntimeError(f"IMAP {command} failed: {typ} {data!r}")


@pytest.fixture(scope="session")
def imap_peer() -> Iterator[ImapPeer]:
    if dovecot_binary() is None:
        message = "Dovecot is not installed (apt-get install dovecot-imapd; .ci/run does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with ImapPeer() as peer:
        yield peer


@pytest.fixture
def imap_account(imap_peer: ImapPeer) -> ImapAccount:
    """A new user with an empty INBOX on the session's Dovecot, which is running."""
    if not imap_peer.running:  # a previous test may have stopped it to simulate an outage
        imap_peer.start_server()
    return imap_peer.new_account()
