"""Gathering single arrivals into the batch path: messages a door stored one at a time (an ESP
webhook, `ingest_email -`, an IMAP poll that found one new message, LMTP, the mailgate) are
processed together with the others of their tenant that arrive within INBOUND_GATHER_SECONDS,
instead of each costing a task and a processing transaction of its own.

Time is cut into windows of that length. Once a lone message is committed, the first arrival of
a window (per tenant) takes the window's cache key and queues one `process_gathered` task due a
window later; the others of the window find the key taken and queue nothing. The task claims
the tenant's messages still `received` that were queued since its window opened (see
`queued_since`) and processes them through the batch path, INBOUND_BATCH_SIZE at a time
(`services.batch.inbound_process_gathered`). So a lone message waits at most one window.

The cache key only saves tasks; the rows' status decides what is processed, and the claim is a
row lock (SKIP LOCKED), so a second task for the same rows finds nothing to do:
- Redis (production): the key is shared by every process, and the task gives it up before it
  claims (`window_taken`): an arrival after that queues a task of its own, one before that is
  committed before the claim reads, whatever the clocks of the web and worker hosts say.
- the embedded default (no Redis): the cache is each process's own memory, so each web process
  queues its own task per window; the task runs after the window has ended by the same clock
  (one host), so every arrival of the window is committed by then.
- a publish that fails gives the key back: the next arrival of the window queues the task; a
  task that is lost leaves its rows `received`, and the sweeper queues them after STUCK_AFTER.
"""

import logging
import math
import time
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.conf import settings

from inbound_mail import shared_cache

logger = logging.getLogger(__name__)

PROCESS_GATHERED = "inbound_mail.process_gathered"

# The task takes rows queued this long before its window opened too: an intake stamps its
# rows (due_at) inside its transaction and finds its window after the commit, so a transaction
# that began in the previous window still counts. Only so far back: a row that killed the
# worker of one task (still `received`, nothing recorded) must not come back in every later
# task's claim; it is the sweeper's, which counts the try and quarantines it in the end.
LATE_COMMIT = timedelta(seconds=2)


def arrived(organization_id: int) -> None:
    """A lone message of this tenant is committed: queue its window's task unless it is queued."""
    window = settings.INBOUND_GATHER_SECONDS
    slot = int(time.time() // window)
    key = _key(organization_id, slot)
    if not _first_of_window(key, window):
        return
    try:
        current_app.tasks[PROCESS_GATHERED].apply_async(
            (slot, window), {"organization_id": organization_id}, countdown=window
        )
    except Exception:
        # The row is stored either way; the next arrival of the window (or the sweeper) queues it.
        _release(key)
        raise


def window_taken(organization_id: int, slot: int) -> None:
    """The window's task is claiming: arrivals from now on queue a task of their own."""
    try:
        _release(_key(organization_id, slot))
    except Exception:
        logger.warning("could not release inbound gather window %s", slot, exc_info=True)


def queued_since(slot: int, window: float) -> datetime:
    """The rows a window's task takes were queued from this time on (and are still waiting)."""
    return datetime.fromtimestamp(slot * window, UTC) - LATE_COMMIT


def _first_of_window(key: str, window: float) -> bool:
    try:
        # Whole seconds (Redis's cache rounds down to them): the key only has to outlive its
        # window, whose arrivals all compute the same key; the next window has another.
        return _take(key, math.ceil(window) + 1)
    except Exception:
        # No cache: a task per message still processes every message.
        logger.warning("inbound gather cache unavailable; queueing anyway", exc_info=True)
        return True


def _key(organization_id: int, slot: int) -> str:
    return f"inbound:gather:{organization_id}:{slot}"


# The window keys live in the default cache. Every arriving message sets one: on Redis through
# the kept client of inbound_mail.shared_cache (Django's cache builds a client per call).


def _take(key: str, timeout: int) -> bool:
    """Set the key unless it is set (cache.add), for `timeout` seconds."""
    backend = shared_cache.default_cache()
    client = shared_cache.redis_of(backend)
    if client is None:
        return backend.add(key, 1, timeout=timeout)
    return bool(client.set(shared_cache.key_name(backend, key), 1, nx=True, ex=timeout))


def _release(key: str) -> None:
    backend = shared_cache.default_cache()
    client = shared_cache.redis_of(backend)
    if client is None:
        backend.delete(key)
        return
    client.delete(shared_cache.key_name(backend, key))
