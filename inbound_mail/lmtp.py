"""The LMTP door (RFC 2033): an MTA hands each message over on a socket, as Postfix's
`lmtp:` transport does, and hears one answer per recipient once the message is stored.

aiosmtpd's LMTP runs the protocol on an asyncio loop; the database is never used on that loop:
each message is stored through `inbound_mail.services.intake` on one of a few intake threads,
and only when that transaction has committed does every recipient get its 250. A transient
failure (the database or the storage unavailable) answers 451 for every recipient, so the MTA
keeps the message queued and tries again; the message is stored in one transaction for all its
recipients, so there is never a half-stored message. Mail that no tenant claims is stored as
every door stores it (the platform quarantine) and answered 250 as well.

`manage.py lmtp_server` runs `serve`; the tests start an `LMTPDoor` on a loop of their own.
"""

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from queue import SimpleQueue
from typing import Any

from aiosmtpd.lmtp import LMTP
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from inbound_mail.models import Source
from inbound_mail.services import intake

logger = logging.getLogger(__name__)

GRACE = 6.0  # seconds a stopping server waits for messages being stored (config/run.py: 8)
THREADS = 4
STORED = "250 2.0.0 Stored"
UNCLAIMED = "250 2.0.0 Stored; no tenant claims this address (kept in the platform quarantine)"
NOT_STORED = "451 4.3.0 Not stored, try again later"
STOPPING = "451 4.3.2 Shutting down, try again later"
# aiosmtpd refuses lines over this at the door. RFC 5321 allows 998 characters, but mail from
# real clients has longer lines (unwrapped HTML), and a malformed message is kept with a
# reason rather than refused.
LINE_LIMIT = 1024 * 1024


class IntakeThreads:
    """The threads that store messages. Each keeps its own database connection between messages
    (CONN_MAX_AGE, closed when it fails or ages out) and closes it when the pool stops."""

    def __init__(self, count: int):
        self._jobs: SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None] = SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"lmtp-intake-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._jobs.put((future, fn, args))
        return future

    def shutdown(self, timeout: float = GRACE) -> None:
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def _work(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                future, fn, args = job
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the waiting session, which answers
                    future.set_exception(exc)
        finally:
            connections.close_all()


def store(raw: bytes, recipients: list[str]) -> intake.Receipt:
    """Store one message for its envelope recipients (on an intake thread); committed on return."""
    # As Django does around every request: drop a connection that broke or aged out.
    close_old_connections()
    try:
        return intake.inbound_receive(raw=raw, source=Source.LMTP, envelope_recipients=recipients)
    finally:
        close_old_connections()


class IntakeHandler:
    """aiosmtpd's handler: DATA stores the message and answers each recipient."""

    def __init__(self, threads: IntakeThreads):
        self.threads = threads
        self.stopping = False
        self.sessions: set[asyncio.Transport] = set()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def handle_DATA(self, server, session, envelope) -> str:
        recipients = list(envelope.rcpt_tos)
        if self.stopping:
            return _replies(recipients, STOPPING)
        job = self.threads.submit(store, envelope.original_content, recipients)
        try:
            receipt = await asyncio.wrap_future(job)
        except (DatabaseError, OSError) as exc:
            logger.warning("LMTP: not stored, answered 451: %s", exc)
            return _replies(recipients, NOT_STORED)
        except Exception:
            # Whatever went wrong, the MTA keeps the message: 451, never a lost mail.
            logger.exception("LMTP: not stored, answered 451")
            return _replies(recipients, NOT_STORED)
        logger.info("LMTP: stored %s for %d recipient(s)", receipt.sha256, len(recipients))
        return _replies(recipients, UNCLAIMED if receipt.unclaimed_id else STORED)

    @contextlib.contextmanager
    def delivery(self) -> Iterator[None]:
        """One DATA exchange, from the command to the last reply: a stopping server waits."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def _replies(recipients: list[str], reply: str) -> str:
    # RFC 2033 4.2: after the data, one reply per successful RCPT, in their order.
    return "\r\n".join(reply for _ in recipients)


class IntakeLMTP(LMTP):
    """aiosmtpd's LMTP session, answering every recipient after the data even when aiosmtpd
    itself refuses the data (too large, a line too long): it writes one reply there, and an
    LMTP client waiting for one per recipient would hang until its timeout."""

    line_length_limit = LINE_LIMIT
    _replies_owed = 0

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.event_handler.sessions.add(transport)

    def connection_lost(self, error) -> None:
        self.event_handler.sessions.discard(self.transport)
        super().connection_lost(error)

    async def smtp_DATA(self, arg: str) -> None:
        with self.event_handler.delivery():
            try:
                await super().smtp_DATA(arg)
            finally:
                self._replies_owed = 0

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("354") and self.envelope:
            self._replies_owed = len(self.envelope.rcpt_tos)
        elif isinstance(status, str) and self._replies_owed > 1 and "\r\n" not in status:
            status = "\r\n".join(status for _ in range(self._replies_owed))
        await super().push(status)


class LMTPDoor:
    """The LMTP server: its listening socket, its sessions and its intake threads."""

    def __init__(self, *, threads: int = THREADS):
        self.thread_count = threads
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen (port 0: any free port); the address listened on."""
        self.threads = IntakeThreads(self.thread_count)
        self.handler = IntakeHandler(self.threads)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: self._session(loop), host, port)
        address = self.server.sockets[0].getsockname()
        return address[0], address[1]

    def _session(self, loop: asyncio.AbstractEventLoop) -> IntakeLMTP:
        return IntakeLMTP(
            self.handler,
            # Mail over the intake limit is still kept (quarantined with its reason) by every
            # door; only far beyond it is it refused here, before it fills the memory.
            data_size_limit=2 * settings.INBOUND_MAX_BYTES,
            enable_SMTPUTF8=True,
            hostname=settings.MAIL_DOMAIN,
            loop=loop,
        )

    async def stop(self, grace: float = GRACE) -> None:
        """Stop listening, let messages being stored get their replies, then close."""
        if self.server is None:
            return
        self.server.close()
        self.handler.stopping = True
        if not await self.handler.wait_idle(grace):
            logger.warning("LMTP: stopped with a message still being stored (the MTA retries)")
        for transport in list(self.handler.sessions):
            transport.close()
        await self.server.wait_closed()
        await asyncio.get_running_loop().run_in_executor(None, self.threads.shutdown)
        self.server = None


async def serve(
    *, host: str, port: int, threads: int = THREADS, ready: Callable[[str, int], None]
) -> None:
    """Run the LMTP server until SIGINT or SIGTERM, then stop it gracefully."""
    door = LMTPDoor(threads=threads)
    address = await door.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ready(*address)
    await stop.wait()
    await door.stop()
