"""On PostgreSQL, two workers handling two events of one ticket at once (its creation and a
customer's reply, each with a round-robin rule) never assign it twice: the engine holds the
ticket's lock while its rules run, so the second sees the first's assignee and uses no turn."""

import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from automations import rules_cache
from automations.models import RoundRobinPointer, Rule
from automations.services.run import automations_handle_event
from tenants import services as tenant_services
from tests.factories import make_ticket
from tickets import events
from tickets.models import Ticket, TicketEvent

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def _team(acme, names):
    users = []
    for name in names:
        user = tenant_services.user_get_or_create(email=f"{name}@acme.test", name=name)
        tenant_services.membership_add(organization=acme.org, user=user, role="agent")
        users.append(user)
    return tenant_services.team_create(organization=acme.org, name="Billing", members=users)


def _rule(acme, name, trigger, team):
    Rule.objects.create(
        organization=acme.org,
        name=name,
        trigger=trigger,
        position=Rule.objects.count(),
        actions=[{"type": "assign", "mode": "round_robin", "team_id": team.pk}],
    )
    rules_cache.bump(acme.org.pk)


def test_two_workers_on_two_events_of_one_ticket_assign_it_once(acme):
    with acme.scope():
        tickets = [make_ticket(acme.org, subject=f"T{i}", email=f"c{i}@x.test") for i in range(8)]
        team = _team(acme, ["ann", "bob", "cid", "dee"])
        _rule(acme, "Route new", "ticket_created", team)
        _rule(acme, "Route replies", "comment_added", team)
    jobs = []
    for ticket in tickets:
        created = events.DomainEvent(
            events.TICKET_CREATED, acme.org.pk, ticket.pk, None, {"source": "email"}
        )
        reply = events.DomainEvent(
            events.COMMENT_ADDED,
            acme.org.pk,
            ticket.pk,
            None,
            {"comment_id": None, "public": True, "by_contact": True},
        )
        jobs += [(created, f"c{ticket.pk}"), (reply, f"r{ticket.pk}")]
    start, errors = threading.Barrier(len(jobs)), []

    def worker(event, origin):
        try:
            start.wait(timeout=20)
            with acme.scope():
                automations_handle_event(
                    organization=acme.org,
                    event=event,
                    origin=origin,
                    depth=0,
                    event_at=datetime.now(UTC),
                )
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with acme.scope():
        assigned = TicketEvent.objects.filter(kind=TicketEvent.Kind.ASSIGNEE)
        per_ticket = Counter(assigned.values_list("ticket_id", flat=True))
        assert per_ticket == dict.fromkeys((t.pk for t in tickets), 1)  # once each, never twice
        names = Ticket.objects.filter(pk__in=[t.pk for t in tickets])
        assert Counter(names.values_list("assignee__name", flat=True)) == dict.fromkeys(
            ["ann", "bob", "cid", "dee"], 2
        )  # eight turns used, two each: the second event of a ticket used none
        assert RoundRobinPointer.objects.get(team=team).last_user.name in {
            "ann",
            "bob",
            "cid",
            "dee",
        }
