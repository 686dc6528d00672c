"""A batch's events share transactions (automations.services.batch): their runs and timeline
rows are written together, a chunk commits at once after an event that locked a team's
round-robin pointer, and whatever fails in a chunk rolls it back and runs its events one at a
time, so an action that raises is recorded failed and the other events still apply."""

import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automations.models import RuleRun
from automations.services import batch as batch_module
from automations.services.batch import Queued, automations_handle_events
from sla.models import TicketSLA
from tenants import services as tenant_services
from tests.automations.test_engine import (
    make_rule,
    priority,
    priority_store_failing,
    runs_of,
    tag,
    tags_of,
)
from tests.automations.test_engine_writes import AT, _created, _statements, event_on
from tests.factories import make_ticket
from tests.sla.helpers import calendar, policy
from tickets import events
from tickets.models import Comment, Tag, Ticket, TicketEvent
from tickets.services.tickets import ticket_change_team

RULE_RUN_INSERT = 'INSERT INTO "automations_rulerun"'


def _reply(ticket) -> events.DomainEvent:
    data = {"comment_id": None, "public": True, "by_contact": True}
    return event_on(ticket, events.COMMENT_ADDED, data)


def _queued(event, origin, depth=0) -> Queued:
    return Queued(event, origin, depth, AT)


def _run(org, queued):
    with CaptureQueriesContext(connection) as captured:
        runs = automations_handle_events(organization=org, queued=queued)
    return runs, captured


def _tickets(org, n):
    return [make_ticket(org, subject=f"T{i}", email=f"c{i}@x.test") for i in range(n)]


def test_a_batch_s_events_share_one_transaction_and_two_inserts(in_acme, caplog):
    org = in_acme.org
    make_rule(org, "Route", "ticket_created", [{"type": "set_team", "team_id": in_acme.team.pk}])
    make_rule(org, "Tag", "ticket_created", [tag("new")])
    Tag.objects.create(organization=org, name="new")  # else its creation takes a savepoint
    tickets = _tickets(org, 5)
    caplog.set_level(logging.INFO, logger="automations")
    runs, captured = _run(org, [_queued(_created(t), f"o{t.pk}") for t in tickets])
    assert [r.outcome for r in runs] == ["applied"] * 10
    assert len(_statements(captured, 'INSERT INTO "automations_rulerun"')) == 1
    assert len(_statements(captured, 'INSERT INTO "tickets_ticketevent"')) == 1
    assert len(_statements(captured, "SAVEPOINT")) == 1  # the chunk's (the test's transaction)
    # The tickets read with the batch, then locked together when the chunk starts.
    rows = _statements(captured, 'SELECT "tickets_ticket"."id", "tickets_ticket"."organization_id"')
    assert len(rows) == 2
    assert "rolled back together" not in caplog.text
    for ticket in tickets:
        assert runs_of(ticket) == [
            ("Route", "ticket.created", 0, "applied"),
            ("Tag", "ticket.created", 0, "applied"),
        ]
        assert tags_of(ticket) == ["new"]
        assert Ticket.objects.get(pk=ticket.pk).team_id == in_acme.team.pk
    # Each ticket's rows in the order they were made, the events' in their order.
    rows = TicketEvent.objects.filter(ticket__in=tickets).exclude(kind__in=["created", "comment"])
    made = [(row.ticket_id, row.kind) for row in rows.order_by("id")]
    assert made == [
        (t.pk, kind) for t in tickets for kind in ("team", "tags", "automation", "automation")
    ]


def test_a_chunk_holds_at_most_chunk_events(in_acme, monkeypatch):
    monkeypatch.setattr(batch_module, "CHUNK_EVENTS", 2)
    org = in_acme.org
    make_rule(org, "Tag", "ticket_created", [tag("new")])
    tickets = _tickets(org, 5)
    runs, captured = _run(org, [_queued(_created(t), f"o{t.pk}") for t in tickets])
    assert len(runs) == 5
    assert len(_statements(captured, 'INSERT INTO "automations_rulerun"')) == 3  # 2, 2, 1


def test_a_chunk_commits_right_after_an_event_that_took_a_team_s_pointer(in_acme):
    org = in_acme.org
    bob = tenant_services.user_get_or_create(email="bob@acme.test", name="Bob")
    tenant_services.membership_add(organization=org, user=bob, role="agent")
    team = tenant_services.team_create(organization=org, name="Rota", members=[in_acme.agent, bob])
    make_rule(
        org,
        "Assign new",
        "ticket_created",
        [{"type": "assign", "mode": "round_robin", "team_id": team.pk}],
    )
    make_rule(org, "Tag replies", "comment_added", [tag("replied")])
    Tag.objects.create(organization=org, name="replied")  # no savepoint of its creation
    first, second, third = _tickets(org, 3)
    queued = [
        _queued(_reply(first), "r1"),
        _queued(_created(second), "c2"),  # locks the team's pointer
        _queued(_reply(third), "r3"),
        _queued(_reply(first), "r4"),
    ]
    runs, captured = _run(org, queued)
    assert [(r.rule_name, r.outcome) for r in runs] == [
        ("Tag replies", "applied"),
        ("Assign new", "applied"),
        ("Tag replies", "applied"),
        ("Tag replies", "unchanged"),  # its second reply: tagged already
    ]
    inserts = _statements(captured, RULE_RUN_INSERT)
    assert len(inserts) == 2  # [reply, created] then [reply, reply]
    statements = [q["sql"] for q in captured.captured_queries]
    pointer = next(i for i, sql in enumerate(statements) if "roundrobinpointer" in sql)
    commit = next(i for i, sql in enumerate(statements) if sql.startswith("RELEASE SAVEPOINT"))
    writes = [i for i, sql in enumerate(statements) if sql.startswith(RULE_RUN_INSERT)]
    assert pointer < writes[0] < commit < writes[1]  # the first chunk committed at once
    assert Ticket.objects.get(pk=second.pk).assignee_id in {in_acme.agent.pk, bob.pk}
    assert tags_of(third) == ["replied"]
    assert tags_of(first) == ["replied"]


