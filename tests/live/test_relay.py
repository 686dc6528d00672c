"""The relay (live.relay, live.relay_views): without a shared layer, a message made in another
process (the Celery worker turning mail into a comment) still reaches the sockets of the web
process. End to end with real processes: a daphne server (`manage.py runserver`, as `make run`
starts it) and a second Django process creating a comment through the services; and the
endpoint's refusals through the test client."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test import Client
from websockets.sync.client import connect

from live import groups, publish, relay
from tests.factories import make_ticket
from tests.live.conftest import agent_socket, drain, receive_until, run, watch
from tickets.services.comments import comment_create

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
URL = "/internal/live/relay/"


@pytest.fixture
def embedded_layer(settings):
    """The embedded default's layer (in this process only), whatever REDIS_URL says."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert not relay.layer_is_shared()
    assert relay.serving_here()  # config.asgi was imported (tests.live.conftest)


def _body(organization_id: int, messages: list, *, sent: float | None = None, **extra) -> bytes:
    payload = {"organization": organization_id, "messages": messages, **extra}
    payload["sent"] = time.time() if sent is None else sent
    return json.dumps(payload).encode()


def _post(tenant, body: bytes, signature: str | None = None):
    client = Client(HTTP_HOST=f"{tenant.org.slug}.localhost")
    return client.post(
        URL,
        body,
        content_type="application/json",
        headers={relay.SIGNATURE_HEADER: relay.signature(body) if signature is None else signature},
    )


def _push(tenant, payload: dict) -> list:
    org = tenant.org.pk
    return [groups.agents_group(org), publish.push(org, payload)]


def test_relay_delivers_a_signed_post_to_the_tenants_sockets(acme, globex, embedded_layer):
    acme_socket, globex_socket = agent_socket(acme), agent_socket(globex)
    body = _body(acme.org.pk, [_push(acme, {"type": "ticket.created", "ticket": 7})])

    async def scenario():
        for communicator in (acme_socket, globex_socket):
            assert (await communicator.connect())[0]
        response = await database_sync_to_async(_post)(acme, body)
        assert response.status_code == 204
        frame, _ = await receive_until(acme_socket, "ticket.created")
        assert frame == {"type": "ticket.created", "ticket": 7}
        assert await drain(globex_socket) == []
        for communicator in (acme_socket, globex_socket):
            await communicator.disconnect()

    run(scenario)


def test_relay_refuses_what_it_cannot_trust(acme, globex, embedded_layer):
    ours = _push(acme, {"type": "ticket.created", "ticket": 7})
    theirs = _push(globex, {"type": "ticket.created", "ticket": 7})
    good = _body(acme.org.pk, [ours])
    refusals = [
        (_post(acme, good, signature="0" * 64), 403),  # not signed with our key
        (_post(acme, _body(acme.org.pk, [ours], sent=time.time() - 3600)), 403),  # stale
        (_post(globex, good), 400),  # acme's body on globex's host
        (_post(acme, _body(acme.org.pk, [theirs])), 400),  # another tenant's group
        (_post(acme, _body(acme.org.pk, [[ours[0], {**ours[1], "type": "x.y"}]])), 400),
        (_post(acme, _body(acme.org.pk, "ours")), 400),
        (_post(acme, _body(acme.org.pk, [], presence=["1"])), 400),
        (_post(acme, b"not json"), 400),
        (Client(HTTP_HOST="acme.localhost").get(URL), 405),
        (Client(HTTP_HOST="localhost").post(URL, good, content_type="application/json"), 404),
    ]
    assert [r.status_code for r, _ in refusals] == [status for _, status in refusals]


def test_relay_is_not_there_where_it_is_not_how_messages_travel(acme, settings, monkeypatch):
    body = _body(acme.org.pk, [_push(acme, {"type": "ticket.created", "ticket": 7})])
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(relay, "_serving", False)  # a process that holds no sockets
    assert _post(acme, body).status_code == 404
    monkeypatch.setattr(relay, "_serving", True)
    in_memory = settings.CHANNEL_LAYERS
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},  # shared: every process sends itself
        }
    }
    try:
        assert _post(acme, body).status_code == 404
    finally:
        settings.CHANNEL_LAYERS = in_memory  # the layer the test's teardown empties


def test_publishing_renders_nothing_when_nothing_could_receive_it(acme, settings, monkeypatch):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.LIVE_RELAY_URL = ""
    monkeypatch.setattr(relay, "_serving", False)
    rendered = []
    monkeypatch.setattr(publish.render, "comment_by_id", rendered.append)
    with acme.scope():
        comment_create(ticket=make_ticket(acme.org), body_text="Nobody listens")
    assert rendered == []
    settings.LIVE_RELAY_URL = "http://127.0.0.1:1"  # a relay: now there is someone to tell
    with acme.scope():
        comment = comment_create(ticket=make_ticket(acme.org), body_text="Someone may")
    assert rendered == [comment.pk]


