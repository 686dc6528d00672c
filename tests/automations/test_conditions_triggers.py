"""Triggers: which events are which trigger, and the options of each, on the events the real
services emit (with the ids the status and priority events now carry)."""

from contextlib import contextmanager

import pytest
import time_machine

from automations.models import TIME_TRIGGERS, Trigger
from automations.triggers import options_match, trigger_of
from sla.services.scan import sla_scan
from tests.factories import make_ticket
from tests.sla.helpers import berlin, policy
from tickets import events
from tickets.models import Priority, Status
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_assign, ticket_change_priority, ticket_change_status


@pytest.fixture
def heard(django_capture_on_commit_callbacks):
    """The events the services emit inside `with heard() as got:`, after commit."""

    @contextmanager
    def listening():
        got: list[events.DomainEvent] = []
        names = list(events_to_triggers())
        for name in names:
            events.subscribe(name, got.append)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield got
        finally:
            for name in names:
                events.unsubscribe(name, got.append)

    return listening


def events_to_triggers() -> dict[str, str]:
    return {
        events.TICKET_CREATED: Trigger.TICKET_CREATED,
        events.COMMENT_ADDED: Trigger.COMMENT_ADDED,
        events.STATUS_CHANGED: Trigger.STATUS_CHANGED,
        events.PRIORITY_CHANGED: Trigger.PRIORITY_CHANGED,
        events.ASSIGNED: Trigger.ASSIGNED,
        events.SLA_WARNING: Trigger.SLA_WARNING,
        events.SLA_BREACHED: Trigger.SLA_BREACHED,
    }


def test_trigger_of_every_event():
    assert {name: trigger_of(name) for name in events_to_triggers()} == events_to_triggers()
    assert trigger_of(events.TEAM_CHANGED) is None
    assert trigger_of(events.AUTOMATION_MAIL) is None
    assert trigger_of("nonsense") is None


def accepted(trigger: str, options_list: list[dict], event) -> list[bool]:
    return [options_match(options, trigger, event) for options in options_list]


def test_ticket_created_by_source(in_acme, heard):
    with heard() as got:
        make_ticket(in_acme.org, source="email")
        make_ticket(in_acme.org, source="portal")
    by_mail, by_portal = got
    options = [{}, {"sources": []}, {"sources": ["email"]}, {"sources": ["portal", "api"]}]
    assert accepted(Trigger.TICKET_CREATED, options, by_mail) == [True, True, True, False]
    assert accepted(Trigger.TICKET_CREATED, options, by_portal) == [True, True, False, True]


def test_comment_added_by_author_and_visibility(in_acme, heard):
    ticket = make_ticket(in_acme.org)
    agent = in_acme.agent
    with heard() as got:
        comment_create(ticket=ticket, body_text="customer", author_contact=ticket.requester)
        comment_create(ticket=ticket, body_text="reply", author_user=agent)
        comment_create(ticket=ticket, body_text="note", is_public=False, author_user=agent)
    customer, reply, note = got
    options = [
        {},
        {"author": "any", "visibility": "any"},
        {"author": "customer"},
        {"author": "agent"},
        {"visibility": "public"},
        {"visibility": "internal"},
        {"author": "agent", "visibility": "internal"},
    ]
    assert accepted(Trigger.COMMENT_ADDED, options, customer) == [
        True,
        True,
        True,
        False,
        True,
        False,
        False,
    ]
    assert accepted(Trigger.COMMENT_ADDED, options, reply) == [
        True,
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert accepted(Trigger.COMMENT_ADDED, options, note) == [
        True,
        True,
        False,
        True,
        False,
        True,
        True,
    ]


def test_status_changed_to_and_its_ids(in_acme, heard):
    ticket = make_ticket(in_acme.org)
    new, pending = Status.objects.get(name="New"), Status.objects.get(name="Pending")
    with heard() as got:
        ticket_change_status(ticket=ticket, status=pending, actor_user=in_acme.agent)
    [changed] = got
    assert changed.data == {
        "from": "New",
        "to": "Pending",
        "from_category": "new",
        "to_category": "pending",
        "from_id": new.pk,
        "to_id": pending.pk,
        "by_contact": False,
    }
    options = [{}, {"to_status_ids": [pending.pk]}, {"to_status_ids": [new.pk]}]
    assert accepted(Trigger.STATUS_CHANGED, options, changed) == [True, True, False]


def test_priority_changed_to_and_its_ids(in_acme, heard):
    ticket = make_ticket(in_acme.org)
    normal, urgent = Priority.objects.get(name="Normal"), Priority.objects.get(name="Urgent")
    with heard() as got:
        ticket_change_priority(ticket=ticket, priority=urgent, actor_user=in_acme.agent)
    [changed] = got
    assert changed.data == {
        "from": "Normal",
        "to": "Urgent",
        "from_id": normal.pk,
        "to_id": urgent.pk,
    }
    options = [{}, {"to_priority_ids": [urgent.pk, normal.pk]}, {"to_priority_ids": [normal.pk]}]
    assert accepted(Trigger.PRIORITY_CHANGED, options, changed) == [True, True, False]


def test_assigned_or_unassigned(in_acme, heard):
    ticket = make_ticket(in_acme.org)
    with heard() as got:
        ticket_assign(ticket=ticket, assignee=in_acme.agent, actor_user=in_acme.admin)
        ticket_assign(ticket=ticket, assignee=None, actor_user=in_acme.admin)
    assigned, unassigned = got
    options = [{}, {"change": "any"}, {"change": "assigned"}, {"change": "unassigned"}]
    assert accepted(Trigger.ASSIGNED, options, assigned) == [True, True, True, False]
    assert accepted(Trigger.ASSIGNED, options, unassigned) == [True, True, False, True]


def test_sla_warning_and_breach_by_target(acme, heard):
    with acme.scope(), time_machine.travel(berlin("2026-05-26 10:00"), tick=False):
        policy(acme.org, first_response_minutes=10, resolution_minutes=None, warn_percent=50)
        make_ticket(acme.org)
    with heard() as got:
        sla_scan(now=berlin("2026-05-26 10:05"))
        sla_scan(now=berlin("2026-05-26 10:11"))
    warning, breach = got
    options = [{}, {"targets": ["first_response"]}, {"targets": ["resolution"]}]
    assert accepted(Trigger.SLA_WARNING, options, warning) == [True, True, False]
    assert accepted(Trigger.SLA_BREACHED, options, breach) == [True, True, False]
    # A warning is no breach.
    assert options_match({}, Trigger.SLA_BREACHED, warning) is False


def test_an_event_of_another_trigger_or_malformed_options_do_not_match(in_acme, heard):
    with heard() as got:
        make_ticket(in_acme.org, source="email")
    [created] = got
    assert options_match({}, Trigger.COMMENT_ADDED, created) is False
    assert options_match(None, Trigger.TICKET_CREATED, created) is True
    assert options_match(["email"], Trigger.TICKET_CREATED, created) is False
    assert options_match({"sources": "email"}, Trigger.TICKET_CREATED, created) is False
    assert options_match({}, Trigger.TICKET_CREATED, None) is False


@pytest.mark.parametrize("trigger", TIME_TRIGGERS)
def test_time_rules_options_were_the_scans_to_apply(trigger):
    assert options_match({"hours": 72}, trigger, None) is True
