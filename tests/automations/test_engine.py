"""The engine end to end: a ticket service's change is heard after commit by
automations.subscribers, queued as automations.tasks.handle_event (run in process here), and
the tenant's rules run on the ticket in order: what they change, the RuleRun and the timeline
row of each, loop protection, the depth cut-off, failures and stop_processing."""

import logging
import threading
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from automations import rules_cache
from automations.models import Rule, RuleRun
from automations.services.run import automations_handle_event
from tests.factories import make_ticket
from tickets import events, hooks
from tickets.models import Priority, Status, StatusCategory, Ticket, TicketEvent
from tickets.services.comments import comment_create
from tickets.services.merge import ticket_merge
from tickets.services.tickets import (
    ticket_assign,
    ticket_change_priority,
    ticket_change_status,
)


def make_rule(org, name, trigger, actions, *, options=None, conditions=None, **fields) -> Rule:
    position = Rule.objects.count()
    rule = Rule.objects.create(
        organization=org,
        name=name,
        trigger=trigger,
        trigger_options=options or {},
        conditions=conditions or {},
        actions=actions,
        position=position,
        **fields,
    )
    rules_cache.bump(org.pk)  # what the settings pages do on every save
    return rule


def tag(*names):
    return {"type": "add_tags", "names": list(names)}


def tags_of(ticket) -> list[str]:
    return sorted(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True))


def runs_of(ticket) -> list[tuple]:
    rows = RuleRun.objects.filter(ticket=ticket).order_by("id")
    return [(r.rule_name, r.event, r.depth, r.outcome) for r in rows]


def status(name):
    return Status.objects.get(name=name)


def priority(name):
    return Priority.objects.get(name=name)


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run a change and everything it sets off after commit: the subscribers, the engine's
    task, and the events the rules' own actions emit, until nothing is left."""

    def run(change, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return change(*args, **kwargs)

    return run


def test_every_event_trigger_runs_its_rules_through_the_subscriber_and_the_task(
    in_acme, after_commit
):
    org = in_acme.org
    make_rule(
        org, "New by mail", "ticket_created", [tag("created")], options={"sources": ["email"]}
    )
    make_rule(
        org,
        "Customer wrote",
        "comment_added",
        [tag("commented")],
        options={"author": "customer", "visibility": "public"},
    )
    make_rule(
        org,
        "Went pending",
        "status_changed",
        [tag("pending")],
        options={"to_status_ids": [status("Pending").pk]},
    )
    make_rule(
        org,
        "Got urgent",
        "priority_changed",
        [tag("urgent")],
        options={"to_priority_ids": [priority("Urgent").pk]},
    )
    make_rule(org, "Assigned", "assigned", [tag("assigned")], options={"change": "assigned"})
    make_rule(org, "SLA warning", "sla_warning", [tag("warned")])
    make_rule(
        org, "SLA breached", "sla_breached", [tag("breached")], options={"targets": ["resolution"]}
    )

    ticket = after_commit(make_ticket, org, source="email")
    assert tags_of(ticket) == ["created"]
    after_commit(comment_create, ticket=ticket, body_text="More", author_contact=ticket.requester)
    after_commit(ticket_change_status, ticket=ticket, status=status("Pending"))
    after_commit(ticket_change_priority, ticket=ticket, priority=priority("Urgent"))
    after_commit(ticket_assign, ticket=ticket, assignee=in_acme.agent)
    for name, target in ((events.SLA_WARNING, "resolution"), (events.SLA_BREACHED, "resolution")):
        data = {"target": target, "due_at": "2026-05-26T10:00:00+00:00"}
        after_commit(events.emit, events.DomainEvent(name, org.pk, ticket.pk, None, data))
    assert tags_of(ticket) == sorted(
        ["created", "commented", "pending", "urgent", "assigned", "warned", "breached"]
    )
    assert [(name, event) for name, event, *_ in runs_of(ticket)] == [
        ("New by mail", events.TICKET_CREATED),
        ("Customer wrote", events.COMMENT_ADDED),
        ("Went pending", events.STATUS_CHANGED),
        ("Got urgent", events.PRIORITY_CHANGED),
        ("Assigned", events.ASSIGNED),
        ("SLA warning", events.SLA_WARNING),
        ("SLA breached", events.SLA_BREACHED),
    ]


def test_trigger_options_that_do_not_take_the_event_run_nothing(in_acme, after_commit):
    org = in_acme.org
    make_rule(
        org, "Portal only", "ticket_created", [tag("portal")], options={"sources": ["portal"]}
    )
    make_rule(
        org,
        "Agents' notes",
        "comment_added",
        [tag("note")],
        options={"author": "agent", "visibility": "internal"},
    )
    ticket = after_commit(make_ticket, org, source="email")
    after_commit(comment_create, ticket=ticket, body_text="Hi", author_contact=ticket.requester)
    assert (tags_of(ticket), runs_of(ticket)) == ([], [])


def test_a_run_heads_its_rows_on_the_timeline_by_automation(in_acme, after_commit):
    org = in_acme.org
    rule = make_rule(
        org,
        "Escalate",
        "ticket_created",
        [{"type": "set_priority", "priority_id": priority("High").pk}, tag("vip")],
    )
    ticket = after_commit(make_ticket, org)
    run = RuleRun.objects.get(ticket=ticket)
    assert (run.rule_id, run.origin != "", run.depth, run.outcome) == (rule.pk, True, 0, "applied")
    assert [r["outcome"] for r in run.results] == ["done", "done"]
    rows = TicketEvent.objects.filter(ticket=ticket).exclude(kind__in=["created", "comment"])
    by_kind = {row.kind: row for row in rows}
    assert sorted(by_kind) == ["automation", "priority", "tags"]
    header = by_kind["automation"].data
    assert (header["rule"], header["rule_id"], header["event"], header["outcome"]) == (
        "Escalate",
        rule.pk,
        events.TICKET_CREATED,
        "applied",
    )
    assert header["results"] == run.results
    # Every row of the run names it, so the timeline shows them under one entry.
    assert {row.data["via"]["run"] for row in rows} == {header["via"]["run"]}
    assert {row.data["via"]["name"] for row in rows} == {"Escalate"}
    assert {row.actor_user_id for row in rows} == {None}


def test_a_rule_with_nothing_to_change_keeps_its_run_but_writes_and_emits_nothing(
    in_acme, after_commit
):
    org = in_acme.org
    make_rule(
        org,
        "Normal stays",
        "ticket_created",
        [{"type": "set_priority", "priority_id": priority("Normal").pk}],
    )
    heard = []
    events.subscribe(events.PRIORITY_CHANGED, heard.append)
    try:
        ticket = after_commit(make_ticket, org)
    finally:
        events.unsubscribe(events.PRIORITY_CHANGED, heard.append)
    assert runs_of(ticket) == [("Normal stays", events.TICKET_CREATED, 0, "unchanged")]
    kinds = TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True)
    assert (list(kinds), heard) == (["created"], [])


