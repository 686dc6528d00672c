"""Round-robin and least-loaded within a team: fair turns, uneven loads evened out, away and
inactive agents and non-members skipped, each tenant's own; and, on PostgreSQL, two workers
handing out tickets of one team at once never give the same turn twice."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections, transaction

from automations import assignment
from automations.actions import execute
from automations.models import RoundRobinPointer
from tenants import services as tenant_services
from tenants.models import Membership, TeamMember
from tenants.scoping import tenant_scope
from tests.factories import make_ticket
from tickets import causes
from tickets.models import Status, Ticket, TicketEvent
from tickets.services.status_change import _set_status
from tickets.services.tickets import ticket_assign


def agents(tenant, *names: str):
    users = []
    for name in names:
        user = tenant_services.user_get_or_create(email=f"{name}@{tenant.org.slug}.test", name=name)
        tenant_services.membership_add(organization=tenant.org, user=user, role="agent")
        users.append(user)
    return users


def team_of(tenant, name, users, **kwargs):
    return tenant_services.team_create(organization=tenant.org, name=name, members=users, **kwargs)


def turns(pick, team, n: int) -> list[str]:
    picked = []
    for _ in range(n):
        with transaction.atomic():
            user = pick(team=team)
        picked.append(user.name if user else None)
    return picked


def test_round_robin_is_fair_across_100_tickets(in_acme):
    team = team_of(in_acme, "Billing", agents(in_acme, "ann", "bob", "cid", "dee"))
    picked = turns(assignment.round_robin, team, 100)
    assert Counter(picked) == {"ann": 25, "bob": 25, "cid": 25, "dee": 25}
    assert picked[:6] == ["ann", "bob", "cid", "dee", "ann", "bob"]


def test_round_robin_skips_away_inactive_and_non_members(in_acme):
    ann, bob, cid, dee = agents(in_acme, "ann", "bob", "cid", "dee")
    team = team_of(in_acme, "Billing", [ann, bob, cid, dee])
    Membership.objects.filter(user=bob).update(is_away=True)
    cid.is_active = False
    cid.save(update_fields=["is_active"])
    Membership.objects.filter(user=dee).delete()  # left the workspace; the team row remains
    assert turns(assignment.round_robin, team, 3) == ["ann", "ann", "ann"]
    Membership.objects.filter(user=bob).update(is_away=False)  # back: in the rotation again
    assert turns(assignment.round_robin, team, 3) == ["bob", "ann", "bob"]


def test_round_robin_wraps_past_a_member_who_left_the_team(in_acme):
    ann, bob, cid = agents(in_acme, "ann", "bob", "cid")
    team = team_of(in_acme, "Billing", [ann, bob, cid])
    assert turns(assignment.round_robin, team, 2) == ["ann", "bob"]
    TeamMember.objects.filter(user=bob).delete()
    # The pointer still names Bob: the turn goes on after him, to Cid, then wraps to Ann.
    assert turns(assignment.round_robin, team, 3) == ["cid", "ann", "cid"]


def test_nobody_available_gives_none(in_acme):
    (ann,) = agents(in_acme, "ann")
    empty = team_of(in_acme, "Empty", [])
    away = team_of(in_acme, "Away", [ann])
    Membership.objects.filter(user=ann).update(is_away=True)
    assert [assignment.round_robin(team=empty), assignment.least_loaded(team=away)] == [None, None]


def test_each_team_and_each_tenant_keeps_its_own_turn(acme, globex):
    with acme.scope():
        ann, bob = agents(acme, "ann", "bob")
        billing, sales = team_of(acme, "Billing", [ann, bob]), team_of(acme, "Sales", [ann, bob])
        assert turns(assignment.round_robin, billing, 1) == ["ann"]
        assert turns(assignment.round_robin, sales, 1) == ["ann"]
    with globex.scope():
        # The same two people are agents of globex too: its team starts at the beginning.
        for user in (ann, bob):
            tenant_services.membership_add(organization=globex.org, user=user, role="agent")
        theirs = team_of(globex, "Billing", [ann, bob])
        assert turns(assignment.round_robin, theirs, 1) == ["ann"]
        assert RoundRobinPointer.objects.count() == 1
    with acme.scope():
        assert turns(assignment.round_robin, billing, 1) == ["bob"]
        assert RoundRobinPointer.objects.count() == 2


def open_tickets(tenant, user, n: int, *, status_name: str | None = None):
    for i in range(n):
        ticket = make_ticket(tenant.org, subject=f"{user.name} {i}", email=f"c{i}@x.test")
        ticket_assign(ticket=ticket, assignee=user)
        if status_name:
            _set_status(ticket, Status.objects.get(name=status_name))


def test_least_loaded_picks_fewest_open_and_evens_out_uneven_loads(in_acme):
    ann, bob, cid, dee = agents(in_acme, "ann", "bob", "cid", "dee")
    team = team_of(in_acme, "Billing", [ann, bob, cid, dee])
    for user, load in ((ann, 3), (bob, 1), (cid, 0), (dee, 2)):
        open_tickets(in_acme, user, load)
    open_tickets(in_acme, cid, 5, status_name="Resolved")  # done tickets are no load
    picked = []
    for i in range(10):
        ticket = make_ticket(in_acme.org, subject=f"new {i}", email=f"n{i}@x.test")
        with transaction.atomic():
            user = assignment.least_loaded(team=team)
            ticket_assign(ticket=ticket, assignee=user)
        picked.append(user.name)
    # 6 open before, 16 after: 4 each. Equal loads take turns after the last one picked.
    assert picked == ["cid", "bob", "cid", "dee", "bob", "cid", "dee", "ann", "bob", "cid"]
    open_now = Ticket.objects.exclude(status_category__in=["resolved", "closed"])
    assert Counter(open_now.values_list("assignee__name", flat=True)) == {
        "ann": 4,
        "bob": 4,
        "cid": 4,
        "dee": 4,
    }


def test_least_loaded_counts_only_this_tenants_tickets(acme, globex):
    with acme.scope():
        ann, bob = agents(acme, "ann", "bob")
        team = team_of(acme, "Billing", [ann, bob])
        open_tickets(acme, bob, 1)
    with globex.scope():
        tenant_services.membership_add(organization=globex.org, user=ann, role="agent")
        open_tickets(globex, ann, 5)  # Ann is busy in globex; acme does not count that
    with acme.scope():
        assert assignment.least_loaded(team=team) == ann


def test_least_loaded_skips_away_members(in_acme):
    ann, bob = agents(in_acme, "ann", "bob")
    team = team_of(in_acme, "Billing", [ann, bob])
    open_tickets(in_acme, bob, 2)
    Membership.objects.filter(user=ann).update(is_away=True)
    assert turns(assignment.least_loaded, team, 2) == ["bob", "bob"]


def test_least_loaded_reads_the_loads_in_one_query(in_acme, django_assert_num_queries):
    users = agents(in_acme, *[f"a{i}" for i in range(8)])
    team = team_of(in_acme, "Billing", users)
    for user in users[:4]:
        open_tickets(in_acme, user, 1)
    # Find no pointer row, make it, lock it, read the members with their loads, move the
    # pointer (no savepoint: the caller's transaction holds the lock); once the row is there,
    # it is locked as it is read.
    with django_assert_num_queries(5):
        assert assignment.least_loaded(team=team) == users[4]
    with django_assert_num_queries(3):
        assert assignment.least_loaded(team=team) == users[5]


# -- two workers at once (PostgreSQL) ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_workers_assigning_round_robin_never_give_the_same_turn_twice(acme):
    with acme.scope():
        users = agents(acme, "ann", "bob", "cid", "dee")
        team = team_of(acme, "Billing", users)
        tickets = [make_ticket(acme.org, subject=f"T{i}", email=f"c{i}@x.test") for i in range(40)]
    action = {"type": "assign", "mode": "round_robin", "team_id": team.pk}
    start, errors = threading.Barrier(2), []

    def worker(mine: list[Ticket]) -> None:
        try:
            start.wait(timeout=10)
            with tenant_scope(acme.org):
                for ticket in mine:
                    cause = causes.Cause(causes.AUTOMATION, "Route", f"run-{ticket.pk}")
                    with transaction.atomic(), causes.acting(cause):
                        locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
                        assert execute(action, ticket=locked).outcome == "done"
                        # Hold the turn a moment: without the pointer's lock the other worker
                        # would read the same pointer now and give the same turn again.
                        time.sleep(0.01)
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(tickets[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with acme.scope():
        # The assignments in the order they were made (their rows are written under the lock).
        given = TicketEvent.objects.filter(kind=TicketEvent.Kind.ASSIGNEE).order_by("id")
        order = [e.data["to"] for e in given]
    assert order == ["ann", "bob", "cid", "dee"] * 10
