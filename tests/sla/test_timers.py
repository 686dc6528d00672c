"""Timers on tickets under a controlled clock: a whole life from a Friday evening before a
holiday to a breach, and each rule on its own (who stops what, pauses, reopening, policy
changes, the batched mail writer, tenant isolation)."""

import time_machine

from outbound_mail.models import OutgoingMessage
from sla.models import TicketSLA
from sla.queue import recompute_after_commit
from sla.services.recompute import recompute_tenant
from sla.services.scan import sla_scan
from tests.factories import make_ticket
from tests.sla.helpers import berlin, calendar, local, policy, state, timers
from tickets.models import Priority, Status, Ticket, TicketEvent
from tickets.services.bulk import Bulk
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_change_priority, ticket_change_status

FR, NR, RES = "first_response", "next_response", "resolution"


def at(text):
    return time_machine.travel(berlin(text), tick=False)


def status(name):
    return Status.objects.get(name=name)


def sla_mails(tenant):
    rows = OutgoingMessage.objects.filter(kind__in=["sla_warning", "sla_breach"]).order_by("id")
    return [(r.to_address, r.kind, local(r.created_at)) for r in rows]


def test_a_whole_life_from_friday_evening_before_a_holiday(
    in_acme, django_capture_on_commit_callbacks
):
    acme = in_acme
    policy(acme.org)
    run = lambda: django_capture_on_commit_callbacks(execute=True)  # noqa: E731

    def scan(text):
        with at(text), run():
            done = sla_scan()
        return (done.breached, done.warned)

    with at("2026-05-22 16:55"), run():  # Friday; Monday is Whit Monday
        ticket = make_ticket(acme.org, assignee=acme.agent)
    assert state(ticket) == {
        FR: ("2026-05-26 09:55:00", "2026-05-26 09:43:00", None, None, None, None),
        RES: ("2026-05-26 16:55:00", "2026-05-26 15:19:00", None, None, None, None),
    }
    with at("2026-05-22 16:58"), run():
        ticket_change_status(ticket=ticket, status=status("Pending"), actor_user=acme.agent)
    paused = "2026-05-22 16:58:00"
    assert {t: s[2] for t, s in state(ticket).items()} == {FR: paused, RES: paused}
    # Over the weekend, the holiday and past the first due time: paused timers never breach.
    assert scan("2026-05-26 10:00") == (0, 0)

    with at("2026-05-26 10:30"), run():  # the customer answers: reopened, the pause ends
        comment_create(ticket=ticket, body_text="Here it is", author_contact=ticket.requester)
    # 92 business minutes paused (16:58-17:00 Friday, 09:00-10:30 Tuesday): due moves by them.
    assert state(ticket) == {
        FR: ("2026-05-26 11:27:00", "2026-05-26 11:15:00", None, None, None, None),
        RES: ("2026-05-27 10:27:00", "2026-05-26 16:51:00", None, None, None, None),
    }
    assert timers(ticket)[FR].paused_seconds == 92 * 60
    assert scan("2026-05-26 11:14:59") == (0, 0)
    assert scan("2026-05-26 11:15") == (0, 1)
    assert scan("2026-05-26 11:16") == (0, 0)

    with at("2026-05-26 11:20"), run():
        comment_create(ticket=ticket, body_text="Fixed", author_user=acme.agent)
    with at("2026-05-26 15:00"), run():
        ticket_change_status(ticket=ticket, status=status("Resolved"), actor_user=acme.agent)
    after = state(ticket)
    assert after[FR][3:] == ("2026-05-26 11:20:00", "2026-05-26 11:15:00", None)
    assert after[RES][3] == "2026-05-26 15:00:00"
    assert timers(ticket)[RES].spent_seconds == (5 + 360 - 92) * 60
    assert scan("2026-05-27 12:00") == (0, 0)  # stopped timers are not due

    with at("2026-05-27 16:00"), run():  # reopened: resolution runs on with 207 minutes left
        comment_create(ticket=ticket, body_text="Broken again", author_contact=ticket.requester)
    assert state(ticket)[RES] == (
        "2026-05-28 11:27:00",
        "2026-05-28 09:51:00",
        None,
        None,
        None,
        None,
    )
    assert scan("2026-05-28 09:50:59") == (0, 0)
    assert scan("2026-05-28 09:51") == (0, 1)
    assert scan("2026-05-28 11:26:59") == (0, 0)
    assert scan("2026-05-28 11:27") == (1, 0)
    assert scan("2026-05-28 11:30") == (0, 0)
    with at("2026-05-28 12:00"), run():
        ticket_change_status(ticket=ticket, status=status("Resolved"), actor_user=acme.agent)

    assert state(ticket)[RES][3:] == (
        "2026-05-28 12:00:00",
        "2026-05-28 09:51:00",
        "2026-05-28 11:27:00",
    )
    assert sla_mails(acme) == [
        ("agent@acme.test", "sla_warning", "2026-05-26 11:15:00"),
        ("agent@acme.test", "sla_warning", "2026-05-28 09:51:00"),
        ("agent@acme.test", "sla_breach", "2026-05-28 11:27:00"),
    ]
    texts = [
        e.data["text"]
        for e in TicketEvent.objects.filter(ticket=ticket, kind="sla").order_by("created_at", "id")
    ]
    assert texts == [
        "first response due 2026-05-26 09:55",
        "resolution due 2026-05-26 16:55",
        "first response paused",
        "resolution paused",
        "first response due 2026-05-26 11:27",
        "resolution due 2026-05-27 10:27",
        "first response warning",
        "first response met",
        "resolution met",
        "resolution due 2026-05-28 11:27",
        "resolution warning",
        "resolution breached",
        "resolution stopped, breached",
    ]


