"""The live socket (live.consumers on config.asgi): who may open one, the tenant's walls, the
frames and their errors, internal notes, catch-up after a reconnect."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django_scopes import scopes_disabled

from live import consumers, groups, publish
from tenants import services as tenant_services
from tenants.models import Domain, Membership
from tests.factories import make_ticket
from tests.live.conftest import (
    agent_socket,
    cookie_header,
    drain,
    receive,
    receive_until,
    run,
    send,
    socket,
    watch,
)
from tests.portal.conftest import make_contact, portal_client
from tickets.services.comments import comment_create

# The consumer's database work runs through database_sync_to_async, which closes a connection
# left in a transaction it did not open: the tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


def _refused(communicator, code=consumers.REFUSED) -> None:
    """The handshake itself is refused: by the consumer (not an agent here), or before it by
    the tenant middleware (the host or the origin; channels' denier closes with 1000)."""

    async def scenario():
        assert await communicator.connect() == (False, code)

    run(scenario)


def test_socket_refuses_anonymous(acme):
    _refused(socket("acme.localhost"))


def test_socket_refuses_a_portal_customer(acme):
    customer = make_contact(acme, "casey@customer.test", "Casey")
    client = portal_client(acme, customer)
    assert client.get("/tickets/").status_code == 200  # signed in to the portal
    _refused(socket("acme.localhost", cookies=cookie_header(client)))


def test_socket_refuses_an_agent_of_another_tenant(acme, globex):
    client = globex.client(globex.agent)
    _refused(socket("acme.localhost", cookies=cookie_header(client)))


def test_socket_refuses_the_platform_host_an_unknown_host_and_another_origin(acme):
    cookies = cookie_header(acme.client(acme.agent))
    _refused(socket("localhost", cookies=cookies), code=1000)
    _refused(socket("nowhere.localhost", cookies=cookies), code=1000)
    _refused(socket("acme.localhost", cookies=cookies, origin="http://evil.test"), code=1000)
    _refused(
        socket("acme.localhost", cookies=cookies, origin="http://acme.localhost.evil.test"),
        code=1000,
    )
    _refused(socket("acme.localhost", cookies=cookies, origin="http://globex.localhost"), code=1000)


def test_socket_refuses_a_signed_out_session(acme):
    client = acme.client(acme.agent)
    cookies = cookie_header(client)
    client.post("/logout/")
    _refused(socket("acme.localhost", cookies=cookies))


def test_socket_admits_agents_and_admins_on_their_tenant_and_custom_domain(acme):
    with scopes_disabled():  # a verified custom domain of acme's, set up by the test
        Domain.objects.create(organization=acme.org, host="help.acme.test", verified=True)

    sockets = [
        agent_socket(acme),
        agent_socket(acme, acme.admin),
        agent_socket(acme, host="help.acme.test"),
    ]

    async def scenario():
        for communicator in sockets:
            connected, _ = await communicator.connect()
            assert connected
            await communicator.disconnect()

    run(scenario)


def test_bad_frames_get_an_error_and_the_socket_stays_open(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    communicator = agent_socket(acme)

    async def scenario():
        assert (await communicator.connect())[0]
        bad = [
            ("not json", "bad_json"),
            ("[1, 2]", "bad_frame"),
            (json.dumps({"type": "dance"}), "unknown_type"),
            (json.dumps({"type": ["watch"]}), "unknown_type"),
            (json.dumps({"ticket": 1}), "unknown_type"),
            (json.dumps({"type": "watch", "ticket": "1"}), "bad_frame"),
            (json.dumps({"type": "watch", "ticket": True}), "bad_frame"),
            (json.dumps({"type": "watch", "ticket": 1, "after": -1}), "bad_frame"),
            (json.dumps({"type": "presence", "ticket": ticket.number, "state": "x"}), "bad_frame"),
            (json.dumps({"type": "presence_query", "tickets": list(range(1, 202))}), "bad_frame"),
            (json.dumps({"type": "watch", "ticket": 1, "pad": "x" * 4096}), "too_large"),
        ]
        for text, error in bad:
            await communicator.send_to(text_data=text)
            assert await receive(communicator) == {"type": "error", "error": error}
        await communicator.send_to(bytes_data=b"\x00\x01")
        assert await receive(communicator) == {"type": "error", "error": "not_text"}
        presence_frame = {"type": "presence", "ticket": ticket.number, "state": "viewing"}
        await send(communicator, presence_frame)
        assert await receive(communicator) == {
            "type": "error",
            "ticket": ticket.number,
            "error": "not_watching",
        }
        # Still open, and still working.
        frames = await watch(communicator, ticket.number, after=10**9)
        assert frames[0] == publish.changed_payload(ticket.number, consumers.ALL_CHANGES)
        await communicator.disconnect()

    run(scenario)


def test_a_flood_of_frames_is_refused_past_the_rate(acme):
    communicator = agent_socket(acme)

    async def scenario():
        assert (await communicator.connect())[0]
        for _ in range(consumers.RATE_FRAMES):
            await send(communicator, {"type": "unwatch", "ticket": 1})
        await send(communicator, {"type": "unwatch", "ticket": 1})
        assert await receive(communicator) == {"type": "error", "error": "rate_limited"}
        await communicator.disconnect()

    run(scenario)


def test_watch_finds_tickets_of_this_tenant_only(acme, globex):
    with globex.scope():
        make_ticket(globex.org)
        theirs = make_ticket(globex.org, subject="Only globex has a #2")
    with acme.scope():
        ours = make_ticket(acme.org)
    assert (ours.number, theirs.number) == (1, 2)
    communicator = agent_socket(acme)

    async def scenario():
        assert (await communicator.connect())[0]
        await send(communicator, {"type": "watch", "ticket": 2, "after": 0})
        assert await receive(communicator) == {"type": "error", "ticket": 2, "error": "not_found"}
        await communicator.disconnect()

    run(scenario)


def _comment(tenant, ticket, text, *, internal=False, capture=None):
    def create():
        with tenant.scope(), capture(execute=True):
            return comment_create(
                ticket=ticket, body_text=text, is_public=not internal, author_user=tenant.agent
            )

    return database_sync_to_async(create)()


def test_a_socket_never_hears_another_tenant_with_the_same_ticket_number(
    acme, globex, django_capture_on_commit_callbacks
):
    with acme.scope():
        acme_ticket = make_ticket(acme.org, subject="Acme's #1")
    with globex.scope():
        globex_ticket = make_ticket(globex.org, subject="Globex's #1")
    assert acme_ticket.number == globex_ticket.number == 1
    acme_socket, globex_socket = agent_socket(acme), agent_socket(globex)

    async def scenario():
        for communicator in (acme_socket, globex_socket):
            assert (await communicator.connect())[0]
            await watch(communicator, 1, after=10**9)
        comment = await _comment(
            acme, acme_ticket, "Acme only", capture=django_capture_on_commit_callbacks
        )
        pushed, _ = await receive_until(acme_socket, "comment")
        assert (pushed["ticket"], pushed["comment"]) == (1, comment.pk)
        assert "Acme only" in pushed["html"]
        assert await drain(globex_socket) == []
        for communicator in (acme_socket, globex_socket):
            await communicator.disconnect()

    run(scenario)


def test_a_message_naming_another_tenant_is_dropped_by_the_receiving_socket(acme, globex):
    communicator = agent_socket(acme)

    async def scenario():
        assert (await communicator.connect())[0]
        layer = get_channel_layer()
        stray = publish.push(globex.org.pk, {"type": "ticket.created", "ticket": 1})
        await layer.group_send(groups.agents_group(acme.org.pk), stray)
        assert await drain(communicator) == []
        own = publish.push(acme.org.pk, {"type": "ticket.created", "ticket": 1})
        await layer.group_send(groups.agents_group(acme.org.pk), own)
        assert await receive(communicator) == {"type": "ticket.created", "ticket": 1}
        await communicator.disconnect()

    run(scenario)


def test_internal_notes_reach_agents_marked_internal(acme, django_capture_on_commit_callbacks):
    with acme.scope():
        ticket = make_ticket(acme.org)
    communicator = agent_socket(acme, acme.admin)

    async def scenario():
        assert (await communicator.connect())[0]
        await watch(communicator, ticket.number, after=10**9)
        note = await _comment(
            acme, ticket, "Between us", internal=True, capture=django_capture_on_commit_callbacks
        )
        pushed, _ = await receive_until(communicator, "comment")
        assert (pushed["comment"], pushed["internal"]) == (note.pk, True)
        assert '<span class="label-internal">Internal</span>' in pushed["html"]
        await communicator.disconnect()

    run(scenario)


def test_a_removed_agent_gets_no_internal_note_and_is_closed(
    acme, monkeypatch, django_capture_on_commit_callbacks
):
    with acme.scope():
        ticket = make_ticket(acme.org)
    communicator = agent_socket(acme)

    async def scenario():
        assert (await communicator.connect())[0]
        await watch(communicator, ticket.number, after=10**9)

        def remove():
            with acme.scope():
                tenant_services.member_remove(membership=Membership.objects.get(user=acme.agent))

        await database_sync_to_async(remove)()
        monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)
        await _comment(
            acme, ticket, "Not for them", internal=True, capture=django_capture_on_commit_callbacks
        )
        sent = []
        while (output := await communicator.receive_output(timeout=10))[
            "type"
        ] != "websocket.close":
            sent.append(json.loads(output["text"]))
        assert output == {"type": "websocket.close", "code": consumers.REFUSED}
        assert [frame["type"] for frame in sent if frame["type"] == "comment"] == []

    run(scenario)


def test_watch_after_reconnect_catches_up_with_what_came_meanwhile(
    acme, django_capture_on_commit_callbacks
):
    with acme.scope():
        ticket = make_ticket(acme.org)
        seen = ticket.comments.get()
    first, again = agent_socket(acme), agent_socket(acme)

    async def scenario():
        assert (await first.connect())[0]
        await watch(first, ticket.number, after=seen.pk)
        await first.disconnect()  # the connection drops
        capture = django_capture_on_commit_callbacks
        missed = [
            await _comment(acme, ticket, "While you were away", capture=capture),
            await _comment(acme, ticket, "A note meanwhile", internal=True, capture=capture),
        ]
        assert (await again.connect())[0]  # the page reconnects and watches again
        frames = await watch(again, ticket.number, after=seen.pk)
        comments = [f for f in frames if f["type"] == "comment"]
        assert [(c["comment"], c["internal"]) for c in comments] == [
            (missed[0].pk, False),
            (missed[1].pk, True),
        ]
        assert "While you were away" in comments[0]["html"]
        changed = [f for f in frames if f["type"] == "ticket.changed"]
        assert changed == [
            publish.changed_payload(ticket.number, [*consumers.ALL_CHANGES, "comment"])
        ]
        assert [f["type"] for f in frames] == ["comment", "comment", "ticket.changed", "presence"]
        await again.disconnect()

    run(scenario)


def test_catch_up_is_bounded_and_says_there_is_more(acme, monkeypatch):
    from live import catchup

    monkeypatch.setattr(catchup, "LIMIT", 2)
    with acme.scope():
        ticket = make_ticket(acme.org)
        first = ticket.comments.get()
        added = [
            comment_create(ticket=ticket, body_text=f"n{i}", author_user=acme.agent)
            for i in range(3)
        ]
    communicator = agent_socket(acme)

    async def scenario():
        assert (await communicator.connect())[0]
        frames = await watch(communicator, ticket.number, after=0)
        comments = [f["comment"] for f in frames if f["type"] == "comment"]
        changed = [f for f in frames if f["type"] == "ticket.changed"]
        assert len(comments) == 2
        assert changed[0]["more"] is True
        frames = await watch(communicator, ticket.number, after=comments[-1])
        rest = [f["comment"] for f in frames if f["type"] == "comment"]
        assert comments + rest == [first.pk, *(c.pk for c in added)]
        await communicator.disconnect()

    run(scenario)


@pytest.mark.parametrize("state", ["typing_reply", "typing_note"])
def test_presence_reaches_the_other_watcher(acme, state):
    with acme.scope():
        ticket = make_ticket(acme.org)
    mine, theirs = agent_socket(acme), agent_socket(acme, acme.admin)

    async def scenario():
        for communicator in (mine, theirs):
            assert (await communicator.connect())[0]
        await watch(mine, ticket.number, after=10**9)
        await watch(theirs, ticket.number, after=10**9)
        await send(mine, {"type": "presence", "ticket": ticket.number, "state": state})
        while True:
            frame, _ = await receive_until(theirs, "presence")
            people = {p["user"]: p["state"] for p in frame["people"]}
            if people.get(acme.agent.pk) == state:
                break
        assert people == {acme.agent.pk: state, acme.admin.pk: "viewing"}
        for communicator in (mine, theirs):
            await communicator.disconnect()

    run(scenario)


def test_presence_query_answers_for_the_listed_tickets_that_have_someone(acme, globex):
    with acme.scope():
        busy, quiet = make_ticket(acme.org), make_ticket(acme.org, subject="Quiet")
    with globex.scope():
        for _ in range(3):
            make_ticket(globex.org)  # globex's #3 exists, acme's does not
    viewer, lister = agent_socket(acme, acme.admin), agent_socket(acme)

    async def scenario():
        for communicator in (viewer, lister):
            assert (await communicator.connect())[0]
        await watch(viewer, busy.number, after=10**9)
        await drain(lister)  # the watch's announcement, pushed to every agent
        await send(lister, {"type": "presence_query", "tickets": [busy.number, quiet.number, 3]})
        frame = await receive(lister)
        assert (frame["type"], frame["ticket"]) == ("presence", busy.number)
        assert [(p["user"], p["state"]) for p in frame["people"]] == [(acme.admin.pk, "viewing")]
        assert await drain(lister) == []
        for communicator in (viewer, lister):
            await communicator.disconnect()

    run(scenario)
