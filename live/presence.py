"""Who is on a ticket now: agents viewing or typing, one entry per connection, with a time to live.

The consumer (live.consumers) calls `presence_touch` on every presence frame (a state change or
the 10-second heartbeat), `presence_leave` on unwatch and disconnect, and `presence_people` for
the `presence` message. Nothing here writes to the database: with `REDIS_URL` the entries live
in Redis (a hash per ticket whose key expires with its last heartbeat, and one sorted set of
expiry times the sweepers read), otherwise in this process (the embedded default runs one web
process). An entry lives `LIVE_PRESENCE_TTL` seconds (25) after its last heartbeat.

A connection can die without a goodbye (a killed browser, a dropped network): the sweeper, an
asyncio task in every web process that has presence, wakes every `LIVE_PRESENCE_SWEEP_SECONDS`
(2), removes what expired and sends the new `presence` to those tickets' groups. With several
processes on one Redis, the removal is one atomic script, so each expired entry is announced by
exactly one of them.

Two tabs of one agent are two connections and one person: the most active state wins (typing a
note or a reply over viewing). Agents with a saved draft (live.drafts) who are not here are listed
with state "draft"; viewers with one carry `draft: true`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings

from live.groups import lists_group, ticket_group

logger = logging.getLogger(__name__)

VIEWING = "viewing"
TYPING_REPLY = "typing_reply"
TYPING_NOTE = "typing_note"
DRAFT = "draft"
STATES = (VIEWING, TYPING_REPLY, TYPING_NOTE)
# The most active state wins when one agent has several tabs on a ticket. A note outranks a
# reply: a colleague must not take a note being written for a quiet ticket.
_RANK = {VIEWING: 0, TYPING_REPLY: 1, TYPING_NOTE: 2}

# What the consumer receives from the group for a presence change (handler `live_presence`),
# forwarded to the browser as {"type": "presence", "ticket": ..., "people": ...}.
GROUP_MESSAGE_TYPE = "live.presence"


def ttl_seconds() -> float:
    return float(getattr(settings, "LIVE_PRESENCE_TTL", 25))


def sweep_seconds() -> float:
    # A dead tab is gone at most TTL + this after its last heartbeat (27 s): within the 30 s
    # the issue allows. A sweep with nothing due is one Redis call.
    return float(getattr(settings, "LIVE_PRESENCE_SWEEP_SECONDS", 2))


@dataclass(frozen=True)
class Entry:
    user_id: int
    state: str
    expires_at: float


def merged(entries: Iterable[Entry], now: float) -> dict[int, str]:
    """One state per user from the live entries: the most active of their connections."""
    people: dict[int, str] = {}
    for entry in entries:
        if entry.expires_at <= now:
            continue
        current = people.get(entry.user_id)
        if current is None or _RANK[entry.state] > _RANK[current]:
            people[entry.user_id] = entry.state
    return people


# --- the stores ----------------------------------------------------------------------------


class MemoryStore:
    """The embedded default: entries in this process, the same expiry rules as Redis."""

    def __init__(self) -> None:
        self._tickets: dict[tuple[int, int], dict[str, Entry]] = {}
        # The consumer runs on one event loop, but tests and management code may call from
        # others (async_to_sync makes its own): a lock keeps each read-modify-write whole.
        self._lock = threading.Lock()

    async def touch(self, org: int, ticket: int, connection: str, entry: Entry) -> dict[str, Entry]:
        """Set the connection's entry; returns the ticket's entries before."""
        with self._lock:
            entries = self._tickets.setdefault((org, ticket), {})
            before = dict(entries)
            entries[connection] = entry
            return before

    async def leave(self, org: int, ticket: int, connection: str) -> dict[str, Entry] | None:
        """Drop the connection's entry; the entries before, or None when it had none."""
        with self._lock:
            entries = self._tickets.get((org, ticket))
            if not entries or connection not in entries:
                return None
            before = dict(entries)
            del entries[connection]
            if not entries:
                del self._tickets[(org, ticket)]
            return before

    async def entries_many(self, org: int, tickets: list[int]) -> dict[int, dict[str, Entry]]:
        with self._lock:
            return {ticket: dict(self._tickets.get((org, ticket), {})) for ticket in tickets}

    async def sweep(self, now: float) -> set[tuple[int, int]]:
        gone: set[tuple[int, int]] = set()
        with self._lock:
            for key, entries in list(self._tickets.items()):
                for connection, entry in list(entries.items()):
                    if entry.expires_at <= now:
                        del entries[connection]
                        gone.add(key)
                if not entries:
                    del self._tickets[key]
        return gone

    async def pending(self) -> bool:
        with self._lock:
            return bool(self._tickets)

    async def clear(self) -> None:
        with self._lock:
            self._tickets.clear()


# Removes every due member of the expiry set and its hash field, atomically, and returns the
# "<org>:<ticket>" of each: a sweeper in another process sees none of them again, and a touch
# (which renews the score in the same MULTI as the field) is never lost to a sweep that read
# the old score.
_SWEEP_SCRIPT = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  local o, t, conn = string.match(member, '^(%d+):(%d+):(.*)$')
  if o then
    redis.call('HDEL', ARGV[3] .. o .. ':' .. t, conn)
    table.insert(gone, o .. ':' .. t)
  end
