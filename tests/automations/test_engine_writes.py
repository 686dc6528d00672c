"""What the engine writes for a ticket's rules, and how little it asks for it: the timeline rows
of all its rules in one INSERT (in the order they were made; an action that fails leaves none
of its own), the locked ticket changed in place, the teams and statuses an action names read
once per batch, one list version bump per transaction, and the SLA timers recomputed only when
a policy reads the changed field."""

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from automations.services import run as engine
from automations.services.batch import Queued, automations_handle_events
from automations.services.run import automations_handle_event
from sla.models import TicketSLA
from tenants import services as tenant_services
from tests.automations.test_engine import make_rule, priority, status, tag
from tests.factories import make_ticket
from tests.sla.helpers import calendar, policy
from tickets import events, hooks
from tickets.models import Ticket, TicketEvent
from tickets.selectors import _version_key
from tickets.services import timeline
from tickets.services.lists import lists_changed
from tickets.services.tickets import ticket_change_team

AT = datetime(2026, 5, 26, tzinfo=UTC)


def event_on(ticket, name: str, data: dict) -> events.DomainEvent:
    """A domain event of the ticket that no user made (the engine's input)."""
    return events.DomainEvent(name, ticket.organization_id, ticket.pk, None, data)


def _created(ticket) -> events.DomainEvent:
    return event_on(ticket, events.TICKET_CREATED, {"source": "agent", "by_contact": True})


def _run(ticket, origin="o1"):
    return automations_handle_event(
        organization=ticket.organization,
        event=_created(ticket),
        origin=origin,
        depth=0,
        event_at=AT,
    )


def _statements(captured, start: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith(start)]


def _kinds(ticket, order: tuple[str, ...]) -> list[str]:
    rows = TicketEvent.objects.filter(ticket=ticket).exclude(kind__in=["created", "comment"])
    return [row.kind for row in rows.order_by(*order)]


def test_a_ticket_s_rules_write_their_timeline_in_one_insert_in_the_order_made(in_acme):
    org = in_acme.org
    make_rule(org, "Route", "ticket_created", [{"type": "set_team", "team_id": in_acme.team.pk}])
    make_rule(
        org,
        "Escalate",
        "ticket_created",
        [{"type": "set_priority", "priority_id": priority("High").pk}, tag("vip")],
    )
    ticket = make_ticket(org)
    with CaptureQueriesContext(connection) as captured:
        runs = _run(ticket)
    assert [r.outcome for r in runs] == ["applied", "applied"]
    assert len(_statements(captured, 'INSERT INTO "tickets_ticketevent"')) == 1
    # Each run's header follows the rows its actions wrote: by time, and by id after them all
    # (the headers were always written last).
    assert _kinds(ticket, ("created_at", "id")) == [
        "team",
        "automation",
        "priority",
        "tags",
        "automation",
    ]
    assert _kinds(ticket, ("id",)) == ["team", "priority", "tags", "automation", "automation"]


@pytest.fixture
def status_store_down():
    """A STATUS_CHANGED hook that fails: it runs after the status change wrote its row."""

    def fail(*, changes):
        raise RuntimeError("the status store is down")

    hooks.register(hooks.STATUS_CHANGED, fail)
    yield
    hooks.unregister(hooks.STATUS_CHANGED, fail)


def test_an_action_that_raises_leaves_no_timeline_row_of_its_own(in_acme, status_store_down):
    org = in_acme.org
    make_rule(
        org,
        "Park",
        "ticket_created",
        [{"type": "set_status", "status_id": status("Pending").pk}, tag("parked")],
    )
    ticket = make_ticket(org)
    (run,) = _run(ticket)
    assert [(r["action"], r["outcome"]) for r in run.results] == [
        ("set_status", "failed"),
        ("add_tags", "done"),
    ]
    assert Ticket.objects.get(pk=ticket.pk).status.name == "New"
    assert _kinds(ticket, ("created_at", "id")) == ["tags", "automation"]


def test_rules_change_the_locked_ticket_in_place_without_reading_it_again(in_acme):
    org = in_acme.org
    make_rule(
        org,
        "Everything",
        "ticket_created",
        [
            {"type": "set_team", "team_id": in_acme.team.pk},
            {"type": "assign", "mode": "round_robin", "team_id": in_acme.team.pk},
            {"type": "set_priority", "priority_id": priority("Urgent").pk},
            {"type": "set_status", "status_id": status("Open").pk},
            {"type": "add_note", "body": "Routed {{ ticket_subject }}."},
        ],
    )
    ticket = make_ticket(org)
    with CaptureQueriesContext(connection) as captured:
        (run,) = _run(ticket)
    assert [r["outcome"] for r in run.results] == ["done"] * 5
    ticket_reads = _statements(captured, 'SELECT "tickets_ticket"."')
    assert len(ticket_reads) == 2  # read, then locked (no action reads it again)
    if connection.vendor == "postgresql":
        assert [("FOR UPDATE" in sql) for sql in ticket_reads] == [False, True]
    row = Ticket.objects.select_related("team", "assignee", "priority", "status").get(pk=ticket.pk)
    assert (row.team, row.assignee, row.priority.name, row.status.name) == (
        in_acme.team,
        in_acme.agent,
        "Urgent",
        "Open",
    )
    assert row.last_activity_at > ticket.last_activity_at  # the note's, on the same row