@pytest.fixture
def priority_fails_on():
    """The priority store fails for the tickets in the set it gives."""
    failing: set[int] = set()
    with priority_store_failing(on=lambda tickets: any(t.pk in failing for t in tickets)):
        yield failing


def test_an_action_that_raises_fails_alone_and_the_chunk_s_other_events_apply(
    in_acme, priority_fails_on, caplog
):
    org = in_acme.org
    make_rule(
        org,
        "Escalate",
        "ticket_created",
        [tag("seen"), {"type": "set_priority", "priority_id": priority("High").pk}],
    )
    tickets = _tickets(org, 4)
    priority_fails_on.add(tickets[2].pk)
    caplog.set_level(logging.INFO, logger="automations")
    runs, _ = _run(org, [_queued(_created(t), f"o{t.pk}") for t in tickets])
    assert [r.outcome for r in runs] == ["applied", "applied", "partial", "applied"]
    assert "rolled back together" in caplog.text
    for n, ticket in enumerate(tickets):
        row = Ticket.objects.select_related("priority").get(pk=ticket.pk)
        assert row.priority.name == ("Normal" if n == 2 else "High")
        assert tags_of(ticket) == ["seen"]  # the tag of the failing one too (its savepoint)
        assert RuleRun.objects.filter(ticket=ticket).count() == 1


def test_a_rule_runs_once_per_chain_when_two_of_its_events_share_a_chunk(in_acme, caplog):
    org = in_acme.org
    make_rule(org, "Tag replies", "comment_added", [tag("replied")])
    (ticket,) = _tickets(org, 1)
    caplog.set_level(logging.INFO, logger="automations")
    # Two events of one chain (an earlier rule's two changes), one after the other.
    runs, _ = _run(org, [_queued(_reply(ticket), "chain", 1)] * 2)
    assert [r.rule_name for r in runs] == ["Tag replies"]
    assert "rolled back together" not in caplog.text  # not left to the unique constraint
    assert runs_of(ticket) == [("Tag replies", "comment.added", 1, "applied")]


def test_a_run_written_before_rolls_the_chunk_back_and_only_its_event_fails(in_acme, caplog):
    # A task redelivered as new (not as a replay): the fresh chain's run is written already.
    org = in_acme.org
    rule = make_rule(org, "Tag", "ticket_created", [tag("new")])
    done, fresh = _tickets(org, 2)
    RuleRun.objects.create(
        organization=org, rule=rule, rule_name="Tag", ticket=done, event="ticket.created",
        origin="o-done", depth=0, outcome="applied", results=[], event_at=AT,
    )  # fmt: skip
    caplog.set_level(logging.INFO, logger="automations")
    runs, _ = _run(org, [_queued(_created(done), "o-done"), _queued(_created(fresh), "o-fresh")])
    assert [r.ticket_id for r in runs] == [fresh.pk]
    assert "rolled back together" in caplog.text
    assert "failed" in caplog.text  # the event that raised, logged
    assert tags_of(done) == []
    assert tags_of(fresh) == ["new"]
    assert RuleRun.objects.filter(ticket=done).count() == 1


def test_a_ticket_changed_between_the_batch_s_read_and_the_chunk_s_lock_is_read_again(
    in_acme, monkeypatch
):
    org = in_acme.org
    make_rule(
        org, "Note", "ticket_created", [{"type": "add_note", "body": "On {{ ticket_subject }}."}]
    )
    first, second = _tickets(org, 2)
    read = batch_module.facts_for_events

    def read_then_changed(*args, **kwargs):
        facts = read(*args, **kwargs)
        Ticket.objects.filter(pk=second.pk).update(subject="Renamed meanwhile")
        return facts

    monkeypatch.setattr(batch_module, "facts_for_events", read_then_changed)
    runs, _ = _run(org, [_queued(_created(t), f"o{t.pk}") for t in (first, second)])
    assert [r.outcome for r in runs] == ["applied", "applied"]
    notes = {c.ticket_id: c.body_text for c in Comment.objects.filter(is_public=False)}
    assert notes == {first.pk: "On T0.", second.pk: "On Renamed meanwhile."}
    assert Ticket.objects.get(pk=second.pk).subject == "Renamed meanwhile"


def test_a_chunk_reads_the_sla_policies_once_for_all_its_team_changes(in_acme):
    org = in_acme.org
    other = tenant_services.team_create(organization=org, name="Billing")
    cal = calendar(org)
    fast = policy(org, cal, name="Fast", order=1, team_ids=[in_acme.team.pk])
    policy(org, cal, name="Slow", order=2)
    make_rule(org, "Route", "ticket_created", [{"type": "set_team", "team_id": in_acme.team.pk}])
    tickets = [make_ticket(org, team=other, email=f"c{i}@x.test") for i in range(4)]
    runs, captured = _run(org, [_queued(_created(t), f"o{t.pk}") for t in tickets])
    assert [r.outcome for r in runs] == ["applied"] * 4
    assert len(_statements(captured, 'SELECT "sla_policy"')) == 1
    for ticket in tickets:  # each recomputed with the policy the new team matches
        assert TicketSLA.objects.get(ticket=ticket, target="first_response").policy == fast
    with CaptureQueriesContext(connection) as captured:  # outside a chunk: read per change
        ticket_change_team(ticket=tickets[0], team=other)
        ticket_change_team(ticket=tickets[1], team=other)
    assert len(_statements(captured, 'SELECT "sla_policy"')) == 2
