"""The live socket: one per agent tab, at /ws/live/ on the tenant's host (config.asgi).

Admission at connect: a signed-in agent (or admin) of the host's organization, nobody else
(live.middleware). The socket joins its organization's agents group and its user's group at
once, a ticket's group on `watch`, and the lists group on `list` (or `presence_query`).
Everything the groups carry is checked again here against this connection before it is
sent: the organization, and the agent role for internal notes. The frames (JSON, at most 4 KB
each) are the protocol of docs/architecture.md ("live"); a bad one is answered with an
`error` frame and the socket stays open.

Database work runs through database_sync_to_async; the group handlers (`live_push`,
`live_presence`) touch no database and skip channels' per-message connection cleanup.
"""

import asyncio
import json
import logging
import random
import time
from typing import TypeGuard

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import HttpRequest
from django.middleware.csrf import get_token

from live import catchup, groups, presence, publish, relay, render
from live.middleware import AGENT_ROLES, agent_role

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4096
MAX_WATCHED = 20  # tickets one socket follows at once (a tab shows one; a few spare)
MAX_QUERY = 200  # ticket numbers in one presence_query (a list page)
MAX_NUMBER = 2**31 - 1
# Frames a socket may send per window; the page sends one every 10 s and on each change.
RATE_FRAMES, RATE_WINDOW = 60, 10.0
# How long an admission holds before it is checked again (a removed member, an ended session).
RECHECK_SECONDS = 30.0
# Group memberships expire in the layer after a day (channels' group_expiry); a socket renews
# its own well before that.
REJOIN_SECONDS = 3600.0
REFUSED = 4403  # close code: not (or no longer) an agent here
STATES = (presence.VIEWING, presence.TYPING_REPLY, presence.TYPING_NOTE)
ALL_CHANGES = ["status", "priority", "assignee", "team", "sla"]
_NO_DATABASE = frozenset({publish.PUSH_TYPE, presence.GROUP_MESSAGE_TYPE})


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.organization = self.scope.get("organization")
        self.role = None
        if self.organization is not None:
            self.role = await self._admission()
        if self.role is None:
            await self.close(code=REFUSED)  # before accept: the handshake is refused
            return
        self.organization_id = self.organization.pk
        self.user_id = self.scope["user"].pk
        self.watching: dict[int, int] = {}  # ticket number -> ticket id
        self.last_presence: dict[int, str] = {}  # number -> the people last sent (no repeats)
        self.checked_at = self.joined_at = time.monotonic()
        # Sockets that connect together (a deploy, a reconnect storm) would recheck together,
        # all on the one database thread: spread the first recheck over the period.
        self.checked_at -= random.uniform(0, RECHECK_SECONDS)
        self.window_start, self.window_frames = time.monotonic(), 0
        self.base_groups = [
            groups.agents_group(self.organization_id),
            groups.user_group(self.organization_id, self.user_id),
        ]
        for group in self.base_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        relay.sockets_loop(asyncio.get_running_loop())
        await self.accept()

    async def _admission(self) -> str | None:
        return await database_sync_to_async(agent_role)(
            organization=self.organization,
            user=self.scope.get("user"),
            session=self.scope.get("session"),
        )

    async def disconnect(self, code):
        if getattr(self, "role", None) is None:
            return
        for number in list(self.watching):
            await self._unwatch(number)
        for group in self.base_groups:
            await self.channel_layer.group_discard(group, self.channel_name)

    # -- frames from the browser ----------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None):
        if not await self._still_admitted():
            await self.close(code=REFUSED)
            return
        frame, error = self._parse(text_data)
        if error:
            await self._send({"type": "error", "error": error})
            return
        kind = frame.get("type")
        handler = FRAMES.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self._send({"type": "error", "error": "unknown_type"})
            return
        try:
            await handler(self, frame)
        except Exception:
            # One frame's failure (the database, the presence store) is this frame's, not the
            # socket's: the page keeps its connection and sends its next frame.
            logger.exception("live: a %r frame failed", frame.get("type"))
            await self._send({"type": "error", "error": "server_error"})

    def _parse(self, text_data) -> tuple[dict, str]:
        now = time.monotonic()
        if now - self.window_start > RATE_WINDOW:
            self.window_start, self.window_frames = now, 0
        self.window_frames += 1
        if self.window_frames > RATE_FRAMES:
            return {}, "rate_limited"
        if text_data is None:
            return {}, "not_text"
        if len(text_data.encode("utf-8")) > MAX_FRAME_BYTES:
            return {}, "too_large"
        try:
            frame = json.loads(text_data)
        except ValueError:
            return {}, "bad_json"
        if not isinstance(frame, dict):
            return {}, "bad_frame"
        return frame, ""

    async def _still_admitted(self) -> bool:
        """Check the admission again every RECHECK_SECONDS (the page's heartbeat drives it)."""
        now = time.monotonic()
        if now - self.joined_at > REJOIN_SECONDS:
            self.joined_at = now
            for group in self._groups():
                await self.channel_layer.group_add(group, self.channel_name)
        if now - self.checked_at < RECHECK_SECONDS:
            return True
        self.checked_at = now
        self.role = await self._admission()
        return self.role is not None

    def _groups(self) -> list[str]:
        tickets = [groups.ticket_group(self.organization_id, pk) for pk in self.watching.values()]
        return [*self.base_groups, *tickets]

    async def frame_watch(self, frame: dict) -> None:
        number, after = frame.get("ticket"), frame.get("after", 0)
        if not _is_number(number) or not (_is_count(after)):
            await self._send({"type": "error", "error": "bad_frame"})
            return
        if number not in self.watching and len(self.watching) >= MAX_WATCHED:
            await self._send({"type": "error", "ticket": number, "error": "too_many"})
            return
        ticket_id = await database_sync_to_async(catchup.ticket_id_for)(
            organization=self.organization, number=number
        )
        if ticket_id is None:
            await self._send({"type": "error", "ticket": number, "error": "not_found"})
            return
        self.watching[number] = ticket_id
        await self.channel_layer.group_add(
            groups.ticket_group(self.organization_id, ticket_id), self.channel_name
        )
        await self._catch_up(number, ticket_id, after)
        await self._touch(number, presence.VIEWING)
        people = await presence.presence_people(
            organization_id=self.organization_id, ticket_id=ticket_id
        )
        await self._send_presence(number, people, always=True)  # the answer to this watch

    async def _catch_up(self, number: int, ticket_id: int, after: int) -> None:
        found = await database_sync_to_async(catchup.catch_up)(
            organization=self.organization, ticket_id=ticket_id, after=after
        )
        for rendered in found.comments:
            await self._send(self._personal(publish.comment_payload(rendered)))
        what = [*ALL_CHANGES, "comment"] if found.comments else ALL_CHANGES
        extra = {"more": True} if found.more else {}
        await self._send(publish.changed_payload(number, what, **extra))

    async def frame_unwatch(self, frame: dict) -> None:
        number = frame.get("ticket")
        if not _is_number(number):
            await self._send({"type": "error", "error": "bad_frame"})
            return
        if number in self.watching:
            await self._unwatch(number)

    async def _unwatch(self, number: int) -> None:
        ticket_id = self.watching.pop(number)
        self.last_presence.pop(number, None)
        await self.channel_layer.group_discard(
            groups.ticket_group(self.organization_id, ticket_id), self.channel_name
        )
        changed = await presence.presence_leave(
            organization_id=self.organization_id, ticket_id=ticket_id, connection=self.channel_name
        )
        if changed:
            await self._broadcast_presence(ticket_id)

    async def frame_presence(self, frame: dict) -> None:
        number, state = frame.get("ticket"), frame.get("state")
        if not _is_number(number) or state not in STATES:
            await self._send({"type": "error", "error": "bad_frame"})
            return
        if number not in self.watching:
            await self._send({"type": "error", "ticket": number, "error": "not_watching"})
            return
        await self._touch(number, state)

    async def _touch(self, number: int, state: str) -> None:
        ticket_id = self.watching[number]
        changed = await presence.presence_touch(
            organization_id=self.organization_id,
            ticket_id=ticket_id,
            user_id=self.user_id,
            connection=self.channel_name,
            state=state,
        )
        if changed:
            await self._broadcast_presence(ticket_id)

    async def _broadcast_presence(self, ticket_id: int) -> None:
        try:
            await presence.presence_broadcast(
                organization_id=self.organization_id, ticket_id=ticket_id
            )
        except Exception:
            logger.exception("live: presence broadcast for ticket %s failed", ticket_id)

    async def frame_list(self, frame: dict) -> None:
        """A list page: its rows' changes, new tickets and viewers' markers (the lists group)."""
        await self._join_lists()

    async def _join_lists(self) -> None:
        group = groups.lists_group(self.organization_id)
        if group not in self.base_groups:
            self.base_groups.append(group)
            await self.channel_layer.group_add(group, self.channel_name)

    async def frame_presence_query(self, frame: dict) -> None:
        numbers = frame.get("tickets")
        if not isinstance(numbers, list) or len(numbers) > MAX_QUERY:
            await self._send({"type": "error", "error": "bad_frame"})
            return
        if not all(_is_number(n) for n in numbers):
            await self._send({"type": "error", "error": "bad_frame"})
            return
        await self._join_lists()
        found = await database_sync_to_async(catchup.ticket_ids_for)(
            organization=self.organization, numbers=numbers
        )
        people = await presence.presence_people_many(
            organization_id=self.organization_id, ticket_ids=list(found.values())
        )
        for number, ticket_id in sorted(found.items()):
            if people.get(ticket_id):
                frame = {"type": "presence", "ticket": number, "people": people[ticket_id]}
                await self._send(frame)

    # -- messages from the groups -----------------------------------------------------------

    async def dispatch(self, message):
        if message.get("type") in _NO_DATABASE:
            # No database in these handlers: skip channels' close_old_connections, a thread
            # hop per message per socket.
            await getattr(self, message["type"].replace(".", "_"))(message)
            return
        await super().dispatch(message)

    async def live_push(self, message: dict) -> None:
        if message.get("organization") != self.organization_id:
            return  # never another tenant's, whatever group it came through
        if message.get("internal"):
            # An internal note goes only to an agent whose admission is fresh (a member
            # removed a moment ago is closed here, not told).
            if not await self._still_admitted():
                await self.close(code=REFUSED)
                return
            if self.role not in AGENT_ROLES:
                return
        payload = message["payload"]
        if payload.get("type") == "comment":
            payload = self._personal(payload)
        await self._send(payload)

    async def live_presence(self, message: dict) -> None:
        if message.get("organization") != self.organization_id:
            return  # never another tenant's, whatever group it came through
        await self._send_presence(message["ticket"], message["people"])

    async def _send_presence(self, number: int, people: list, *, always: bool = False) -> None:
        frame = json.dumps({"type": "presence", "ticket": number, "people": people})
        if self.last_presence.get(number) == frame and not always:
            return  # the same line again (both groups carry it, or a heartbeat changed nothing)
        if number in self.watching:
            self.last_presence[number] = frame
        await self.send(text_data=frame)

    def _personal(self, payload: dict) -> dict:
        """The comment's forms get this browser's CSRF token (live.render leaves a
        placeholder); without a CSRF cookie they carry none and htmx's header is used."""
        return {**payload, "html": payload["html"].replace(render.CSRF_FIELD, self._csrf_field())}

    def _csrf_field(self) -> str:
        # Masked once per socket (the cookie is the handshake's): a push to 500 sockets would
        # otherwise mask 500 tokens (bench/live.py: 6% of the server's time).
        field = getattr(self, "_csrf_field_value", None)
        if field is None:
            secret = self.scope.get("cookies", {}).get(settings.CSRF_COOKIE_NAME, "")
            token = _masked_token(secret) if _is_csrf_secret(secret) else ""
            field = self._csrf_field_value = f'name="csrfmiddlewaretoken" value="{token}"'
        return field

    async def _send(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload))


FRAMES = {
    "watch": LiveConsumer.frame_watch,
    "unwatch": LiveConsumer.frame_unwatch,
    "presence": LiveConsumer.frame_presence,
    "presence_query": LiveConsumer.frame_presence_query,
    "list": LiveConsumer.frame_list,
}

_CSRF_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _is_csrf_secret(value: str) -> bool:
    # Django's CSRF secret: 32 characters of its alphabet (django.middleware.csrf).
    return len(value) == 32 and set(value) <= _CSRF_CHARS


def _masked_token(secret: str) -> str:
    """A fresh masking of the browser's CSRF secret, as a page's {% csrf_token %} renders it."""
    request = HttpRequest()
    request.META["CSRF_COOKIE"] = secret
    return get_token(request)


def _is_number(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_NUMBER


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**63 - 1