def test_later_rules_see_what_earlier_rules_changed(in_acme, after_commit):
    org = in_acme.org
    pending = status("Pending")
    make_rule(org, "Park it", "ticket_created", [{"type": "set_status", "status_id": pending.pk}])
    make_rule(
        org,
        "Parked",
        "ticket_created",
        [tag("parked")],
        conditions={"all": [{"field": "status", "op": "is", "value": [pending.pk]}]},
    )
    ticket = after_commit(make_ticket, org)
    assert tags_of(ticket) == ["parked"]


def test_two_rules_flipping_a_field_stop_at_once_with_a_logged_reason(
    in_acme, after_commit, caplog
):
    org = in_acme.org
    opened, pending = status("Open"), status("Pending")
    make_rule(
        org,
        "Open to pending",
        "status_changed",
        [{"type": "set_status", "status_id": pending.pk}],
        options={"to_status_ids": [opened.pk]},
    )
    make_rule(
        org,
        "Pending to open",
        "status_changed",
        [{"type": "set_status", "status_id": opened.pk}],
        options={"to_status_ids": [pending.pk]},
    )
    ticket = make_ticket(org)
    with caplog.at_level(logging.INFO, logger="automations"):
        after_commit(ticket_change_status, ticket=ticket, status=opened, actor_user=in_acme.agent)
    assert runs_of(ticket) == [
        ("Open to pending", events.STATUS_CHANGED, 0, "applied"),
        ("Pending to open", events.STATUS_CHANGED, 1, "applied"),
    ]
    changes = TicketEvent.objects.filter(ticket=ticket, kind="status").order_by("id")
    assert [(e.data["to"], e.actor_user_id is not None) for e in changes] == [
        ("Open", True),
        ("Pending", False),
        ("Open", False),
    ]
    reasons = [r.getMessage() for r in caplog.records if "already ran" in r.getMessage()]
    assert len(reasons) == 1
    assert "'Open to pending' already ran on ticket #1 in this chain" in reasons[0]