# -- each rule ---------------------------------------------------------------------------------


def test_notes_auto_replies_and_customer_mail_do_not_stop_first_response(in_acme):
    policy(in_acme.org)
    with at("2026-05-26 10:00"):
        ticket = make_ticket(in_acme.org)
        comment_create(ticket=ticket, body_text="note", author_user=in_acme.agent, is_public=False)
        comment_create(
            ticket=ticket, body_text="ooo", author_contact=ticket.requester, auto_generated=True
        )
        comment_create(ticket=ticket, body_text="more", author_contact=ticket.requester)
    assert state(ticket)[FR][3] is None
    assert NR not in state(ticket)  # first response still runs: no next response over it
    with at("2026-05-26 10:30"):
        comment_create(ticket=ticket, body_text="Hi", author_user=in_acme.agent)
    assert state(ticket)[FR][3] == "2026-05-26 10:30:00"
    assert timers(ticket)[FR].met is True


def test_next_response_starts_at_each_customer_message_and_never_moves_later(in_acme):
    policy(in_acme.org, next_response_minutes=30)
    with at("2026-05-26 10:00"):
        ticket = make_ticket(in_acme.org)
    with at("2026-05-26 10:05"):
        comment_create(ticket=ticket, body_text="Hi", author_user=in_acme.agent)
    with at("2026-05-26 16:50"):
        comment_create(ticket=ticket, body_text="Thanks, but", author_contact=ticket.requester)
    # 10 minutes today, 20 tomorrow; the warning (80%) at 24 minutes, tomorrow 09:14.
    assert state(ticket)[NR] == (
        "2026-05-27 09:20:00",
        "2026-05-27 09:14:00",
        None,
        None,
        None,
        None,
    )
    with at("2026-05-27 09:00"):
        comment_create(ticket=ticket, body_text="Hello?", author_contact=ticket.requester)
    assert state(ticket)[NR][0] == "2026-05-27 09:20:00"
    with at("2026-05-27 09:10"):
        comment_create(ticket=ticket, body_text="Answer", author_user=in_acme.agent)
    assert state(ticket)[NR][3] == "2026-05-27 09:10:00"
    with at("2026-05-27 11:00"):
        comment_create(ticket=ticket, body_text="Again", author_contact=ticket.requester)
    assert state(ticket)[NR] == (
        "2026-05-27 11:30:00",
        "2026-05-27 11:24:00",
        None,
        None,
        None,
        None,
    )


def test_a_warning_after_hours_waits_for_the_next_working_instant(in_acme):
    policy(in_acme.org, first_response_minutes=120, warn_percent=None, warn_minutes_before=30)
    with at("2026-05-22 15:30"):  # Friday: 90 minutes of the 120 run by 17:00
        ticket = make_ticket(in_acme.org)
    # The warning is due as work ends on Friday: it comes on Tuesday at 09:00, not at night.
    assert state(ticket)[FR][:2] == ("2026-05-26 09:30:00", "2026-05-26 09:00:00")
    with at("2026-05-25 23:59"):
        assert (sla_scan().warned, sla_scan().breached) == (0, 0)
    with at("2026-05-26 09:00"):
        assert sla_scan().warned == 1


def test_no_matching_policy_means_no_timers_and_the_first_by_order_wins(in_acme):
    high = Priority.objects.get(name="High")
    cal = calendar(in_acme.org)
    policy(in_acme.org, cal, name="VIP", order=5, priority_ids=[high.pk], first_response_minutes=15)
    policy(in_acme.org, cal, name="Email only", order=9, sources=["email"])
    with at("2026-05-26 10:00"):
        plain = make_ticket(in_acme.org)  # source agent, priority Normal: no policy
        urgent = make_ticket(in_acme.org, priority=high, source="email")
        mailed = make_ticket(in_acme.org, source="email")
    assert timers(plain) == {}
    assert local(timers(urgent)[FR].due_at) == "2026-05-26 10:15:00"
    assert local(timers(mailed)[FR].due_at) == "2026-05-26 11:00:00"


def test_domain_condition_matches_the_requesters_domain(in_acme):
    policy(in_acme.org, customer_domains=["Big.example"])
    with at("2026-05-26 10:00"):
        big = make_ticket(in_acme.org, email="ann@big.example")
        small = make_ticket(in_acme.org, email="bob@small.example")
    assert (sorted(timers(big)), timers(small)) == ([FR, RES], {})


