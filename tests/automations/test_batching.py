"""Gathered events (automations.batching): arrivals while a task of the tenant is waiting wait
in its list and run in one task, in order, with their tickets and facts read together; a task
run again after its worker died runs the same events without repeating a rule; without Redis
each event is a task of its own; the tasks never mix tenants."""

import json

import pytest
from django.conf import settings

from automations import batching
from automations.models import RuleRun
from automations.tasks import handle_events
from tests.automations.test_engine import make_rule, runs_of, tag, tags_of
from tests.factories import make_ticket
from tickets.services.comments import comment_create

needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="gathering lives in Redis")


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    def run(change, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return change(*args, **kwargs)

    return run


def _hold(org) -> None:
    """As if a task of the tenant were waiting in the queue: arrivals only join the list."""
    batching._redis().set(batching._waiting_key(org.pk), 1, ex=60)


def _waiting(org) -> int:
    return batching._redis().llen(batching._list_key(org.pk))


@needs_redis
def test_events_that_arrive_while_a_task_waits_run_in_that_one_task_in_order(
    in_acme, django_capture_on_commit_callbacks
):
    org = in_acme.org
    make_rule(org, "Tag new", "ticket_created", [tag("new")])
    make_rule(
        org,
        "Tagged, then replied",
        "comment_added",
        [tag("followed-up")],
        conditions={"all": [{"field": "tags", "op": "has_any", "value": ["new"]}]},
    )
    _hold(org)
    with django_capture_on_commit_callbacks(execute=True):
        first = make_ticket(org, subject="One", email="a@x.test")
    with django_capture_on_commit_callbacks(execute=True):
        second = make_ticket(org, subject="Two", email="b@x.test")
    with django_capture_on_commit_callbacks(execute=True):
        comment_create(ticket=first, body_text="More", author_user=in_acme.agent)
    assert _waiting(org) == 3
    assert RuleRun.objects.count() == 0

    assert handle_events.apply(kwargs={"organization_id": org.pk}).get() == 3

    # The reply's rule saw the tag the first event's rule gave the same ticket in this batch.
    assert runs_of(first) == [
        ("Tag new", "ticket.created", 0, "applied"),
        ("Tagged, then replied", "comment.added", 0, "applied"),
    ]
    assert runs_of(second) == [("Tag new", "ticket.created", 0, "applied")]
    assert tags_of(first) == ["followed-up", "new"]
    assert _waiting(org) == 0


@needs_redis
def test_an_arrival_with_no_task_waiting_queues_one_that_runs_it(in_acme, after_commit):
    org = in_acme.org
    make_rule(org, "Tag new", "ticket_created", [tag("new")])
    ticket = after_commit(make_ticket, org, subject="One", email="a@x.test")
    assert tags_of(ticket) == ["new"]
    assert _waiting(org) == 0
    assert not batching._redis().exists(batching._waiting_key(org.pk))


@needs_redis
def test_a_task_run_again_after_its_worker_died_repeats_no_rule(
    in_acme, django_capture_on_commit_callbacks
):
    org = in_acme.org
    make_rule(org, "Tag new", "ticket_created", [tag("new")])
    _hold(org)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(org, subject="One", email="a@x.test")
    items, replay, more = batching.take(org.pk, "task-1")
    assert (len(items), replay, more) == (1, False, False)
    # The worker ran them and died before it could say so: the events are still the task's.
    assert handle_events.apply(kwargs={"organization_id": org.pk}, task_id="task-1").get() == 1
    assert handle_events.apply(kwargs={"organization_id": org.pk}).get() == 0  # nothing left

    _hold(org)
    with django_capture_on_commit_callbacks(execute=True):
        other = make_ticket(org, subject="Two", email="b@x.test")
    batching.take(org.pk, "task-2")
    handle_events.apply(kwargs={"organization_id": org.pk}, task_id="task-2")
    batching._redis().rpush(  # redelivered: its list again, as the dead worker left it
        batching._taken_key(org.pk, "task-2"), *_payloads(org, other)
    )
    assert handle_events.apply(kwargs={"organization_id": org.pk}, task_id="task-2").get() == 0
    assert runs_of(ticket) == [("Tag new", "ticket.created", 0, "applied")]
    assert runs_of(other) == [("Tag new", "ticket.created", 0, "applied")]
    assert tags_of(other) == ["new"]


def _payloads(org, ticket) -> list[str]:
    run = RuleRun.objects.get(ticket=ticket)
    return [
        json.dumps(
            {
                "name": "ticket.created",
                "ticket_id": ticket.pk,
                "actor_user_id": None,
                "data": {"source": "email", "by_contact": True},
                "cause": None,
                "origin": run.origin,
                "depth": 0,
                "event_at": run.event_at.isoformat(),
            }
        )
    ]


@needs_redis
def test_a_full_batch_leaves_the_rest_to_the_next_task(
    in_acme, django_capture_on_commit_callbacks, monkeypatch
):
    org = in_acme.org
    make_rule(org, "Tag new", "ticket_created", [tag("new")])
    monkeypatch.setattr(batching, "BATCH_SIZE", 2)
    _hold(org)
    tickets = []
    for n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            tickets.append(make_ticket(org, subject=f"T{n}", email=f"c{n}@x.test"))
    assert _waiting(org) == 5
    # In process the next task runs after this one (a worker queues it before it starts).
    handle_events.apply(kwargs={"organization_id": org.pk})
    assert _waiting(org) == 0
    assert [tags_of(t) for t in tickets] == [["new"]] * 5


def test_without_redis_each_event_is_a_task_of_its_own(in_acme, after_commit, settings):
    org = in_acme.org
    make_rule(org, "Tag new", "ticket_created", [tag("new")])
    settings.REDIS_URL = ""
    ticket = after_commit(make_ticket, org, subject="One", email="a@x.test")
    assert tags_of(ticket) == ["new"]
    assert runs_of(ticket) == [("Tag new", "ticket.created", 0, "applied")]


@needs_redis
def test_two_tenants_gather_apart(in_acme, globex, django_capture_on_commit_callbacks):
    make_rule(in_acme.org, "Tag new", "ticket_created", [tag("acme")])
    with globex.scope():
        make_rule(globex.org, "Tag new", "ticket_created", [tag("globex")])
    _hold(in_acme.org)
    _hold(globex.org)
    with django_capture_on_commit_callbacks(execute=True):
        mine = make_ticket(in_acme.org, subject="One", email="a@x.test")
    with globex.scope(), django_capture_on_commit_callbacks(execute=True):
        theirs = make_ticket(globex.org, subject="One", email="a@x.test")
    handle_events.apply(kwargs={"organization_id": in_acme.org.pk})
    assert tags_of(mine) == ["acme"]
    assert _waiting(globex.org) == 1
    with globex.scope():
        assert RuleRun.objects.count() == 0
    handle_events.apply(kwargs={"organization_id": globex.org.pk})
    with globex.scope():
        assert tags_of(theirs) == ["globex"]
        assert RuleRun.objects.count() == 1