def test_a_rule_its_own_action_triggers_runs_once(in_acme, after_commit, caplog):
    org = in_acme.org
    make_rule(org, "Note every comment", "comment_added", [{"type": "add_note", "body": "Seen."}])
    ticket = make_ticket(org)
    with caplog.at_level(logging.INFO, logger="automations"):
        after_commit(comment_create, ticket=ticket, body_text="Hi", author_contact=ticket.requester)
    notes = ticket.comments.filter(is_public=False).values_list("body_text", flat=True)
    assert (list(notes), len(runs_of(ticket))) == (["Seen."], 1)
    assert any("already ran" in r.getMessage() for r in caplog.records)


def test_a_chain_stops_at_depth_five_and_says_so_once(in_acme, after_commit, caplog):
    org = in_acme.org
    steps = [
        Status.objects.create(organization=org, name=f"Step {n}", category=StatusCategory.OPEN)
        for n in range(7)
    ]
    for n in range(1, 6 + 1):
        make_rule(
            org,
            f"R{n}",
            "status_changed",
            [{"type": "set_status", "status_id": steps[n].pk} if n < 6 else tag("never")],
            options={"to_status_ids": [steps[n - 1].pk]},
        )
    ticket = make_ticket(org)
    with caplog.at_level(logging.INFO, logger="automations"):
        after_commit(ticket_change_status, ticket=ticket, status=steps[0], actor_user=in_acme.agent)
    # The person's change (depth 0) and five rules' changes; the event of the fifth is at
    # depth 5 and runs no rule.
    assert [(name, depth) for name, _, depth, _ in runs_of(ticket)] == [
        ("R1", 0),
        ("R2", 1),
        ("R3", 2),
        ("R4", 3),
        ("R5", 4),
    ]
    assert Ticket.objects.get(pk=ticket.pk).status_id == steps[5].pk
    assert tags_of(ticket) == []
    cut = [r.getMessage() for r in caplog.records if "chain stopped" in r.getMessage()]
    assert len(cut) == 1
    assert "at depth 5 on ticket #1" in cut[0]
    assert cut[0].endswith("the chain was R1 -> R2 -> R3 -> R4 -> R5")


@contextmanager
def priority_store_failing(on=lambda tickets: True):
    """A tickets.hooks hook (as sla registers) that fails on a priority change of the tickets
    `on` picks (all of them by default): what a bug or an outage deep in a ticket service
    looks like to the engine."""

    def fail(*, tickets, fields):
        if "priority" in fields and on(tickets):
            raise RuntimeError("the priority store is down")

    hooks.register(hooks.TICKETS_CHANGED, fail)
    try:
        yield
    finally:
        hooks.unregister(hooks.TICKETS_CHANGED, fail)


@pytest.fixture
def priority_store_down():
    with priority_store_failing():
        yield


def test_an_action_that_raises_is_recorded_failed_and_the_rest_still_run(
    in_acme, after_commit, priority_store_down
):
    org = in_acme.org
    make_rule(
        org,
        "Escalate",
        "ticket_created",
        [{"type": "set_priority", "priority_id": priority("High").pk}, tag("after")],
    )
    make_rule(
        org,
        "Broken only",
        "ticket_created",
        [{"type": "set_priority", "priority_id": priority("Urgent").pk}],
    )
    make_rule(org, "Still runs", "ticket_created", [tag("second")])
    ticket = after_commit(make_ticket, org)
    assert runs_of(ticket) == [
        ("Escalate", events.TICKET_CREATED, 0, "partial"),
        ("Broken only", events.TICKET_CREATED, 0, "failed"),
        ("Still runs", events.TICKET_CREATED, 0, "applied"),
    ]
    escalate = RuleRun.objects.get(ticket=ticket, rule_name="Escalate")
    assert [(r["action"], r["outcome"]) for r in escalate.results] == [
        ("set_priority", "failed"),
        ("add_tags", "done"),
    ]
    assert escalate.results[0]["detail"] == "RuntimeError: the priority store is down"
    assert escalate.error == "RuntimeError: the priority store is down"
    row = Ticket.objects.select_related("priority").get(pk=ticket.pk)
    assert (row.priority.name, tags_of(ticket)) == ("Normal", ["after", "second"])
    assert not TicketEvent.objects.filter(ticket=ticket, kind="priority").exists()
    headers = TicketEvent.objects.filter(ticket=ticket, kind="automation").order_by("id")
    assert [h.data["outcome"] for h in headers] == ["partial", "failed", "applied"]