def test_sends_from_any_thread_of_the_web_process_run_on_the_sockets_loop(acme):
    """The in-memory layer's queues belong to the sockets' loop: a thread asgiref did not start
    (a background thread, a test beside an in-thread server) must hand its sends over."""
    communicator = agent_socket(acme)

    async def where():
        return asyncio.get_running_loop()

    async def scenario():
        assert (await communicator.connect())[0]
        sockets = asyncio.get_running_loop()
        assert await asyncio.to_thread(relay.run_async, where) is sockets
        # And from a thread asgiref runs for this loop (a view, an on-commit handler).
        assert await database_sync_to_async(relay.run_async)(where) is sockets
        await communicator.disconnect()

    run(scenario)


# -- two real processes -----------------------------------------------------------------------

SETUP = """
import json
from django.test import Client
from tenants import services as tenant_services
from tenants.models import Membership
from tenants.scoping import tenant_scope
from tests.factories import make_ticket

org = tenant_services.organization_create(slug="acme", name="Acme")
with tenant_scope(org):
    agent = tenant_services.user_get_or_create(email="agent@acme.test", name="Ann", password="pw")
    tenant_services.membership_add(organization=org, user=agent, role=Membership.AGENT)
    ticket = make_ticket(org)
client = Client(HTTP_HOST="acme.localhost")
client.force_login(agent)
print(json.dumps({"ticket": ticket.number, "session": client.cookies["sessionid"].value}))
"""

# What the worker does with a customer's mail, in short: a comment through the services.
COMMENT = """
from tenants.models import Organization
from tenants.scoping import tenant_scope
from tickets.models import Ticket
from tickets.services.comments import comment_create

org = Organization.objects.get(slug="acme")
with tenant_scope(org):
    ticket = Ticket.objects.get(number={number})
    comment = comment_create(
        ticket=ticket, body_text="Sent from the other process", author_contact=ticket.requester,
        channel="email",
    )
print(comment.pk)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(tmp_path: Path) -> dict[str, str]:
    """The processes' environment: the embedded default (no Redis, DEBUG off), on the test's
    PostgreSQL database when the suite runs on one, else on an SQLite file of their own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "DATABASE_URL", "DEBUG", "LIVE_RELAY_URL")
    }
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT'] or 5432}"
            f"/{db['NAME']}"
        )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def _wait_until_serving(server: subprocess.Popen, port: int, log: Path) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz", headers={"Host": f"acme.localhost:{port}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()[-3000:]
        try:
            with opener.open(request, timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail("the server did not come up:\n" + log.read_text()[-3000:])


@pytest.mark.slow  # migrates a database of its own and starts a server
def test_a_comment_made_in_another_process_reaches_a_socket_of_the_running_server(tmp_path):
    env = _environment(tmp_path)
    if connection.vendor != "postgresql":
        _manage(env, "migrate", "--noinput", "-v0")
    made = json.loads(_manage(env, "shell", "-c", SETUP))
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(server, port, log)
        host = f"acme.localhost:{port}"
        with connect(
            f"ws://{host}/ws/live/",
            sock=socket.create_connection(("127.0.0.1", port)),
            origin=f"http://{host}",
            additional_headers={"Cookie": f"sessionid={made['session']}"},
            proxy=None,
        ) as browser:
            browser.send(json.dumps({"type": "watch", "ticket": made["ticket"], "after": 10**9}))
            _frames_until(browser, "presence")
            worker = {**env, "LIVE_RELAY_URL": f"http://127.0.0.1:{port}"}
            comment_id = int(_manage(worker, "shell", "-c", COMMENT.format(number=made["ticket"])))
            pushed = _frames_until(browser, "comment")
        assert (pushed["ticket"], pushed["comment"], pushed["internal"]) == (
            made["ticket"],
            comment_id,
            False,
        )
        assert "Sent from the other process" in pushed["html"]
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


@pytest.mark.skipif(
    not os.environ.get("REDIS_URL") or "postgres" not in os.environ.get("DATABASE_URL", ""),
    reason="the production layer: Redis, and a database both processes share",
)
def test_with_redis_another_process_reaches_the_sockets_through_the_layer(acme, tmp_path):
    """Production: no relay; the worker process sends to Redis itself (its own loop thread)."""
    with acme.scope():
        ticket = make_ticket(acme.org)
    communicator = agent_socket(acme)
    env = {**_environment(tmp_path), "REDIS_URL": os.environ["REDIS_URL"]}
    code = COMMENT.format(number=ticket.number)

    async def scenario():
        assert (await communicator.connect())[0]
        await watch(communicator, ticket.number, after=10**9)
        comment_id = int(await asyncio.to_thread(_manage, env, "shell", "-c", code))
        pushed, _ = await receive_until(communicator, "comment", timeout=30)
        assert (pushed["ticket"], pushed["comment"]) == (ticket.number, comment_id)
        assert "Sent from the other process" in pushed["html"]
        await communicator.disconnect()

    run(scenario)


def _frames_until(browser, kind: str) -> dict:
    while True:
        frame = json.loads(browser.recv(timeout=30))
        if frame["type"] == kind:
            return frame
