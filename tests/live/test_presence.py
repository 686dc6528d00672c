"""Presence (live.presence) on both stores: touch, leave, two tabs as one person, expiry on a
controlled clock, the sweeper's announcement, and drafts in the people list."""

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest
import time_machine
import websockets
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from live import presence
from live.drafts import draft_save
from tenants import services as tenant_services
from tenants.models import Membership
from tests.factories import make_ticket
from tickets.templatetags.avatars import avatar_color


@pytest.fixture(autouse=True)
def _empty_layer():
    """In place of tests/live/conftest.py's: these tests bring their own in-memory layer, or talk
    to a real server whose Redis layer's connections belong to the server's loop (flushing them
    from this thread's loop would fail); what they share is the presence store."""
    async_to_sync(presence.store().clear)()
    yield
    async_to_sync(presence.store().clear)()


@pytest.fixture(params=["memory", "redis"])
def store(request, settings):
    """Each test runs on the in-process store and on Redis (REDIS_URL's database)."""
    if request.param == "redis":
        url = os.environ.get("REDIS_URL") or settings.REDIS_URL
        if not url:
            pytest.skip("REDIS_URL is not set: the Redis store needs a Redis")
        settings.REDIS_URL = url
    else:
        settings.REDIS_URL = ""
    # Sweeps run when a test calls presence_sweep, on the test's clock.
    settings.LIVE_PRESENCE_SWEEP_SECONDS = 0
    settings.LIVE_PRESENCE_TTL = 25
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    async_to_sync(presence.store().clear)()
    yield presence.store()
    async_to_sync(presence.store().clear)()


@pytest.fixture
def ticket(in_acme):
    return make_ticket(in_acme.org)


@pytest.fixture
def dana(in_acme):
    user = tenant_services.user_get_or_create(
        email="dana@acme.test", name="Dana Scully", password="pw"
    )
    tenant_services.membership_add(organization=in_acme.org, user=user, role=Membership.AGENT)
    return user


def touch(ticket, user, connection, state="viewing"):
    return async_to_sync(presence.presence_touch)(
        organization_id=ticket.organization_id,
        ticket_id=ticket.pk,
        user_id=user.pk,
        connection=connection,
        state=state,
    )


def leave(ticket, connection):
    return async_to_sync(presence.presence_leave)(
        organization_id=ticket.organization_id, ticket_id=ticket.pk, connection=connection
    )


def people(ticket):
    return async_to_sync(presence.presence_people)(
        organization_id=ticket.organization_id, ticket_id=ticket.pk
    )


def states(ticket):
    return [(p["user"], p["state"], p["draft"]) for p in people(ticket)]


def test_presence_touch_lists_the_agent_with_name_and_initials(store, ticket, dana):
    assert touch(ticket, dana, "tab-1") is True
    assert people(ticket) == [
        {
            "user": dana.pk,
            "name": "Dana Scully",
            "initials": "DS",
            "color": avatar_color(dana),
            "state": "viewing",
            "draft": False,
        }
    ]


def test_presence_heartbeat_in_the_same_state_changes_nothing(store, ticket, dana):
    touch(ticket, dana, "tab-1")
    assert touch(ticket, dana, "tab-1") is False
    assert touch(ticket, dana, "tab-1", "typing_reply") is True
    assert touch(ticket, dana, "tab-1", "typing_reply") is False
    assert touch(ticket, dana, "tab-1", "viewing") is True
    assert states(ticket) == [(dana.pk, "viewing", False)]


def test_presence_two_tabs_are_one_person_and_the_most_active_wins(store, ticket, dana):
    assert touch(ticket, dana, "tab-1") is True
    assert touch(ticket, dana, "tab-2") is False  # the same person, still viewing
    assert touch(ticket, dana, "tab-2", "typing_note") is True
    assert states(ticket) == [(dana.pk, "typing_note", False)]
    assert touch(ticket, dana, "tab-1", "typing_reply") is False  # the note still wins
    assert states(ticket) == [(dana.pk, "typing_note", False)]
    assert leave(ticket, "tab-2") is True  # down to tab 1's reply
    assert states(ticket) == [(dana.pk, "typing_reply", False)]
    assert leave(ticket, "tab-1") is True
    assert people(ticket) == []


def test_presence_leave_of_an_unknown_connection_changes_nothing(store, ticket, dana):
    touch(ticket, dana, "tab-1")
    assert leave(ticket, "tab-9") is False
    assert states(ticket) == [(dana.pk, "viewing", False)]


def test_presence_leave_of_one_tab_keeps_the_person(store, ticket, dana):
    touch(ticket, dana, "tab-1")
    touch(ticket, dana, "tab-2")
    assert leave(ticket, "tab-1") is False
    assert states(ticket) == [(dana.pk, "viewing", False)]


def test_presence_lists_several_agents_here_first(store, ticket, dana, in_acme):
    touch(ticket, in_acme.agent, "a-1", "typing_reply")
    touch(ticket, dana, "d-1")
    assert states(ticket) == [
        (in_acme.agent.pk, "typing_reply", False),
        (dana.pk, "viewing", False),
    ]