def test_stop_processing_ends_the_event_after_its_rule(in_acme, after_commit):
    org = in_acme.org
    # The first rule does not match, so it stops nothing.
    make_rule(
        org,
        "Not for me",
        "ticket_created",
        [tag("never")],
        stop_processing=True,
        conditions={"all": [{"field": "subject", "op": "contains_any", "value": ["invoice"]}]},
    )
    make_rule(org, "First", "ticket_created", [tag("first")], stop_processing=True)
    make_rule(org, "Second", "ticket_created", [tag("second")])
    ticket = after_commit(make_ticket, org)
    assert (tags_of(ticket), [r[0] for r in runs_of(ticket)]) == (["first"], ["First"])


def test_rules_run_in_their_order(in_acme, after_commit):
    org = in_acme.org
    late = make_rule(org, "Late", "ticket_created", [tag("late")], stop_processing=True)
    make_rule(org, "Early", "ticket_created", [tag("early")], stop_processing=True)
    late.position = 99
    late.save(update_fields=["position"])
    rules_cache.bump(org.pk)
    ticket = after_commit(make_ticket, org)
    assert tags_of(ticket) == ["early"]


def test_an_edited_or_disabled_rule_is_seen_at_the_next_event(in_acme, after_commit):
    org = in_acme.org
    rule = make_rule(org, "Tagger", "ticket_created", [tag("one")])
    first = after_commit(make_ticket, org)
    rule.actions = [tag("two")]
    rule.save(update_fields=["actions"])
    rules_cache.bump(org.pk)
    second = after_commit(make_ticket, org)
    rule.enabled = False
    rule.save(update_fields=["enabled"])
    rules_cache.bump(org.pk)
    third = after_commit(make_ticket, org)
    assert [tags_of(t) for t in (first, second, third)] == [["one"], ["two"], []]


def test_a_merged_ticket_runs_no_rules(in_acme, after_commit):
    org = in_acme.org
    make_rule(org, "Any status", "status_changed", [tag("moved")])
    ticket, survivor = make_ticket(org), make_ticket(org)
    after_commit(ticket_merge, ticket=ticket, into=survivor, actor_user=in_acme.agent)
    assert runs_of(ticket) == []  # the merge closed it: a status change, on a merged ticket


def test_two_tenants_with_the_same_rule_names_see_only_their_own(acme, globex, after_commit):
    made = {}
    for tenant, label in ((acme, "acme-route"), (globex, "globex-route")):
        with tenant.scope():
            make_rule(
                tenant.org,
                "Route billing",
                "ticket_created",
                [tag(label)],
                conditions={
                    "all": [{"field": "subject", "op": "contains_any", "value": ["invoice"]}]
                },
            )
    with acme.scope():
        made["acme"] = after_commit(make_ticket, acme.org, subject="Invoice missing")
    with globex.scope():
        made["globex"] = after_commit(make_ticket, globex.org, subject="Printer")
        made["globex-invoice"] = after_commit(make_ticket, globex.org, subject="Invoice wrong")
    with acme.scope():
        assert tags_of(made["acme"]) == ["acme-route"]
        assert list(RuleRun.objects.values_list("ticket_id", flat=True)) == [made["acme"].pk]
    with globex.scope():
        assert (tags_of(made["globex"]), tags_of(made["globex-invoice"])) == ([], ["globex-route"])
        assert list(RuleRun.objects.values_list("rule__organization_id", flat=True)) == [
            globex.org.pk
        ]


