"""Time rules under a controlled clock: the scan finds tickets whose clock passed a rule's hours
through the clock columns and each rule's cursor, the rule fires once per qualifying period
(a pending ticket is nudged once, and again only after it left and re-entered the status), in
a fixed number of queries however many tickets are due."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from automations import rules_cache
from automations.models import Rule, RuleRun
from automations.services.run import automations_run_time_rule
from automations.services.scan import automations_time_scan
from automations.tasks import time_scan
from tests.factories import make_ticket
from tickets.models import Status, Ticket, TicketEvent
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_change_status

T0 = datetime(2026, 5, 26, 8, 0, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def at(moment):
    return time_machine.travel(moment, tick=False)


def make_rule(org, name, trigger, actions, *, options, conditions=None, **fields) -> Rule:
    rule = Rule.objects.create(
        organization=org,
        name=name,
        trigger=trigger,
        trigger_options=options,
        conditions=conditions or {},
        actions=actions,
        position=Rule.objects.count(),
        **fields,
    )
    rules_cache.bump(org.pk)
    return rule


NUDGE = [{"type": "add_note", "body": "Reminder sent."}]


def notes(ticket) -> int:
    return ticket.comments.filter(is_public=False, body_text="Reminder sent.").count()


def runs(rule) -> list[tuple[int, str]]:
    return list(RuleRun.objects.filter(rule=rule).order_by("id").values_list("ticket_id", "event"))


@pytest.fixture
def scan(django_capture_on_commit_callbacks):
    """One beat run of the scan at `moment`, with the run_time_rule tasks it queues."""

    def run(moment, **options):
        with at(moment), django_capture_on_commit_callbacks(execute=True):
            return automations_time_scan(now=moment, **options)

    return run


def test_a_pending_ticket_is_nudged_once_at_72_hours_and_again_after_reentering(in_acme, scan):
    org = in_acme.org
    pending, opened = Status.objects.get(name="Pending"), Status.objects.get(name="Open")
    rule = make_rule(
        org, "Nudge", "hours_in_status", NUDGE, options={"hours": 72, "status_id": pending.pk}
    )
    with at(T0):
        ticket = make_ticket(org)
        ticket_change_status(ticket=ticket, status=pending, actor_user=in_acme.agent)
    assert scan(hours(71)).due == 0
    assert (scan(hours(72)).due, notes(ticket)) == (1, 1)
    assert (scan(hours(74)).due, notes(ticket)) == (0, 1)
    # The scan's task for the same period again (a duplicate) changes nothing.
    with at(hours(74)):
        again = automations_run_time_rule(
            organization=org, rule_id=rule.pk, ticket_id=ticket.pk, clock=T0
        )
    assert (again, notes(ticket)) == (None, 1)
    with at(hours(75)):
        ticket_change_status(ticket=ticket, status=opened, actor_user=in_acme.agent)
    with at(hours(76)):
        ticket_change_status(ticket=ticket, status=pending, actor_user=in_acme.agent)
    assert (scan(hours(147)).due, notes(ticket)) == (0, 1)  # 71 hours pending this time
    assert (scan(hours(148)).due, notes(ticket)) == (1, 2)
    assert runs(rule) == [(ticket.pk, "time"), (ticket.pk, "time")]
    origins = list(
        RuleRun.objects.filter(rule=rule).order_by("id").values_list("origin", flat=True)
    )
    assert origins == [
        f"time:{rule.pk}:{T0.isoformat()}",
        f"time:{rule.pk}:{hours(76).isoformat()}",
    ]
    header = TicketEvent.objects.filter(ticket=ticket, kind="automation").first()
    assert (header.data["rule"], header.data["event"]) == ("Nudge", "time")


def test_a_ticket_that_left_the_status_before_its_task_ran_is_not_nudged(in_acme):
    org = in_acme.org
    pending, opened = Status.objects.get(name="Pending"), Status.objects.get(name="Open")
    rule = make_rule(
        org, "Nudge", "hours_in_status", NUDGE, options={"hours": 72, "status_id": pending.pk}
    )
    with at(T0):
        ticket = make_ticket(org)
        ticket_change_status(ticket=ticket, status=pending)
    with at(hours(72)):
        assert automations_time_scan(now=hours(72)).due == 1  # its task is not run yet
        ticket_change_status(ticket=ticket, status=opened)
        ran = automations_run_time_rule(
            organization=org, rule_id=rule.pk, ticket_id=ticket.pk, clock=T0
        )
    assert (ran, notes(ticket)) == (None, 0)


def test_each_clock_finds_its_own_tickets(in_acme, scan):
    org = in_acme.org
    created = make_rule(
        org,
        "Old",
        "hours_since_created",
        [{"type": "add_tags", "names": ["old"]}],
        options={"hours": 48},
    )
    customer = make_rule(
        org,
        "Customer waits",
        "hours_since_customer",
        [{"type": "add_tags", "names": ["waiting"]}],
        options={"hours": 24},
    )
    agent = make_rule(
        org,
        "Agent waits",
        "hours_since_agent",
        [{"type": "add_tags", "names": ["quiet"]}],
        options={"hours": 24},
    )
    with at(T0):
        oldest = make_ticket(org, email="a@x.test")
    with at(hours(30)):
        answered = make_ticket(org, email="b@x.test")
        comment_create(ticket=answered, body_text="On it", author_user=in_acme.agent)
    with at(hours(40)):
        comment_create(ticket=oldest, body_text="Hello?", author_contact=oldest.requester)
    scan(hours(55))
    tagged = {
        t.pk: sorted(t.tags.values_list("name", flat=True))
        for t in Ticket.objects.filter(pk__in=[oldest.pk, answered.pk])
    }
    # oldest: created 55 h ago, its customer wrote 15 h ago; answered: created 25 h ago, its
    # customer's first message and the agent's reply 25 h ago.
    assert tagged == {oldest.pk: ["old"], answered.pk: ["quiet", "waiting"]}
    assert (len(runs(created)), len(runs(customer)), len(runs(agent))) == (1, 1, 1)


def test_the_first_scan_fires_what_is_already_past_and_done_tickets_only_when_named(in_acme, scan):
    org = in_acme.org
    resolved = Status.objects.get(name="Resolved")
    with at(T0):
        tickets = [make_ticket(org, email=f"c{i}@x.test") for i in range(3)]
        ticket_change_status(ticket=tickets[2], status=resolved)
    nudge = make_rule(org, "Old", "hours_since_created", NUDGE, options={"hours": 1})
    close = make_rule(
        org,
        "Close resolved",
        "hours_since_created",
        [{"type": "add_tags", "names": ["closing"]}],
        options={"hours": 1},
        conditions={"all": [{"field": "status_category", "op": "is", "value": ["resolved"]}]},
    )
    scan(hours(500))
    assert sorted(t for t, _ in runs(nudge)) == [tickets[0].pk, tickets[1].pk]
    assert [t for t, _ in runs(close)] == [tickets[2].pk]


def test_the_conditions_are_checked_on_the_ticket(in_acme, scan):
    org = in_acme.org
    with at(T0):
        vip = make_ticket(org, subject="VIP printer", email="v@x.test")
        other = make_ticket(org, subject="Printer", email="o@x.test")
    rule = make_rule(
        org,
        "VIP only",
        "hours_since_created",
        NUDGE,
        options={"hours": 2},
        conditions={"all": [{"field": "subject", "op": "contains_any", "value": ["vip"]}]},
    )
    assert scan(hours(3)).due == 2  # the scan narrows by clock and status only
    assert (runs(rule), notes(vip), notes(other)) == ([(vip.pk, "time")], 1, 0)


def test_a_scan_reads_at_most_its_limit_per_rule_and_the_next_goes_on(in_acme, scan):
    org = in_acme.org
    with at(T0):
        tickets = [make_ticket(org, email=f"c{i}@x.test") for i in range(5)]
    rule = make_rule(org, "Old", "hours_since_created", NUDGE, options={"hours": 1})
    done = [scan(hours(2), limit=2).due for _ in range(4)]
    assert done == [2, 2, 1, 0]
    assert sorted(t for t, _ in runs(rule)) == sorted(t.pk for t in tickets)


def test_the_scan_runs_a_fixed_number_of_queries(acme, globex):
    def measure(due: int) -> int:
        with scopes_disabled():  # the test starts every tenant's rules from the beginning
            Rule.objects.update(time_cursor_at=None, time_cursor_id=0)
        with CaptureQueriesContext(connection) as captured:
            assert automations_time_scan(now=hours(10)).due == due
        return len(captured.captured_queries)

    with acme.scope():
        make_rule(acme.org, "Old", "hours_since_created", NUDGE, options={"hours": 1})
        make_rule(acme.org, "Quiet", "hours_since_agent", NUDGE, options={"hours": 1})
        with at(T0):
            make_ticket(acme.org, email="first@x.test")
    with globex.scope():
        make_rule(globex.org, "Theirs", "hours_since_created", NUDGE, options={"hours": 1})
    one = measure(1)
    with acme.scope(), at(T0):
        for i in range(40):
            make_ticket(acme.org, email=f"c{i}@x.test")
    assert measure(41) == one


def test_time_rules_stay_in_their_tenant(acme, globex, scan):
    with acme.scope():
        ours = make_rule(acme.org, "Nudge", "hours_since_created", NUDGE, options={"hours": 1})
    with globex.scope(), at(T0):
        theirs = make_ticket(globex.org)
    with acme.scope(), at(T0):
        mine = make_ticket(acme.org)
    scan(hours(2))
    with acme.scope():
        assert runs(ours) == [(mine.pk, "time")]
    with globex.scope():
        assert (RuleRun.objects.count(), notes(theirs)) == (0, 0)


def test_the_beat_task_queues_and_runs_the_due_rules(in_acme, django_capture_on_commit_callbacks):
    org = in_acme.org
    rule = make_rule(org, "Old", "hours_since_created", NUDGE, options={"hours": 1})
    with at(T0):
        ticket = make_ticket(org)
    with at(hours(2)), django_capture_on_commit_callbacks(execute=True):
        assert time_scan.apply().get() == 1
    assert (runs(rule), notes(ticket)) == ([(ticket.pk, "time")], 1)
