"""Facts: what they read in how many queries, who made each kind of event (the actor), and
business hours from the tenant's default sla Calendar."""

import pytest
import time_machine

from automations.conditions import compile_conditions
from automations.facts import TICKET_RELATED, actor_of, facts_for, facts_for_many, refreshed
from automations.schema import Field, Op
from sla.models import Calendar
from sla.services.scan import sla_scan
from tests.automations.test_conditions import NOW, all_of, comment_event, cond, facts_of, world
from tests.factories import make_ticket
from tests.sla.helpers import berlin, calendar, policy
from tickets import causes, events
from tickets.models import Priority, Status, Ticket
from tickets.services.comments import comment_create
from tickets.services.tags import ticket_tags_add
from tickets.services.tickets import (
    ticket_assign,
    ticket_change_priority,
    ticket_change_status,
)

__all__ = ["world"]  # the fixture, shared


@pytest.fixture
def heard():
    got: list[events.DomainEvent] = []
    names = [
        events.TICKET_CREATED,
        events.COMMENT_ADDED,
        events.STATUS_CHANGED,
        events.PRIORITY_CHANGED,
        events.ASSIGNED,
        events.SLA_WARNING,
        events.SLA_BREACHED,
    ]
    for name in names:
        events.subscribe(name, got.append)
    yield got
    for name in names:
        events.unsubscribe(name, got.append)


# -- queries ---------------------------------------------------------------------------------


def test_facts_for_an_event_take_three_queries(world, django_assert_num_queries):
    event = comment_event(world.rich, "Please refund")
    loaded = Ticket.objects.select_related(*TICKET_RELATED).get(pk=world.rich.pk)
    with django_assert_num_queries(3):  # tags, collaborators, the comment
        facts = facts_for(ticket=loaded, event=event, now=NOW)
    assert (facts.tag_names, facts.has_collaborators, facts.comment_text) == (
        frozenset({"vip", "refund"}),
        True,
        "Please refund",
    )
    assert (facts.actor, facts.event_name, facts.event_data["public"]) == (
        "customer",
        events.COMMENT_ADDED,
        True,
    )
    with django_assert_num_queries(0):  # the ticket's fields are loaded
        matcher = compile_conditions(
            all_of(
                cond(Field.REQUESTER_DOMAIN, Op.IS, ["nw.test"]),
                cond(Field.TEAM, Op.IS, [world.billing.pk]),
                cond(Field.COMMENT_TEXT, Op.CONTAINS_ANY, ["refund"]),
            )
        )
        assert matcher.matches(facts) is True


def test_a_new_tickets_comment_text_is_its_first_message(in_acme):
    ticket = make_ticket(in_acme.org, subject="Hello", body="My invoice is wrong")
    comment_create(ticket=ticket, body_text="later words", author_user=in_acme.agent)
    created = events.DomainEvent(events.TICKET_CREATED, in_acme.org.pk, ticket.pk, None, {})
    assert facts_of(ticket, created).comment_text == "My invoice is wrong"


@pytest.mark.parametrize("count", [1, 20])
def test_facts_for_many_take_two_queries_whatever_their_number(
    in_acme, django_assert_num_queries, count
):
    tickets = [make_ticket(in_acme.org, email=f"c{i}@x.test") for i in range(count)]
    ticket_tags_add(ticket=tickets[-1], names=["Late"])
    loaded = list(
        Ticket.objects.select_related(*TICKET_RELATED).filter(pk__in=[t.pk for t in tickets])
    )
    with django_assert_num_queries(2):
        many = facts_for_many(loaded, now=NOW)
    by_id = {f.ticket.pk: f for f in many}
    assert by_id[tickets[-1].pk].tag_names == frozenset({"late"})
    assert [by_id[t.pk].actor for t in tickets] == ["system"] * count
    # The lookups are shared: the ranks are asked once for all of them.
    normal = Priority.objects.get(name="Normal").pk
    at_least = compile_conditions(all_of(cond(Field.PRIORITY, Op.AT_LEAST, [normal])))
    with django_assert_num_queries(1):
        assert [at_least.matches(f) for f in many] == [True] * count


def test_refreshed_facts_see_the_rules_change_and_keep_the_event(world, django_assert_num_queries):
    event = comment_event(world.plain, "refund please")
    facts = facts_of(world.plain, event)
    ticket_tags_add(ticket=world.plain, names=["Refund"])
    with django_assert_num_queries(2):
        again = refreshed(facts, ticket=facts.ticket)
    assert (again.tag_names, again.comment_text, again.actor, again.event_name) == (
        frozenset({"refund"}),
        "refund please",
        "customer",
        events.COMMENT_ADDED,
    )


# -- the actor of each kind of event ---------------------------------------------------------


