"""Two workers at once on PostgreSQL: every message goes out exactly once."""

import threading
from collections import Counter

import pytest
from django.db import connection, connections, transaction

from outbound_mail.models import OutgoingMessage
from outbound_mail.services.notify import notify_event
from outbound_mail.services.sending import outgoing_claim, outgoing_send_due
from tenants.scoping import tenant_scope
from tests.factories import make_ticket
from tests.outbound.conftest import T0, rows
from tickets import events

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]


def queue(tenant, tickets: int) -> None:
    with tenant.scope():
        for i in range(tickets):
            with events.muted():
                ticket = make_ticket(tenant.org, email=f"c{i}@customer.test")
            notify_event(
                organization=tenant.org,
                name=events.TICKET_CREATED,
                ticket_id=ticket.pk,
                actor_user_id=None,
                data={"by_contact": True},
                now=T0,
            )


def in_parallel(*works) -> list:
    """Run each function in its own thread, released together, each with its own connection."""
    n = len(works)
    start, results, errors = threading.Barrier(n), [None] * n, []

    def run(i):
        try:
            start.wait()
            results[i] = works[i]()
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    return results


def test_two_workers_never_send_a_message_twice(acme, mailer):
    queue(acme, 30)  # 90 messages: a confirmation and two agent alerts per ticket

    def worker():
        claimed = 0
        with tenant_scope(acme.org):
            while batch := outgoing_send_due(organization=acme.org, now=T0, limit=5):
                claimed += batch
        return claimed

    claims = in_parallel(worker, worker)
    received = mailer.wait_for(90)
    sent = rows(acme)
    assert (sum(claims), min(claims) > 0) == (90, True)
    assert len(received) == 90
    # An agent's Message-ID carries their token and is long enough for the generator to fold
    # the header before it (RFC 5322 2.2.3: folding white space is no part of the value).
    ids = [m.message["Message-ID"].strip() for m in received]
    assert Counter(ids).most_common(1)[0][1] == 1
    assert set(ids) == {f"<{r.message_id}>" for r in sent}
    assert {(r.status, r.attempts) for r in sent} == {("sent", 1)}


def test_a_claim_skips_rows_another_worker_holds(acme, mailer):
    """While one worker's claim transaction holds rows, another claims the rest without waiting."""
    queue(acme, 10)
    held, done = threading.Event(), threading.Event()

    def slow_claimer():
        with tenant_scope(acme.org), transaction.atomic():
            locked = OutgoingMessage.objects.select_for_update().order_by("id")[:12]
            ids = [r.pk for r in locked]
            held.set()
            done.wait(10)
        return ids

    def second_claimer():
        held.wait(10)
        try:
            with tenant_scope(acme.org):
                return [r.pk for r in outgoing_claim(now=T0, limit=100)[1]]
        finally:
            done.set()

    locked, claimed = in_parallel(slow_claimer, second_claimer)
    assert (set(locked) & set(claimed), len(claimed)) == (set(), 18)