def test_a_priority_change_recomputes_in_its_transaction_never_later(in_acme):
    high = Priority.objects.get(name="High")
    cal = calendar(in_acme.org)
    policy(
        in_acme.org, cal, name="Fast", order=1, priority_ids=[high.pk], first_response_minutes=15
    )
    policy(in_acme.org, cal, name="Slow", order=2, first_response_minutes=240)
    with at("2026-05-26 10:00"):
        ticket = make_ticket(in_acme.org)
    assert local(timers(ticket)[FR].due_at) == "2026-05-26 14:00:00"
    with at("2026-05-26 10:05"):
        ticket_change_priority(ticket=ticket, priority=high, actor_user=in_acme.agent)
    assert local(timers(ticket)[FR].due_at) == "2026-05-26 10:15:00"
    with at("2026-05-26 10:06"):
        ticket_change_priority(ticket=ticket, priority=Priority.objects.get(name="Low"))
    # Back under the slow policy: the running first response keeps its earlier due time.
    row = timers(ticket)[FR]
    assert (local(row.due_at), row.policy.name) == ("2026-05-26 10:15:00", "Slow")


def test_a_calendar_change_recomputes_every_open_ticket_in_batches(
    in_acme, django_capture_on_commit_callbacks
):
    rule = policy(in_acme.org)
    with at("2026-05-26 10:00"):
        tickets = [make_ticket(in_acme.org, email=f"c{i}@x.test") for i in range(3)]
        done = make_ticket(in_acme.org, email="done@x.test")
        ticket_change_status(ticket=done, status=status("Resolved"))
    cal = rule.calendar
    cal.weekly = {**cal.weekly, "1": [["09:00", "10:30"]]}  # Tuesdays end at 10:30 now
    cal.save(update_fields=["weekly"])
    with at("2026-05-26 10:10"):
        assert recompute_tenant(organization=in_acme.org, batch_size=2) == 3
        with django_capture_on_commit_callbacks(execute=True):
            recompute_after_commit(in_acme.org.pk)  # the task the pages queue: same outcome
    # 30 minutes on Tuesday, 30 on Wednesday.
    assert {local(timers(t)[FR].due_at) for t in tickets} == {"2026-05-27 09:30:00"}
    assert timers(done)[FR].stopped_at is not None


def test_the_batched_mail_writer_starts_stops_and_reopens_timers(in_acme):
    policy(in_acme.org, next_response_minutes=30)
    with at("2026-05-26 10:00"):
        bulk = Bulk(in_acme.org)
        bulk.open_ticket("a", subject="A", requester=("a@x.test", "A"), body_text="hi")
        bulk.open_ticket("b", subject="B", requester=("b@x.test", "B"), body_text="hi")
        bulk.flush()
        first, _ = bulk.written("a")
        second, _ = bulk.written("b")
    assert (sorted(timers(first)), sorted(timers(second))) == ([FR, RES], [FR, RES])
    with at("2026-05-26 10:10"):
        comment_create(ticket=first, body_text="Answer", author_user=in_acme.agent)
        ticket_change_status(ticket=second, status=status("Resolved"))
    with at("2026-05-26 11:00"):
        locked = list(Ticket.objects.select_related("status").filter(pk__in=[first.pk, second.pk]))
        bulk = Bulk(in_acme.org)
        for ticket in locked:
            bulk.add_reply(
                ticket.pk, ticket=ticket, author=(ticket.requester.email, ""), body_text="re"
            )
        bulk.flush()
    assert state(first)[NR][0] == "2026-05-26 11:30:00"
    assert state(second)[RES][3] is None  # reopened by the reply: resolution runs again


def test_timers_and_their_policies_stay_in_their_tenant(acme, globex):
    with acme.scope():
        policy(acme.org)
    with globex.scope(), at("2026-05-26 10:00"):
        theirs = make_ticket(globex.org)
        assert timers(theirs) == {}  # acme's policy never applies to globex
        policy(globex.org, first_response_minutes=10)
        other = make_ticket(globex.org)
    with acme.scope(), at("2026-05-26 10:00"):
        ours = make_ticket(acme.org)
        assert TicketSLA.objects.filter(ticket_id=other.pk).count() == 0
    with at("2026-05-26 10:10"):
        done = sla_scan()
    assert (done.breached, done.warned) == (1, 0)  # globex's 10 minutes; acme's 60 run on
    with globex.scope():
        assert timers(other)[FR].breached_at is not None
    with acme.scope():
        assert timers(ours)[FR].breached_at is None


def test_a_ticket_merged_away_stops_its_timers(in_acme):
    from tickets.services.merge import ticket_merge

    policy(in_acme.org, sources=["email"])
    with at("2026-05-26 10:00"):
        survivor = make_ticket(in_acme.org, source="email")
        duplicate = make_ticket(in_acme.org, source="email")
    with at("2026-05-26 10:20"):
        ticket_merge(ticket=duplicate, into=survivor, actor_user=in_acme.agent)
    assert {t: local(row.stopped_at) for t, row in timers(duplicate).items()} == {
        FR: "2026-05-26 10:20:00",
        RES: "2026-05-26 10:20:00",
    }
    assert {row.stopped_at for row in timers(survivor).values()} == {None}
