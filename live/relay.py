"""How a message reaches the sockets, from whichever process has it.

The sockets live in the web process. With a shared channel layer (Redis, whenever REDIS_URL is
set) every process sends to the groups directly. Without one (the embedded default) the layer
lives inside the web process alone: `config.asgi` marks the process that serves the sockets
(`serve_here`), and any other process (the Celery worker turning a customer's mail into a
comment, a management command) posts its messages to that process over HTTP instead:
`LIVE_RELAY_URL` + the `live_relay` URL on the tenant's own host, the body signed with a key
derived from SECRET_KEY (live.relay_views checks it and sends them on its layer).

Presence lives where the sockets are too (live.presence: Redis, or the web process), so a
change that others must see ("Dana has a draft") is announced there as well: `announce_presence`.
"""

import asyncio
import hmac
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.urls import reverse
from django.utils.crypto import salted_hmac

logger = logging.getLogger(__name__)

Message = tuple[str, dict]  # (group name, channel-layer message)

SIGNATURE_HEADER = "X-Live-Signature"
# A relayed body older than this (or from the future by as much) is refused: a replayed post
# could only repeat a push, but there is no reason to accept one.
FRESH_SECONDS = 60.0
TIMEOUT_SECONDS = 3.0
MAX_MESSAGES = 500  # per relayed post: one event's messages, or a batch of mail's

_serving = False


def serve_here() -> None:
    """This process serves the sockets (config.asgi): its own layer reaches them."""
    global _serving
    _serving = True


def serving_here() -> bool:
    return _serving


def layer_is_shared() -> bool:
    """True when every process reaches every socket through the layer (Redis)."""
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def reaches_sockets() -> bool:
    """Whether anything sent from this process can reach a socket (else publishing is skipped:
    nothing is rendered for nobody)."""
    return layer_is_shared() or _serving or bool(settings.LIVE_RELAY_URL)


def send(*, organization_id: int, messages: Sequence[Message], slug: str | None = None) -> None:
    """Send each (group, message): through the layer when it reaches the sockets from here,
    else posted to the web process (on the tenant's host: `slug`, looked up when not given).
    Every group must be one of the organization's."""
    _check_groups(organization_id, messages)
    if not messages:
        return
    if layer_is_shared() or _serving:
        send_local(messages)
    elif settings.LIVE_RELAY_URL:
        payload = {"organization": organization_id, "messages": list(messages)}
        _post(slug or _slug(organization_id), payload)


def announce_presence(*, organization_id: int, ticket_id: int) -> None:
    """Have the sockets' process send the ticket's `presence` to its watchers and the agents
    (live.presence.presence_broadcast), from whichever process noticed the change (synchronous
    code: a view, an on-commit handler, a task)."""
    if layer_is_shared() or _serving:
        run_async(_presence_broadcast, organization_id, ticket_id)
    elif settings.LIVE_RELAY_URL:
        payload = {"organization": organization_id, "messages": [], "presence": [ticket_id]}
        _post(_slug(organization_id), payload)


def _slug(organization_id: int) -> str:
    from tenants.models import Organization

    return Organization.objects.values_list("slug", flat=True).get(pk=organization_id)


def send_local(messages: Sequence[Message]) -> None:
    """Send on this process's layer, from synchronous code."""
    run_async(_group_send_all, list(messages))


def broadcast_presence_local(organization_id: int, ticket_ids: Sequence[int]) -> None:
    for ticket_id in ticket_ids:
        run_async(_presence_broadcast, organization_id, ticket_id)


async def _group_send_all(messages: list[Message]) -> None:
    layer = get_channel_layer()
    for group, message in messages:
        await layer.group_send(group, message)


# live.presence.presence_broadcast, handed over by LiveConfig.ready(): presence reads drafts, and
# drafts announce through here, so this module cannot import presence itself.
_presence_broadcaster: Callable[..., Awaitable[None]] | None = None


def use_presence_broadcast(broadcast: Callable[..., Awaitable[None]]) -> None:
    global _presence_broadcaster
    _presence_broadcaster = broadcast


