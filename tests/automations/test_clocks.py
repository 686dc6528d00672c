"""The clocks of time-based automations on Ticket: when it entered its status, and the last
public message of each side, kept by every path that changes them (single services, the
batched mail writer, merge and split, Undo and visibility changes)."""

from datetime import UTC, datetime

import pytest
import time_machine

from tests.factories import make_ticket
from tickets.models import Status, Ticket
from tickets.services.bulk import Bulk
from tickets.services.comments import comment_create, comment_set_public, comment_withdraw
from tickets.services.contacts import contact_get_or_create
from tickets.services.merge import ticket_merge, ticket_split
from tickets.services.tickets import ticket_change_status, ticket_create

T0 = datetime(2026, 5, 26, 8, 0, tzinfo=UTC)
T1 = datetime(2026, 5, 26, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 5, 26, 10, 0, tzinfo=UTC)
T3 = datetime(2026, 5, 26, 11, 0, tzinfo=UTC)


def at(moment):
    return time_machine.travel(moment, tick=False)


def clocks(ticket) -> tuple:
    row = Ticket.objects.get(pk=ticket.pk)
    return (row.status_changed_at, row.last_customer_message_at, row.last_agent_reply_at)


def status(name: str) -> Status:
    return Status.objects.get(name=name)


def test_a_customer_opening_a_ticket_starts_the_customer_clock(in_acme):
    with at(T0):
        ticket = make_ticket(in_acme.org)
    assert clocks(ticket) == (T0, T0, None)


def test_an_agent_opening_a_ticket_starts_the_agent_clock_unless_internal(in_acme):
    requester = contact_get_or_create(organization=in_acme.org, email="c@x.test")
    with at(T0):
        public = ticket_create(
            organization=in_acme.org,
            subject="S",
            requester=requester,
            body_text="Hello",
            actor_user=in_acme.agent,
        )
        internal = ticket_create(
            organization=in_acme.org,
            subject="S",
            requester=requester,
            body_text="Note",
            actor_user=in_acme.agent,
            is_public=False,
        )
    assert (clocks(public), clocks(internal)) == ((T0, None, T0), (T0, None, None))


def test_public_comments_move_their_side_and_notes_move_none(in_acme):
    with at(T0):
        ticket = make_ticket(in_acme.org)
    with at(T1):
        comment_create(ticket=ticket, body_text="Looking", author_user=in_acme.agent)
    assert clocks(ticket) == (T0, T0, T1)
    with at(T2):
        comment_create(ticket=ticket, body_text="note", is_public=False, author_user=in_acme.agent)
        comment_create(
            ticket=ticket,
            body_text="I'm away",
            author_contact=ticket.requester,
            auto_generated=True,
        )
    assert clocks(ticket) == (T0, T0, T1)  # an internal note and an auto-reply are no messages
    with at(T3):
        comment_create(ticket=ticket, body_text="Still broken", author_contact=ticket.requester)
    assert clocks(ticket) == (T0, T3, T1)


def test_every_status_change_restarts_the_status_clock(in_acme):
    with at(T0):
        ticket = make_ticket(in_acme.org)
    with at(T1):
        ticket_change_status(ticket=ticket, status=status("Pending"), actor_user=in_acme.agent)
    with at(T2):
        ticket_change_status(ticket=ticket, status=status("Pending"), actor_user=in_acme.agent)
    assert clocks(ticket)[0] == T1  # the same status again is no change
    with at(T3):
        # The customer's reply reopens the pending ticket: a new status, and their message.
        comment_create(ticket=ticket, body_text="Any news?", author_contact=ticket.requester)
    row = Ticket.objects.select_related("status").get(pk=ticket.pk)
    assert (row.status.category, clocks(ticket)) == ("open", (T3, T3, None))


def test_the_batched_mail_writer_keeps_the_clocks(in_acme):
    with at(T0):
        bulk = Bulk(in_acme.org)
        bulk.open_ticket("a", subject="A", requester=("a@x.test", "A"), body_text="hi")
        bulk.open_ticket("b", subject="B", requester=("b@x.test", "B"), body_text="hi")
        bulk.flush()
        first, _ = bulk.written("a")
        second, _ = bulk.written("b")
    assert (clocks(first), clocks(second)) == ((T0, T0, None), (T0, T0, None))
    with at(T1):
        ticket_change_status(ticket=second, status=status("Resolved"))
    with at(T2):
        locked = {
            t.pk: t
            for t in Ticket.objects.select_related("status").filter(pk__in=[first.pk, second.pk])
        }
        bulk = Bulk(in_acme.org)
        bulk.add_reply(
            "r1",
            ticket=locked[first.pk],
            author=("a@x.test", ""),
            body_text="Out",
            auto_generated=True,
        )
        bulk.add_reply("r2", ticket=locked[second.pk], author=("b@x.test", ""), body_text="re")
        bulk.flush()
    # The auto-reply moves nothing; the reply reopens the resolved ticket.
    assert (clocks(first), clocks(second)) == ((T0, T0, None), (T2, T2, None))


def test_undo_and_visibility_keep_the_agent_clock_on_the_replies_left(in_acme):
    with at(T0):
        ticket = make_ticket(in_acme.org)
    with at(T1):
        comment_create(ticket=ticket, body_text="First", author_user=in_acme.agent)
    with at(T2):
        second = comment_create(ticket=ticket, body_text="Second", author_user=in_acme.agent)
        note = comment_create(
            ticket=ticket, body_text="note", is_public=False, author_user=in_acme.agent
        )
    assert clocks(ticket)[2] == T2
    with at(T3):
        comment_withdraw(comment=second, actor_user=in_acme.agent)
    assert clocks(ticket)[2] == T1
    with at(T3):
        comment_set_public(comment=note, public=True, actor_user=in_acme.agent)
    assert clocks(ticket)[2] == T3  # the note reached the customer now
    note.refresh_from_db()
    with at(T3):
        comment_set_public(comment=note, public=False, actor_user=in_acme.agent)
    assert clocks(ticket)[2] == T1


def test_merge_and_split_move_the_clocks_with_the_messages(in_acme):
    with at(T0):
        target = make_ticket(in_acme.org, email="t@x.test")
    with at(T1):
        source = make_ticket(in_acme.org, email="s@x.test")
    with at(T2):
        reply = comment_create(ticket=source, body_text="On it", author_user=in_acme.agent)
    with at(T3):
        ticket_merge(ticket=source, into=target, actor_user=in_acme.agent)
    # The survivor now holds the duplicate's later messages; the duplicate closed at T3.
    assert clocks(target) == (T0, T1, T2)
    assert clocks(source)[0] == T3
    reply.refresh_from_db()  # it moved to the survivor
    with at(T3):
        new = ticket_split(comment=reply, actor_user=in_acme.agent)
    assert (clocks(new), clocks(target)) == ((T3, None, T2), (T0, T1, None))


@pytest.mark.django_db
def test_clocks_stay_in_their_tenant(acme, globex):
    with acme.scope(), at(T0):
        ours = make_ticket(acme.org)
    with globex.scope(), at(T1):
        theirs = make_ticket(globex.org)
        comment_create(ticket=theirs, body_text="Hi", author_user=globex.agent)
    with acme.scope():
        assert clocks(ours) == (T0, T0, None)
    with globex.scope():
        assert clocks(theirs) == (T1, T1, T1)