def test_actor_of_each_kind_of_event(in_acme, heard, django_capture_on_commit_callbacks):
    agent = in_acme.agent
    with django_capture_on_commit_callbacks(execute=True):
        by_mail = make_ticket(in_acme.org, source="email")
        by_agent = make_ticket(in_acme.org, email="d@x.test", source="agent", actor_user=agent)
        comment_create(ticket=by_mail, body_text="more", author_contact=by_mail.requester)
        comment_create(ticket=by_mail, body_text="reply", author_user=agent)
        comment_create(ticket=by_mail, body_text="note", is_public=False, author_user=agent)
        ticket_change_status(
            ticket=by_mail, status=Status.objects.get(name="Pending"), actor_user=agent
        )
        # The customer's reply reopens the pending ticket: the customer's change.
        comment_create(ticket=by_mail, body_text="still broken", author_contact=by_mail.requester)
        ticket_change_priority(
            ticket=by_agent, priority=Priority.objects.get(name="High"), actor_user=agent
        )
        ticket_assign(ticket=by_agent, assignee=agent, actor_user=agent)
        ticket_change_status(ticket=by_agent, status=Status.objects.get(name="Open"))
        rule = causes.Cause(causes.AUTOMATION, "Escalate", "run1", "origin1", 1, 7)
        with causes.acting(rule):
            ticket_change_priority(ticket=by_agent, priority=Priority.objects.get(name="Urgent"))
        macro = causes.Cause(causes.MACRO, "Refund", "run2")
        with causes.acting(macro):
            ticket_assign(ticket=by_agent, assignee=None, actor_user=agent)
    assert [(e.name, actor_of(e)) for e in heard] == [
        (events.TICKET_CREATED, "customer"),
        (events.TICKET_CREATED, "agent"),
        (events.COMMENT_ADDED, "customer"),
        (events.COMMENT_ADDED, "agent"),
        (events.COMMENT_ADDED, "agent"),
        (events.STATUS_CHANGED, "agent"),
        (events.STATUS_CHANGED, "customer"),
        (events.COMMENT_ADDED, "customer"),
        (events.PRIORITY_CHANGED, "agent"),
        (events.ASSIGNED, "agent"),
        (events.STATUS_CHANGED, "system"),  # no one acted (a service call without an actor)
        (events.PRIORITY_CHANGED, "automation"),
        (events.ASSIGNED, "agent"),  # a macro is the agent's doing
    ]
    assert actor_of(None) == "system"  # a time rule


def test_actor_of_sla_events_is_the_system(acme, heard, django_capture_on_commit_callbacks):
    with acme.scope(), time_machine.travel(berlin("2026-05-26 10:00"), tick=False):
        policy(acme.org, first_response_minutes=10, resolution_minutes=None, warn_percent=50)
        make_ticket(acme.org)
    heard.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sla_scan(now=berlin("2026-05-26 10:05"))
        sla_scan(now=berlin("2026-05-26 10:11"))
    assert [(e.name, e.data["target"], actor_of(e)) for e in heard] == [
        (events.SLA_WARNING, "first_response", "system"),
        (events.SLA_BREACHED, "first_response", "system"),
    ]


# -- business hours --------------------------------------------------------------------------


@pytest.fixture
def office(in_acme):
    """acme's default calendar: Berlin, Monday to Friday 9 to 17, Whit Monday off."""
    row = calendar(in_acme.org)
    Calendar.objects.filter(pk=row.pk).update(is_default=True)
    return row


WITHIN = all_of(cond(Field.BUSINESS_HOURS, Op.WITHIN))
OUTSIDE = all_of(cond(Field.BUSINESS_HOURS, Op.OUTSIDE))


@pytest.mark.parametrize(
    ("when", "within"),
    [
        ("2026-05-22 10:00", True),  # Friday morning
        ("2026-05-22 16:59", True),
        ("2026-05-22 17:00", False),  # closing time
        ("2026-05-22 08:59", False),
        ("2026-05-23 11:00", False),  # Saturday
        ("2026-05-25 11:00", False),  # Whit Monday, a holiday
        ("2026-05-26 09:00", True),
    ],
)
def test_business_hours_of_the_default_calendar(world, office, when, within):
    facts = facts_of(world.plain, now=berlin(when))
    assert compile_conditions(WITHIN).matches(facts) is within
    assert compile_conditions(OUTSIDE).matches(facts) is (not within)


def test_without_a_default_calendar_it_is_always_business_hours(world, in_acme):
    calendar(in_acme.org, name="Not the default")  # only the default one counts
    facts = facts_of(world.plain, now=berlin("2026-05-23 03:00"))
    assert compile_conditions(WITHIN).matches(facts) is True
    assert compile_conditions(OUTSIDE).matches(facts) is False


def test_the_calendar_is_asked_once_and_only_when_a_rule_needs_it(
    world, office, django_assert_num_queries
):
    facts = facts_of(world.plain, now=berlin("2026-05-22 10:00"))
    with django_assert_num_queries(0):
        assert compile_conditions(all_of(cond(Field.SOURCE, Op.IS, ["email"]))).matches(facts)
    with django_assert_num_queries(2):  # the calendar and its holidays
        assert compile_conditions(WITHIN).matches(facts) is True
    with django_assert_num_queries(0):
        assert compile_conditions(OUTSIDE).matches(facts) is False


def test_another_tenants_default_calendar_does_not_count(world, globex):
    with globex.scope():
        other = calendar(globex.org, weekly={})  # never open
        Calendar.objects.filter(pk=other.pk).update(is_default=True)
    facts = facts_of(world.plain, now=berlin("2026-05-23 03:00"))
    assert compile_conditions(WITHIN).matches(facts) is True