async def _presence_broadcast(organization_id: int, ticket_id: int) -> None:
    if _presence_broadcaster is not None:
        await _presence_broadcaster(organization_id=organization_id, ticket_id=ticket_id)


def _check_groups(organization_id: int, messages: Sequence[Message]) -> None:
    prefix = f"live.o{organization_id}."
    for group, message in messages:
        if not group.startswith(prefix) or message.get("organization") != organization_id:
            raise ValueError(f"message for {group!r} is not organization {organization_id}'s")


# -- running a coroutine from synchronous code ----------------------------------------------------


def run_async(function: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> Any:
    """Run `function(*args)` on the right event loop and wait for it.

    In the process that serves the sockets the coroutine must run on the server's loop, where
    the consumers and the in-memory layer live (its asyncio queues are not thread-safe).
    Synchronous code there (a view, an on-commit handler) usually runs in a thread asgiref
    started from that loop: async_to_sync hands it over. A thread the server did not start (a
    background thread; a test beside an in-thread server) hands it over with
    run_coroutine_threadsafe to the loop the sockets connected on. Anywhere else (a Celery
    worker) a loop of our own, on a thread kept for the process, holds the layer's Redis
    connections from one message to the next instead of opening new ones each time.
    """
    if not _serving:
        return _own_loop().run(function(*args))
    here = _running_loop()
    if here is None and _asgiref_outer_loop() is not None:
        return async_to_sync(function)(*args)
    server = _server_loop
    if server is not None and server.is_running() and server is not here:
        future = asyncio.run_coroutine_threadsafe(function(*args), server)
        return future.result(timeout=TIMEOUT_SECONDS * 2)
    if here is not None:
        # Called from async code on the server's own loop: it cannot wait for itself.
        here.create_task(function(*args))
        return None
    return async_to_sync(function)(*args)  # no server loop yet: no socket to reach either


_server_loop: asyncio.AbstractEventLoop | None = None


def sockets_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The loop the sockets run on (the consumer tells it when one connects)."""
    global _server_loop
    _server_loop = loop


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _asgiref_outer_loop() -> asyncio.AbstractEventLoop | None:
    """The loop of the sync_to_async call this thread runs under, if any (as asgiref finds it)."""
    local = SyncToAsync.threadlocal
    if getattr(local, "main_event_loop_pid", None) != os.getpid():
        return None
    loop = getattr(local, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-send", daemon=True)
        self.thread.start()

    def alive(self) -> bool:
        # A forked worker (Celery's pool) inherits the object but not the thread.
        return self.pid == os.getpid() and self.thread.is_alive()

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout=TIMEOUT_SECONDS * 2)


_loop: _LoopThread | None = None
_loop_lock = threading.Lock()


def _own_loop() -> _LoopThread:
    global _loop
    with _loop_lock:
        if _loop is None or not _loop.alive():
            _loop = _LoopThread()
        return _loop


# -- the relay: signing, posting ----------------------------------------------------------------


def signature(body: bytes) -> str:
    return salted_hmac("helpdesk.live.relay", body, algorithm="sha256").hexdigest()


def signature_matches(body: bytes, given: str) -> bool:
    return hmac.compare_digest(signature(body), given or "")


def _post(slug: str, payload: dict) -> None:
    payload = {**payload, "sent": time.time()}
    body = json.dumps(payload, separators=(",", ":")).encode()
    url = settings.LIVE_RELAY_URL.rstrip("/") + reverse("live_relay")
    request = urllib.request.Request(  # noqa: S310  # our own http(s) URL from the settings
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            # The tenant's own host: the relay runs inside that tenant, like any request.
            "Host": f"{slug}.{settings.BASE_DOMAIN}",
            SIGNATURE_HEADER: signature(body),
        },
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        # The web process is down or restarting: its pages catch up when they reconnect.
        logger.warning("live relay to %s failed: %s", url, exc)


# Loopback to our own web process: never through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
