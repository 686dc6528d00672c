"""What routing has learnt about recipient addresses, kept per process: for each address asked
about, the tenant and plus-addressing of the inbound address it is, or that it is none. A lone
message then costs one read of a version from the shared cache instead of a query.

The version lives in the default cache (Redis in production, shared by every process). Every
write of an InboundAddress row (created, changed or deleted, a tenant's deletion cascading to
its addresses included) gives it a new random value after the commit, and each process drops
what it knew on its next message. A missing version (a cleared or evicted cache, a restarted
Redis) gets a new random value too, so it never matches answers learnt before. The version is
read before the database is, so an answer is always filed under a version at least as old as
the rows it was read from.

Only with a cache every process shares: on local memory (no Redis configured) an address added
in the web process would not reach the LMTP server's cache, so routing queries every time
(INBOUND_ROUTING_CACHE = True or False overrides the choice). Inside a transaction that wrote
an address, this process neither uses nor fills the cache: it sees rows no one else does and
that a rollback may undo. Answers also expire after MAX_AGE_SECONDS, in case a version change
was lost with the cache server.

The model's signals see every write through the ORM but `QuerySet.update()` and raw SQL: a
write of that kind to an address's address, tenant or plus_addressing calls `bump()` itself
after its commit (today only is_default is written so, which routing does not read).
"""

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save

from inbound_mail import shared_cache
from inbound_mail.models import InboundAddress

logger = logging.getLogger(__name__)

VERSION_KEY = "inbound:routing:version"
MAX_AGE_SECONDS = 60.0
MAX_ENTRIES = 50_000  # addresses known per process before it starts over

# address -> (organization id, plus_addressing), or None: no inbound address has this address.
Route = tuple[int, bool] | None


@dataclass
class _Known:
    version: str
    learnt_at: float
    routes: dict[str, Route] = field(default_factory=dict)


_known: _Known | None = None
_writing = threading.local()  # .dirty: this thread's connection wrote an address uncommitted
_ahead = threading.local()  # .asked: the version request sent ahead on this thread, if any


def read(addresses: set[str]) -> tuple[str | None, dict[str, Route]]:
    """(the version to file new answers under, what is known of these addresses). No version
    (None) when the cache is not to be used now: then nothing is known either."""
    version = _version()
    if version is None:
        return None, {}
    known = _known
    if known is None or known.version != version or _expired(known):
        return version, {}
    routes = known.routes  # another thread (LMTP's) may add to it or clear it meanwhile
    found: dict[str, Route] = {}
    for address in addresses:
        try:  # not `in` then `[]`: a clear in between would raise there too
            found[address] = routes[address]
        except KeyError:
            continue  # not known here (None would be: known to be no inbound address)
    return version, found


def learn(version: str | None, routes: dict[str, Route]) -> None:
    """File answers read from the database after `read` gave `version`."""
    global _known
    if version is None:
        return
    known = _known
    if known is None or known.version != version or _expired(known):
        known = _known = _Known(version, time.monotonic())
    if len(known.routes) + len(routes) > MAX_ENTRIES:
        known.routes.clear()
    known.routes.update(routes)


def _expired(known: _Known) -> bool:
    return time.monotonic() - known.learnt_at > MAX_AGE_SECONDS


def _version() -> str | None:
    if not _enabled() or _dirty():
        return None
    try:
        return _read_version()
    except Exception:
        # No cache server: routing asks the database, as it would without this cache.
        logger.warning("inbound routing cache unavailable; querying", exc_info=True)
        return None


def _enabled() -> bool:
    chosen = getattr(settings, "INBOUND_ROUTING_CACHE", None)
    if chosen is not None:
        return bool(chosen)
    return not isinstance(shared_cache.default_cache(), LocMemCache | DummyCache)


def _dirty() -> bool:
    if not getattr(_writing, "dirty", False):
        return False
    if connection.in_atomic_block:
        return True
    _writing.dirty = False  # that transaction is over: committed (and bumped) or rolled back
    return False