def test_an_event_no_rule_takes_costs_no_query(in_acme, django_assert_num_queries):
    org = in_acme.org
    make_rule(
        org, "Portal only", "ticket_created", [tag("portal")], options={"sources": ["portal"]}
    )
    ticket = make_ticket(org, source="email")
    event = events.DomainEvent(
        events.TICKET_CREATED, org.pk, ticket.pk, None, {"source": "email", "by_contact": True}
    )
    at = datetime(2026, 5, 26, tzinfo=UTC)
    automations_handle_event(organization=org, event=event, origin="o1", depth=0, event_at=at)
    with django_assert_num_queries(0):  # the rules are cached; the ticket is never read
        runs = automations_handle_event(
            organization=org, event=event, origin="o2", depth=0, event_at=at
        )
    assert runs == []


def test_an_event_whose_rules_do_not_match_locks_and_writes_nothing(in_acme):
    org = in_acme.org
    make_rule(
        org,
        "Invoices",
        "ticket_created",
        [tag("billing")],
        conditions={"all": [{"field": "subject", "op": "contains_any", "value": ["invoice"]}]},
    )
    ticket = make_ticket(org, subject="Printer on fire")
    event = events.DomainEvent(
        events.TICKET_CREATED, org.pk, ticket.pk, None, {"source": "agent", "by_contact": True}
    )
    at = datetime(2026, 5, 26, tzinfo=UTC)
    with CaptureQueriesContext(connection) as captured:
        runs = automations_handle_event(
            organization=org, event=event, origin="o1", depth=0, event_at=at
        )
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    assert runs == []
    assert set(statements) == {"SELECT"}  # no lock, no write: no commit to wait for
    assert not any("FOR UPDATE" in q["sql"] for q in captured.captured_queries)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_workers_running_rules_that_make_the_same_new_tag_both_succeed(acme):
    with acme.scope():
        tickets = [make_ticket(acme.org, email=f"c{i}@x.test") for i in range(8)]
        for round_ in range(4):
            make_rule(acme.org, f"Tag {round_}", "ticket_created", [tag(f"new-{round_}")])
    barrier = threading.Barrier(len(tickets))
    errors: list[BaseException] = []

    def run(ticket):
        try:
            event = events.DomainEvent(
                events.TICKET_CREATED,
                acme.org.pk,
                ticket.pk,
                None,
                {"source": "agent", "by_contact": True},
            )
            barrier.wait(timeout=10)
            with acme.scope():
                automations_handle_event(
                    organization=acme.org,
                    event=event,
                    origin=f"o{ticket.pk}",
                    depth=0,
                    event_at=datetime(2026, 5, 26, tzinfo=UTC),
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with acme.scope():
        assert set(RuleRun.objects.values_list("outcome", flat=True)) == {"applied"}
        assert [tags_of(t) for t in tickets] == [[f"new-{n}" for n in range(4)]] * len(tickets)


def test_a_process_that_missed_the_bump_reloads_its_rules_within_seconds(
    in_acme, after_commit, monkeypatch
):
    """Without a shared cache (the embedded default) another process's bump is not seen: its
    cached rules expire after rules_cache.LOCAL_TTL_SECONDS instead."""
    from types import SimpleNamespace

    now = [1000.0]
    monkeypatch.setattr(rules_cache, "time", SimpleNamespace(monotonic=lambda: now[0]))
    make_rule(in_acme.org, "Old", "ticket_created", [tag("old")])
    after_commit(make_ticket, in_acme.org, email="a@x.test")  # loads and caches the rules
    Rule.objects.filter(name="Old").update(actions=[tag("new")])  # saved elsewhere, no bump
    stale = after_commit(make_ticket, in_acme.org, email="b@x.test")
    now[0] += rules_cache.LOCAL_TTL_SECONDS + 1
    fresh = after_commit(make_ticket, in_acme.org, email="c@x.test")
    assert (tags_of(stale), tags_of(fresh)) == (["old"], ["new"])


def test_a_tag_created_by_a_rolled_back_try_is_created_again(
    in_acme, after_commit, priority_store_down
):
    # The first try (no savepoints) creates the tag, then an action raises and the try is
    # rolled back: the tag it remembered is gone, and the second try must not link to it
    # (PostgreSQL would refuse the whole event at commit, the foreign key being deferred).
    org = in_acme.org
    make_rule(
        org,
        "Tag, then escalate",
        "ticket_created",
        [tag("brand-new"), {"type": "set_priority", "priority_id": priority("High").pk}],
    )
    ticket = after_commit(make_ticket, org)
    assert runs_of(ticket) == [("Tag, then escalate", events.TICKET_CREATED, 0, "partial")]
    assert tags_of(ticket) == ["brand-new"]