end
return gone
"""


class RedisStore:
    """Production: a hash per ticket (connection -> entry) that expires with its last heartbeat,
    and one sorted set of (org:ticket:connection, expiry) that the sweepers read."""

    def __init__(self, url: str, prefix: str = "live:presence:") -> None:
        self.url = url
        self.prefix = prefix
        self.expiry_key = f"{prefix}expiry"
        # redis.asyncio connections belong to the loop that opened them: one client per loop.
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _client(self):
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(self.url)
            self._clients[loop] = client
        return client

    def _key(self, org: int, ticket: int) -> str:
        return f"{self.prefix}{org}:{ticket}"

    @staticmethod
    def _entries(raw: dict) -> dict[str, Entry]:
        entries = {}
        for connection, value in raw.items():
            data = json.loads(value)
            key = connection.decode() if isinstance(connection, bytes) else connection
            entries[key] = Entry(user_id=data["u"], state=data["s"], expires_at=data["e"])
        return entries

    async def touch(self, org: int, ticket: int, connection: str, entry: Entry) -> dict[str, Entry]:
        key = self._key(org, ticket)
        value = json.dumps({"u": entry.user_id, "s": entry.state, "e": entry.expires_at})
        ttl_ms = max(1, int((entry.expires_at - time.time()) * 1000) + 1000)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.hset(key, connection, value)
            pipe.pexpire(key, ttl_ms)
            pipe.zadd(self.expiry_key, {f"{org}:{ticket}:{connection}": entry.expires_at})
            before, *_ = await pipe.execute()
        return self._entries(before)

    async def leave(self, org: int, ticket: int, connection: str) -> dict[str, Entry] | None:
        key = self._key(org, ticket)
        async with self._client().pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.hdel(key, connection)
            pipe.zrem(self.expiry_key, f"{org}:{ticket}:{connection}")
            before, removed, _ = await pipe.execute()
        return self._entries(before) if removed else None

    async def entries_many(self, org: int, tickets: list[int]) -> dict[int, dict[str, Entry]]:
        if not tickets:
            return {}
        async with self._client().pipeline(transaction=False) as pipe:
            for ticket in tickets:
                pipe.hgetall(self._key(org, ticket))
            found = await pipe.execute()
        return {ticket: self._entries(raw) for ticket, raw in zip(tickets, found, strict=True)}

    async def sweep(self, now: float) -> set[tuple[int, int]]:
        gone: set[tuple[int, int]] = set()
        while True:
            batch = await self._client().eval(
                _SWEEP_SCRIPT, 1, self.expiry_key, repr(now), 500, self.prefix
            )
            for item in batch:
                org, ticket = (item.decode() if isinstance(item, bytes) else item).split(":")
                gone.add((int(org), int(ticket)))
            if len(batch) < 500:
                return gone

    async def pending(self) -> bool:
        return bool(await self._client().zcard(self.expiry_key))

    async def clear(self) -> None:
        client = self._client()
        keys = [key async for key in client.scan_iter(match=f"{self.prefix}*")]
        if keys:
            await client.delete(*keys)


_stores: dict[str, MemoryStore | RedisStore] = {}
_stores_lock = threading.Lock()


def store() -> MemoryStore | RedisStore:
    """Redis when REDIS_URL is set (read each call, so a test may switch), else this process."""
    url = settings.REDIS_URL
    with _stores_lock:
        if url not in _stores:
            _stores[url] = RedisStore(url) if url else MemoryStore()
        return _stores[url]


# --- the interface the consumer calls -----------------------------------------------------------


async def presence_touch(
    *, organization_id: int, ticket_id: int, user_id: int, connection: str, state: str
) -> bool:
    """Record that `connection` (a channel name) shows `user_id` on the ticket in `state`, for
    another TTL; True when what others see changed (the person is new, or their state is)."""
    if state not in _RANK:
        raise ValueError(f"unknown presence state {state!r}")
    now = time.time()
    entry = Entry(user_id=user_id, state=state, expires_at=now + ttl_seconds())
    before = await store().touch(organization_id, ticket_id, connection, entry)
    _ensure_sweeper()
    after = {**before, connection: entry}
    return merged(before.values(), now).get(user_id) != merged(after.values(), now).get(user_id)


async def presence_leave(*, organization_id: int, ticket_id: int, connection: str) -> bool:
    """Forget `connection` on the ticket (unwatch, disconnect); True when others see a change."""
    before = await store().leave(organization_id, ticket_id, connection)
    if before is None:
        return False
    after = {key: entry for key, entry in before.items() if key != connection}
    now = time.time()
    return merged(before.values(), now) != merged(after.values(), now)


async def presence_people(*, organization_id: int, ticket_id: int) -> list[dict]:
    """Everyone on the ticket now, for the `presence` message: viewers and typists (one per
    agent), then agents with a draft who are not here, each with name, initials and colour."""
    people = await presence_people_many(organization_id=organization_id, ticket_ids=[ticket_id])
    return people[ticket_id]


async def presence_people_many(*, organization_id: int, ticket_ids: list[int]) -> dict[int, list]:
    """`presence_people` of several tickets (a list page's `presence_query`) in two queries."""
    now = time.time()
    entries = await store().entries_many(organization_id, ticket_ids)
    here = {ticket_id: merged(entries[ticket_id].values(), now) for ticket_id in ticket_ids}
    return await _on_db_thread(_people_many)(organization_id, here)


async def presence_broadcast(*, organization_id: int, ticket_id: int) -> None:
    """Send the ticket's `presence` to its watchers and to the org's list pages (row markers).

    Not to every agent socket: N agents arriving would be N x N frames (bench/live.py)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    number = await _on_db_thread(_ticket_number)(organization_id, ticket_id)
    if number is None:
        return  # deleted meanwhile: no one can be watching it
    people = await presence_people(organization_id=organization_id, ticket_id=ticket_id)
    message = {
        "type": GROUP_MESSAGE_TYPE,
        "organization": organization_id,
        "ticket": number,
        "people": people,
    }
    await layer.group_send(ticket_group(organization_id, ticket_id), message)
    await layer.group_send(lists_group(organization_id), message)


async def presence_sweep(now: float | None = None) -> set[tuple[int, int]]:
    """One pass of the sweeper: remove expired entries and announce each ticket that lost one.
    Returns the (organization_id, ticket_id) it announced."""
    gone = await store().sweep(time.time() if now is None else now)
    for organization_id, ticket_id in sorted(gone):
        try:
            await presence_broadcast(organization_id=organization_id, ticket_id=ticket_id)
        except Exception:
            logger.exception("presence broadcast failed for ticket %s", ticket_id)
    return gone


# --- names and drafts (the database, on a thread) -------------------------------------------------


def _on_db_thread(function):
    # Django's own thread for sync code (where ASGI runs the views, whose request signals keep
    # its connection fresh). Not channels' database_sync_to_async: its close_old_connections
    # would close a connection that is inside a transaction (a test's, or a caller's).
    return sync_to_async(function, thread_sensitive=True)


def _people_many(organization_id: int, here: dict[int, dict[int, str]]) -> dict[int, list]:
    from live import drafts
    from tenants.models import User

    with _scope(organization_id):
        drafted = drafts.draft_user_ids_many(ticket_ids=list(here))
    ids = set().union(*here.values(), *drafted.values())
    users = {}
    if ids:
        users = {u.pk: u for u in User.objects.filter(pk__in=ids).only("id", "name", "email")}
    return {
        ticket_id: _describe(people, drafted.get(ticket_id, set()), users)
        for ticket_id, people in here.items()
    }


# Ticket numbers never change; the sweeper and draft changes announce by primary key.
_numbers: dict[tuple[int, int], int] = {}


def _ticket_number(organization_id: int, ticket_id: int) -> int | None:
    from tickets.models import Ticket

    key = (organization_id, ticket_id)
    if key not in _numbers:
        with _scope(organization_id):
            number = Ticket.objects.filter(pk=ticket_id).values_list("number", flat=True).first()
        if number is None:
            return None
        if len(_numbers) > 10_000:
            _numbers.clear()
        _numbers[key] = number
    return _numbers[key]


def _describe(here: dict[int, str], drafted: set[int], users: dict) -> list[dict]:
    from tickets.templatetags.avatars import avatar_color

    ids = set(here) | drafted
    people = []
    for user_id in sorted(ids, key=lambda pk: (pk not in here, _sort_name(users.get(pk)), pk)):
        user = users.get(user_id)
        if user is None:
            continue
        people.append(
            {
                "user": user_id,
                "name": user.display_name,
                "initials": user.initials,
                "color": avatar_color(user),
                "state": here.get(user_id, DRAFT),
                "draft": user_id in drafted,
            }
        )
    return people


def _sort_name(user) -> str:
    return user.display_name.lower() if user is not None else ""


def _scope(organization_id: int):
    from tenants.models import Organization
    from tenants.scoping import tenant_scope

    # The id comes from the consumer's own connection (its host's tenant), never from a frame;
    # the scope filters by primary key, so an unsaved instance with that key is enough.
    return tenant_scope(Organization(pk=organization_id))


# --- the sweeper ---------------------------------------------------------------------------------

_sweepers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _ensure_sweeper() -> None:
    """Start this event loop's sweeper unless it runs (or sweeping is off: 0 seconds)."""
    if sweep_seconds() <= 0:
        return
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers[loop] = loop.create_task(_sweeper_loop(), name="live-presence-sweeper")


async def _sweeper_loop() -> None:
    # It stops when no entry is left anywhere (a new touch starts it again), so an idle process
    # or a finished test loop holds no task.
    while True:
        await asyncio.sleep(sweep_seconds())
        try:
            await presence_sweep()
            if not await store().pending():
                return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("presence sweep failed")