def test_a_ticket_changed_since_it_was_read_is_read_again_whole_when_locked(in_acme):
    ticket = make_ticket(in_acme.org)
    read = Ticket.objects.get(pk=ticket.pk)
    assert engine._relocked(read) is read
    Ticket.objects.filter(pk=ticket.pk).update(first_response_at=AT)  # no condition reads it
    locked = engine._relocked(read)
    assert locked is not read
    assert (locked.first_response_at, read.first_response_at) == (AT, None)


def test_a_batch_reads_the_team_and_status_its_actions_name_once(in_acme):
    org = in_acme.org
    make_rule(
        org,
        "Route",
        "ticket_created",
        [
            {"type": "set_team", "team_id": in_acme.team.pk},
            {"type": "set_status", "status_id": status("Open").pk},
        ],
    )
    tickets = [make_ticket(org, email=f"c{n}@x.test") for n in range(3)]
    queued = [Queued(_created(t), f"o{t.pk}", 0, AT) for t in tickets]
    with CaptureQueriesContext(connection) as captured:
        runs = automations_handle_events(organization=org, queued=queued)
    assert [r.outcome for r in runs] == ["applied"] * 3
    assert len(_statements(captured, 'SELECT "tenants_team"')) == 1
    assert len(_statements(captured, 'SELECT "tickets_status"')) == 1
    assert {Ticket.objects.get(pk=t.pk).team_id for t in tickets} == {in_acme.team.pk}


def _list_version(org) -> int | None:
    return cache.get(_version_key(org.pk))


def test_a_ticket_s_rules_bump_the_list_version_once_after_they_commit(
    in_acme, django_capture_on_commit_callbacks
):
    org = in_acme.org
    make_rule(
        org,
        "Route",
        "ticket_created",
        [{"type": "set_team", "team_id": in_acme.team.pk}, tag("routed")],
    )
    make_rule(
        org, "Hot", "ticket_created", [{"type": "set_priority", "priority_id": priority("High").pk}]
    )
    tickets = [make_ticket(org, email=f"c{n}@x.test") for n in range(2)]
    before = _list_version(org) or 0
    for n, ticket in enumerate(tickets, start=1):
        with django_capture_on_commit_callbacks(execute=True):
            _run(ticket, origin=f"o{n}")
            assert (_list_version(org) or 0) == before + n - 1  # not before the commit
        assert _list_version(org) == before + n


def test_a_bump_dropped_with_its_savepoint_is_queued_again_by_a_later_change(
    in_acme, django_capture_on_commit_callbacks
):
    org = in_acme.org
    before = _list_version(org) or 0
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        timeline.gathered() as waiting,
    ):
        mark = waiting.mark()
        try:
            with transaction.atomic():  # an action's savepoint, rolled back with its bump
                lists_changed(org.pk)
                raise RuntimeError("the action failed")
        except RuntimeError:
            waiting.drop_since(mark)  # what the engine does then
        lists_changed(org.pk)
        lists_changed(org.pk)
    assert (len(callbacks), _list_version(org)) == (1, before + 1)


def _sla_reads(captured) -> int:
    return len(_statements(captured, 'SELECT "sla_ticketsla"'))


def test_a_team_change_no_policy_reads_leaves_the_timers_as_they_are(in_acme):
    org = in_acme.org
    policy(org, priority_ids=[priority("High").pk])
    ticket = make_ticket(org, priority=priority("High"))
    before = {(t.target, t.due_at, t.policy_id) for t in TicketSLA.objects.filter(ticket=ticket)}
    with CaptureQueriesContext(connection) as captured:
        ticket_change_team(ticket=ticket, team=in_acme.team)
    assert _sla_reads(captured) == 0
    after = {(t.target, t.due_at, t.policy_id) for t in TicketSLA.objects.filter(ticket=ticket)}
    assert (len(before), after) == (2, before)


def test_a_team_change_a_policy_reads_still_recomputes_the_timers(in_acme):
    org = in_acme.org
    other = tenant_services.team_create(organization=org, name="Billing")
    cal = calendar(org)
    fast = policy(org, cal, name="Fast", order=1, team_ids=[in_acme.team.pk])
    slow = policy(org, cal, name="Slow", order=2)
    ticket = make_ticket(org, team=other)
    assert TicketSLA.objects.get(ticket=ticket, target="first_response").policy == slow
    with CaptureQueriesContext(connection) as captured:
        ticket_change_team(ticket=ticket, team=in_acme.team)
    assert _sla_reads(captured) == 1
    assert TicketSLA.objects.get(ticket=ticket, target="first_response").policy == fast
