"""Sockets on the real ASGI application (config.asgi), on the configured channel layer: Redis
when REDIS_URL is set, the in-memory one otherwise. Each test starts with an empty layer and no
presence, and runs its scenario on one event loop (`run`), doing its database work through
database_sync_to_async as the consumer does."""

import json
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from asgiref.sync import async_to_sync
from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer

from config.asgi import application
from live import presence

TIMEOUT = 10  # seconds a frame that must come may take (a slow CI); never a measured speed


@pytest.fixture(autouse=True)
def _empty_layer():
    # A layer of the test's own: the process's one keeps locks and pools bound to the event
    # loops that used it first (an ASGI server of a browser test on the same worker), which
    # this test's loop must not touch ("bound to a different event loop").
    shared = channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)

    async def flush():
        layer = get_channel_layer()
        if isinstance(layer, RedisChannelLayer):
            # Not layer.flush(): it closes the pools of every event loop, those of a server
            # running in this process (tests/browser.py's asgi_live_server) too, from this one.
            await _delete_layer_keys(layer)
        else:
            await layer.flush()
        await presence.store().clear()

    async_to_sync(flush)()
    yield
    async_to_sync(flush)()
    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    if shared is not None:
        channel_layers.backends[DEFAULT_CHANNEL_LAYER] = shared


async def _delete_layer_keys(layer) -> None:
    for host in layer.hosts:
        client = aioredis.Redis.from_url(host["address"])
        try:
            keys = [key async for key in client.scan_iter(match=f"{layer.prefix}*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run the test's scenario (a coroutine function) on an event loop of its own."""
    async_to_sync(scenario)()


def cookie_header(client) -> bytes:
    return "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items()).encode()


def socket(host: str, *, cookies: bytes = b"", origin: str | None = None):
    """A communicator for /ws/live/ as a browser on `host` opens it."""
    headers = [(b"host", host.encode()), (b"origin", (origin or f"http://{host}").encode())]
    if cookies:
        headers.append((b"cookie", cookies))
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


def agent_socket(tenant, user=None, *, host: str | None = None):
    """A socket of `user` (the tenant's agent by default), signed in on the tenant's host, with
    the CSRF cookie a page would have set."""
    client = tenant.client(user or tenant.agent)
    client.get("/agent/")  # the page sets the CSRF cookie, as in a browser
    return socket(host or f"{tenant.org.slug}.localhost", cookies=cookie_header(client))


async def receive(communicator, timeout: float = TIMEOUT) -> dict:
    return json.loads(await communicator.receive_from(timeout=timeout))


async def receive_until(communicator, kind: str, timeout: float = TIMEOUT) -> tuple[dict, list]:
    """The next frame of type `kind`, and the frames of other types before it."""
    skipped = []
    while True:
        frame = await receive(communicator, timeout)
        if frame["type"] == kind:
            return frame, skipped
        skipped.append(frame)


async def drain(communicator, timeout: float = 0.3) -> list[dict]:
    """Every frame that arrives until the socket has been quiet for `timeout`."""
    frames = []
    while not await communicator.receive_nothing(timeout=timeout):
        frames.append(await receive(communicator))
    return frames


async def send(communicator, frame: dict) -> None:
    await communicator.send_to(text_data=json.dumps(frame))


async def watch(communicator, number: int, after: int = 0) -> list[dict]:
    """Watch a ticket: the answer up to its `presence` (catch-up comments, ticket.changed)."""
    await send(communicator, {"type": "watch", "ticket": number, "after": after})
    presence_frame, before = await receive_until(communicator, "presence")
    return [*before, presence_frame]