def test_presence_unknown_state_is_refused(store, ticket, dana):
    with pytest.raises(ValueError, match="unknown presence state"):
        touch(ticket, dana, "tab-1", "dancing")
    assert people(ticket) == []


def test_presence_of_one_tenant_is_not_seen_by_another(store, ticket, dana, globex):
    touch(ticket, dana, "tab-1")
    elsewhere = async_to_sync(presence.presence_people)(
        organization_id=globex.org.pk, ticket_id=ticket.pk
    )
    assert elsewhere == []
    assert states(ticket) == [(dana.pk, "viewing", False)]


def test_presence_expires_after_the_ttl_without_a_goodbye(store, ticket, dana):
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        touch(ticket, dana, "tab-1")
        clock.shift(24)
        assert states(ticket) == [(dana.pk, "viewing", False)]
        assert async_to_sync(presence.presence_sweep)() == set()
        clock.shift(2)
        assert people(ticket) == []  # read past its expiry, even before a sweep
        assert async_to_sync(presence.presence_sweep)() == {(ticket.organization_id, ticket.pk)}
        assert async_to_sync(presence.presence_sweep)() == set()  # announced once
        assert touch(ticket, dana, "tab-1") is True  # back: new to the others


def test_presence_heartbeat_renews_the_ttl(store, ticket, dana):
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        touch(ticket, dana, "tab-1")
        clock.shift(20)
        assert touch(ticket, dana, "tab-1") is False
        clock.shift(20)  # 40 s after the first, 20 after the heartbeat
        assert async_to_sync(presence.presence_sweep)() == set()
        assert states(ticket) == [(dana.pk, "viewing", False)]


def test_presence_expired_tab_leaves_the_other_tab(store, ticket, dana):
    with time_machine.travel(1_900_000_000, tick=False) as clock:
        touch(ticket, dana, "tab-1", "typing_reply")
        clock.shift(15)
        touch(ticket, dana, "tab-2")
        clock.shift(15)  # tab 1 silent for 30 s, tab 2 for 15
        assert states(ticket) == [(dana.pk, "viewing", False)]
        assert async_to_sync(presence.presence_sweep)() == {(ticket.organization_id, ticket.pk)}
        assert states(ticket) == [(dana.pk, "viewing", False)]


def test_presence_sweep_announces_the_ticket_to_its_group(store, ticket, dana, in_acme):
    layer = get_channel_layer()

    async def sweep_and_listen():
        watcher = await layer.new_channel()
        lister = await layer.new_channel()
        await layer.group_add(presence.ticket_group(ticket.organization_id, ticket.pk), watcher)
        await layer.group_add(presence.lists_group(ticket.organization_id), lister)
        gone = await presence.presence_sweep()
        return gone, await layer.receive(watcher), await layer.receive(lister)

    with time_machine.travel(1_900_000_000, tick=False) as clock:
        touch(ticket, dana, "dana-tab", "typing_reply")
        clock.shift(15)
        touch(ticket, in_acme.agent, "agent-tab")
        clock.shift(11)  # Dana's connection died 26 s ago; the agent's beat 11 s ago
        gone, to_watcher, to_lister = async_to_sync(sweep_and_listen)()
    expected = {
        "type": "live.presence",
        "organization": in_acme.org.pk,
        "ticket": ticket.number,
        "people": [
            {
                "user": in_acme.agent.pk,
                "name": "Acme Agent",
                "initials": "AA",
                "color": avatar_color(in_acme.agent),
                "state": "viewing",
                "draft": False,
            }
        ],
    }
    assert gone == {(ticket.organization_id, ticket.pk)}
    assert to_watcher == expected
    assert to_lister == expected


def test_presence_people_list_agents_with_a_draft(store, ticket, dana, in_acme):
    draft_save(ticket=ticket, user=dana, body="Half a reply", internal=False)
    assert people(ticket) == [
        {
            "user": dana.pk,
            "name": "Dana Scully",
            "initials": "DS",
            "color": avatar_color(dana),
            "state": "draft",
            "draft": True,
        }
    ]
    touch(ticket, dana, "tab-1", "typing_reply")
    touch(ticket, in_acme.agent, "tab-2")
    assert states(ticket) == [(in_acme.agent.pk, "viewing", False), (dana.pk, "typing_reply", True)]


def test_presence_people_leave_out_a_removed_members_draft(store, ticket, dana, in_acme):
    draft_save(ticket=ticket, user=dana, body="Half a reply", internal=False)
    Membership.objects.filter(user=dana).delete()
    assert people(ticket) == []


def test_presence_people_cost_the_same_queries_for_one_or_many(
    store, ticket, dana, in_acme, django_assert_num_queries
):
    touch(ticket, dana, "tab-1")
    with django_assert_num_queries(2):  # the drafts, the users
        assert len(people(ticket)) == 1
    touch(ticket, in_acme.agent, "tab-2")
    touch(ticket, in_acme.admin, "tab-3")
    draft_save(ticket=ticket, user=in_acme.admin, body="x", internal=True)
    with django_assert_num_queries(2):
        assert len(people(ticket)) == 3