def _read_version() -> str:
    backend = shared_cache.default_cache()
    client = shared_cache.redis_of(backend)
    if client is None:
        value = backend.get(VERSION_KEY)
        if value is None:
            backend.add(VERSION_KEY, uuid.uuid4().hex, None)  # two processes agree on one
            value = backend.get(VERSION_KEY)
        return str(value)
    name = shared_cache.key_name(backend, VERSION_KEY)
    asked = getattr(_ahead, "asked", None)
    if asked is not None:
        _ahead.asked = None
        value = asked.answer()
    else:
        value = client.get(name)
    if value is None:
        client.set(name, uuid.uuid4().hex, nx=True)
        value = client.get(name)
    return value.decode() if isinstance(value, bytes) else str(value)


@contextmanager
def asked_ahead(routed: bool = True) -> Iterator[None]:
    """Send the version request now and read its answer when routing needs it, so that its
    round trip overlaps the work in between (intake stores and parses the message meanwhile)
    instead of the process waiting for it. The server answers with the version as it was when
    the request arrived, before routing reads the database: still an answer at least as old."""
    asked = _ask() if routed else None
    _ahead.asked = asked
    try:
        yield
    finally:
        _ahead.asked = None
        if asked is not None:
            asked.close()


def _ask() -> "_Asked | None":
    if not _enabled() or _dirty():
        return None
    backend = shared_cache.default_cache()
    client = shared_cache.redis_of(backend)
    if client is None:
        return None
    try:
        return _Asked(client, shared_cache.key_name(backend, VERSION_KEY))
    except Exception:
        return None  # routing asks again when it needs the version, and says why it cannot


class _Asked:
    """A GET sent on a connection of the client's pool, answered later (redis-py's public
    Connection.send_command / read_response, the two halves of a command)."""

    def __init__(self, client: redis.Redis, name: str):
        self._pool = client.connection_pool
        self._connection: redis.Connection | None = self._pool.get_connection()
        self._answered = False
        try:
            self._connection.send_command("GET", name)
        except Exception:
            self.close()
            raise

    def answer(self) -> bytes | None:
        assert self._connection is not None  # answered once
        try:
            value = self._connection.read_response()
            self._answered = True
            return value
        finally:
            self.close()

    def close(self) -> None:
        if self._connection is None:
            return
        if not self._answered:
            self._connection.disconnect()  # an unread answer must not reach the next command
        self._pool.release(self._connection)
        self._connection = None


def bump() -> None:
    """Every process forgets what it knew (call after an address change is committed)."""
    backend = shared_cache.default_cache()
    client = shared_cache.redis_of(backend)
    if client is None:
        backend.set(VERSION_KEY, uuid.uuid4().hex, None)
    else:
        client.set(shared_cache.key_name(backend, VERSION_KEY), uuid.uuid4().hex)


def _address_written(**kwargs) -> None:
    # Now, for every process: what another process learns from here on is filed under the new
    # version; after the commit again, for what was learnt while the transaction was open.
    _bump_logged()
    if connection.in_atomic_block:
        _writing.dirty = True
        transaction.on_commit(_bump_logged)


def _bump_logged() -> None:
    try:
        bump()
    except Exception:
        # The change is committed; other processes see it at the latest after MAX_AGE_SECONDS.
        logger.error("inbound routing cache: could not announce an address change", exc_info=True)


def connect() -> None:
    """Every write of an address, wherever it comes from: the settings pages, a confirmation
    mail, a tenant deleted with its addresses, seeding (as django.contrib.sites clears its
    site cache on its model's signals)."""
    post_save.connect(_address_written, sender=InboundAddress, dispatch_uid="routing_cache_save")
    post_delete.connect(
        _address_written, sender=InboundAddress, dispatch_uid="routing_cache_delete"
    )
