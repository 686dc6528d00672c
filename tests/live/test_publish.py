"""The publisher (live.publish): changes made through the services reach the sockets that should
hear them, once, rendered as the page renders them; the bell; a fixed number of queries."""

import asyncio
import logging
import re

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from live import publish, render
from outbound_mail.selectors import unread_count
from tests.factories import make_ticket
from tests.live.conftest import agent_socket, drain, receive_until, run, watch
from tickets import events
from tickets.models import Priority, Status, StatusCategory
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_assign, ticket_change_priority, ticket_change_status

pytestmark = pytest.mark.django_db(transaction=True)

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _in(tenant, work):
    """`work()` inside the tenant, on the consumer's database thread."""

    def call():
        with tenant.scope():
            return work()

    return database_sync_to_async(call)()


def _page_entry(page: str, comment_id: int) -> str:
    """One entry of the conversation as the ticket page shows it."""
    start = page.index(f'id="comment-{comment_id}"')
    start = page.rindex("<li", 0, start)
    ends = [
        i for i in (page.find('<li class="entry', start + 1), page.find("</ol>", start)) if i > 0
    ]
    return page[start : min(ends)].strip()


def test_a_comment_reaches_its_watchers_rendered_as_the_ticket_page_renders_it(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    watcher = agent_socket(acme)
    other_ticket_socket = agent_socket(acme, acme.admin)
    lister = agent_socket(acme, acme.admin)  # the admin's list page in another tab
    with acme.scope():
        other = make_ticket(acme.org, subject="Another one")

    async def scenario():
        for communicator in (watcher, other_ticket_socket):
            assert (await communicator.connect())[0]
        await watch(watcher, ticket.number, after=10**9)
        await watch(other_ticket_socket, other.number, after=10**9)
        assert (await lister.connect())[0]
        await lister.send_json_to({"type": "list"})
        for communicator in (watcher, other_ticket_socket, lister):
            await drain(communicator)  # the presence each watch announced
        reply = await _in(
            acme,
            lambda: comment_create(
                ticket=ticket,
                body_text="The printer is fine now",
                body_html="<p>The printer is <b>fine</b> now</p>",
                author_contact=ticket.requester,
                channel="email",
            ),
        )
        pushed, _ = await receive_until(watcher, "comment")
        assert {k: v for k, v in pushed.items() if k != "html"} == {
            "type": "comment",
            "ticket": ticket.number,
            "comment": reply.pk,
            "internal": False,
        }
        page = await database_sync_to_async(
            lambda: acme.client(acme.agent).get(f"/agent/tickets/{ticket.number}/")
        )()
        expected = _page_entry(page.content.decode(), reply.pk)
        assert _CSRF.sub("csrf", pushed["html"].strip()) == _CSRF.sub("csrf", expected)
        # The split button's form carries a real token for this browser, not the placeholder.
        assert render.CSRF_PLACEHOLDER not in pushed["html"]
        assert re.search(r'name="csrfmiddlewaretoken" value="[A-Za-z0-9]{64}"', pushed["html"])
        # The other ticket's page hears nothing of this ticket; a list page hears the row's change.
        frames = [f for f in await drain(other_ticket_socket) if f["type"] != "bell"]
        assert frames == []
        frames = [f for f in await drain(lister) if f["type"] != "bell"]
        assert frames == [publish.changed_payload(ticket.number, ["comment"])]
        await lister.disconnect()
        for communicator in (watcher, other_ticket_socket):
            await communicator.disconnect()

    run(scenario)


def test_changes_reach_the_watcher_and_the_list_as_ticket_changed_once_each(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
        pending = Status.objects.filter(category=StatusCategory.PENDING).first()
        urgent = Priority.objects.exclude(pk=ticket.priority_id).first()
    watcher, lister = agent_socket(acme), agent_socket(acme, acme.admin)
    changes = [
        ("status", lambda: ticket_change_status(ticket=ticket, status=pending)),
        ("priority", lambda: ticket_change_priority(ticket=ticket, priority=urgent)),
        ("assignee", lambda: ticket_assign(ticket=ticket, assignee=acme.admin)),
    ]

    async def scenario():
        for communicator in (watcher, lister):
            assert (await communicator.connect())[0]
        await watch(watcher, ticket.number, after=10**9)
        await lister.send_json_to({"type": "list"})
        for communicator in (watcher, lister):
            await drain(communicator)  # the presence the watch announced
        for what, change in changes:
            await _in(acme, change)
            expected = publish.changed_payload(ticket.number, [what])
            for communicator in (watcher, lister):
                frames = [f for f in await drain(communicator) if f["type"] != "bell"]
                assert frames == [expected]
        for communicator in (watcher, lister):
            await communicator.disconnect()

    run(scenario)


def test_a_new_ticket_reaches_the_list_pages_as_ticket_created(acme, globex):
    acme_list, globex_list = agent_socket(acme), agent_socket(globex)
    acme_ticket_page = agent_socket(acme, acme.admin)
    with acme.scope():
        first = make_ticket(acme.org)

    async def scenario():
        for communicator in (acme_list, globex_list, acme_ticket_page):
            assert (await communicator.connect())[0]
        for communicator in (acme_list, globex_list):
            await communicator.send_json_to({"type": "list"})
        await watch(acme_ticket_page, first.number, after=10**9)
        await drain(acme_ticket_page)
        ticket = await _in(acme, lambda: make_ticket(acme.org, subject="Fresh"))
        created, _ = await receive_until(acme_list, "ticket.created")
        assert created == {"type": "ticket.created", "ticket": ticket.number}
        assert await drain(globex_list) == []
        # Only list pages hear of new tickets (a socket that sent no `list` is not one).
        assert [f for f in await drain(acme_ticket_page) if f["type"] == "ticket.created"] == []
        for communicator in (acme_list, globex_list, acme_ticket_page):
            await communicator.disconnect()

    run(scenario)


def test_a_new_in_app_notice_rings_that_agents_bell_only(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
        before = unread_count(acme.agent)  # the new ticket's alert, rung before any socket
    agent, admin = agent_socket(acme), agent_socket(acme, acme.admin)

    async def scenario():
        for communicator in (agent, admin):
            assert (await communicator.connect())[0]
        # The admin assigns the agent: the agent's notice (the notify task runs on commit).
        await _in(
            acme, lambda: ticket_assign(ticket=ticket, assignee=acme.agent, actor_user=acme.admin)
        )
        bell, _ = await receive_until(agent, "bell")
        assert bell == {"type": "bell", "unread": before + 1}
        assert [f for f in await drain(admin) if f["type"] == "bell"] == []
        for communicator in (agent, admin):
            await communicator.disconnect()

    run(scenario)


def test_marking_notices_read_brings_the_bell_down_on_the_agents_other_tabs(acme):
    from django.utils import timezone

    from outbound_mail.models import Notification
    from outbound_mail.services.preferences import (
        notification_mark_read,
        notifications_mark_all_read,
    )

    with acme.scope():
        make_ticket(acme.org)
        make_ticket(acme.org, subject="A second one")
        unread = list(
            Notification.objects.filter(user=acme.agent, read_at__isnull=True).order_by("pk")
        )
    assert len(unread) >= 2
    other_tab = agent_socket(acme)

    async def scenario():
        assert (await other_tab.connect())[0]
        await _in(
            acme,
            lambda: notification_mark_read(
                user=acme.agent, notification_id=unread[0].pk, now=timezone.now()
            ),
        )
        bell, _ = await receive_until(other_tab, "bell")
        assert bell == {"type": "bell", "unread": len(unread) - 1}
        await _in(acme, lambda: notifications_mark_all_read(user=acme.agent, now=timezone.now()))
        bell, _ = await receive_until(other_tab, "bell")
        assert bell == {"type": "bell", "unread": 0}
        await other_tab.disconnect()

    run(scenario)


def _render_queries(tenant, ticket_id: int) -> int:
    with tenant.scope(), CaptureQueriesContext(connection) as queries:
        rendered = render.comments_of(ticket_id=ticket_id, after=0)
    assert rendered
    return len(queries)


def test_rendering_entries_takes_a_fixed_number_of_queries(acme):
    with acme.scope():
        one = make_ticket(acme.org)
        many = make_ticket(acme.org, subject="Busy")
        for i in range(6):
            comment_create(ticket=many, body_text=f"reply {i}", author_user=acme.agent)
            comment_create(ticket=many, body_text=f"answer {i}", author_contact=many.requester)
    assert _render_queries(acme, one.pk) == _render_queries(acme, many.pk)


def test_a_failing_publisher_is_logged_and_breaks_neither_the_service_nor_others(
    acme, monkeypatch, caplog
):
    heard = []
    events.subscribe(events.COMMENT_ADDED, heard.append)

    def broken(comment_id):
        raise RuntimeError("template gone")

    monkeypatch.setattr(render, "comment_by_id", broken)
    try:
        with acme.scope(), caplog.at_level(logging.ERROR, logger="live.publish"):
            ticket = make_ticket(acme.org)
            comment = comment_create(ticket=ticket, body_text="Still saved", author_user=acme.agent)
    finally:
        events.unsubscribe(events.COMMENT_ADDED, heard.append)
    assert [e.data["comment_id"] for e in heard] == [comment.pk]
    assert "live: publishing comment.added" in caplog.text


def test_a_change_made_in_a_thread_the_server_did_not_start_still_reaches_the_socket(acme):
    """Code outside the server's threads (a background thread; a browser test beside an
    in-thread server) hands the push to the sockets' loop."""
    with acme.scope():
        ticket = make_ticket(acme.org)
    watcher = agent_socket(acme)

    def comment_from_a_plain_thread():
        try:
            with acme.scope():
                return comment_create(
                    ticket=ticket, body_text="From a thread", author_user=acme.agent
                )
        finally:
            connection.close()  # this thread's own connection

    async def scenario():
        assert (await watcher.connect())[0]
        await watch(watcher, ticket.number, after=10**9)
        comment = await asyncio.to_thread(comment_from_a_plain_thread)
        pushed, _ = await receive_until(watcher, "comment")
        assert pushed["comment"] == comment.pk
        await watcher.disconnect()

    run(scenario)