def test_presence_people_many_answers_each_ticket_in_two_queries(
    store, ticket, dana, in_acme, django_assert_num_queries
):
    other = make_ticket(in_acme.org, subject="Another")
    quiet = make_ticket(in_acme.org, subject="Quiet")
    touch(ticket, dana, "tab-1", "typing_note")
    touch(other, in_acme.agent, "tab-2")
    draft_save(ticket=other, user=dana, body="x", internal=False)
    with django_assert_num_queries(2):
        found = async_to_sync(presence.presence_people_many)(
            organization_id=in_acme.org.pk, ticket_ids=[ticket.pk, other.pk, quiet.pk]
        )
    assert {pk: [(p["user"], p["state"], p["draft"]) for p in ps] for pk, ps in found.items()} == {
        ticket.pk: [(dana.pk, "typing_note", False)],
        other.pk: [(in_acme.agent.pk, "viewing", False), (dana.pk, "draft", True)],
        quiet.pk: [],
    }


# -- a connection killed, not closed, on a real server --------------------------------------------
# The victim is a separate process with a plain websocket client (the `websockets` package): it
# watches the ticket and then never speaks again. SIGKILL: the kernel drops its socket without a
# close frame. SIGSTOP: the socket stays open and silent, as when a laptop's network dies: only
# the expiry (TTL and the server's sweeper) can notice it. Another agent's page must then get a
# `presence` without the victim. The TTL is shortened here; the wait is only a hang guard.
VICTIM = r"""
import asyncio, json, sys, websockets

async def main(port, host, cookie, number):
    async with websockets.connect(
        f"ws://{host}/ws/live/", host="127.0.0.1", port=port, origin=f"http://{host}",
        additional_headers={"Cookie": cookie}, ping_interval=None,
    ) as ws:
        await ws.send(json.dumps({"type": "watch", "ticket": number, "after": 10**9}))
        while json.loads(await ws.recv())["type"] != "presence":
            pass
        print("watching", flush=True)
        await asyncio.Event().wait()  # silent from here on: no heartbeat, no goodbye

asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


def _session_cookie(tenant, user) -> str:
    client = tenant.client(user)
    client.get("/agent/")  # the CSRF cookie, as a page sets it
    return "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_presence_expiry_with_a_connection_killed_not_closed(asgi_live_server, acme, settings, how):
    settings.LIVE_PRESENCE_TTL = 2
    settings.LIVE_PRESENCE_SWEEP_SECONDS = 0.5
    with acme.scope():
        dana = tenant_services.user_get_or_create(
            email="dana@acme.test", name="Dana Scully", password="pw"
        )
        tenant_services.membership_add(organization=acme.org, user=dana, role=Membership.AGENT)
        ticket = make_ticket(acme.org)
    host = f"{acme.org.slug}.localhost:{asgi_live_server.port}"
    victim = subprocess.Popen(  # our own interpreter and script
        [
            sys.executable,
            "-c",
            VICTIM,
            str(asgi_live_server.port),
            host,
            _session_cookie(acme, dana),
            str(ticket.number),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    watcher_cookie = _session_cookie(acme, acme.agent)
    try:
        assert victim.stdout.readline().strip() == "watching"

        async def watch_until_gone() -> tuple[list[int], list[int]]:
            async with websockets.connect(
                f"ws://{host}/ws/live/",
                host="127.0.0.1",
                port=asgi_live_server.port,
                origin=f"http://{host}",
                additional_headers={"Cookie": watcher_cookie},
            ) as ws:
                await ws.send(json.dumps({"type": "watch", "ticket": ticket.number, "after": 0}))
                first = await _next_presence(ws)
                if how == "SIGKILL":
                    victim.kill()
                else:
                    victim.send_signal(signal.SIGSTOP)
                while True:
                    # Our own heartbeat, as a page sends it, so only the victim expires.
                    await ws.send(
                        json.dumps(
                            {"type": "presence", "ticket": ticket.number, "state": "viewing"}
                        )
                    )
                    frame = await _next_presence(ws, timeout=1.0)
                    if frame is not None and dana.pk not in [p["user"] for p in frame["people"]]:
                        return [p["user"] for p in first["people"]], [
                            p["user"] for p in frame["people"]
                        ]

        before, after = asyncio.run(asyncio.wait_for(watch_until_gone(), timeout=120))
    finally:
        victim.kill()
        victim.send_signal(signal.SIGCONT)
        victim.wait(timeout=10)
    assert sorted(before) == sorted([dana.pk, acme.agent.pk])
    assert after == [acme.agent.pk]


async def _next_presence(ws, timeout: float = 30.0) -> dict | None:
    """The next `presence` frame, or None when none came within `timeout` (then we beat again)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "presence":
                    return frame
    except TimeoutError:
        return None
