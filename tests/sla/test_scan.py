"""The scan: what it claims (through the indexes, per tenant), what it marks and emits (once),
and two workers at once on PostgreSQL."""

import threading
from collections import Counter

import pytest
import time_machine
from django.db import connection, connections

from sla.models import TicketSLA
from sla.services.scan import sla_scan
from tests.factories import make_ticket
from tests.sla.helpers import berlin, policy
from tickets import events
from tickets.models import TicketEvent

pytestmark = pytest.mark.django_db(transaction=True)


def heard(names):
    got = []

    def listen(event):
        got.append((event.name, event.organization_id, event.ticket_id, event.data["target"]))

    for name in names:
        events.subscribe(name, listen)
    return got, lambda: [events.unsubscribe(n, listen) for n in names]


@pytest.fixture
def overdue(acme, globex):
    """Five acme tickets and two globex tickets whose first response (10 min) is past due."""
    made = {}
    for tenant, count in ((acme, 5), (globex, 2)):
        with tenant.scope(), time_machine.travel(berlin("2026-05-26 10:00"), tick=False):
            policy(tenant.org, first_response_minutes=10, resolution_minutes=None, warn_percent=50)
            made[tenant.org.slug] = [
                make_ticket(tenant.org, email=f"c{i}@x.test") for i in range(count)
            ]
    return made


def test_scan_marks_and_emits_each_breach_once_in_its_tenant(overdue, acme):
    got, stop = heard([events.SLA_BREACHED, events.SLA_WARNING])
    try:
        first = sla_scan(now=berlin("2026-05-26 10:05"))
        second = sla_scan(now=berlin("2026-05-26 10:10"))
        third = sla_scan(now=berlin("2026-05-26 10:11"))
    finally:
        stop()
    assert [(s.warned, s.breached) for s in (first, second, third)] == [(7, 0), (0, 7), (0, 0)]
    assert Counter(name for name, *_ in got) == {"sla.warning": 7, "sla.breached": 7}
    acme_ids = {t.pk for t in overdue["acme"]}
    assert {(org, tid in acme_ids) for _, org, tid, _ in got} == {
        (acme.org.pk, True),
        (overdue["globex"][0].organization_id, False),
    }
    # The timeline rows (COPY on PostgreSQL, bulk_create elsewhere), in the ticket's tenant.
    with acme.scope():
        rows = TicketEvent.objects.filter(
            kind=TicketEvent.Kind.SLA, data__action__in=["warned", "breached"]
        )
        written = sorted((r.ticket_id, r.data["action"], r.data["text"]) for r in rows)
    assert written == sorted(
        [(t.pk, "warned", "first response warning") for t in overdue["acme"]]
        + [(t.pk, "breached", "first response breached") for t in overdue["acme"]]
    )


def test_a_paused_or_stopped_timer_is_not_claimed(overdue, acme):
    with acme.scope():
        TicketSLA.objects.filter(ticket=overdue["acme"][0]).update(
            paused_since=berlin("2026-05-26 10:01")
        )
        TicketSLA.objects.filter(ticket=overdue["acme"][1]).update(
            stopped_at=berlin("2026-05-26 10:02")
        )
    assert sla_scan(now=berlin("2026-05-26 10:20")).breached == 5


def test_a_timer_past_both_times_is_only_breached(overdue):
    assert (lambda s: (s.breached, s.warned))(sla_scan(now=berlin("2026-05-26 11:00"))) == (7, 0)


def test_the_scan_reads_through_the_due_index(acme, overdue):
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    with acme.scope(), connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("ANALYZE sla_ticketsla")  # the planner sees how few timers are due
        query = TicketSLA.objects.filter(
            stopped_at__isnull=True,
            breached_at__isnull=True,
            paused_since__isnull=True,
            due_at__lte=berlin("2026-05-26 11:00"),
        ).order_by("due_at", "id")
        assert "sla_ticketsla_due" in query.explain()


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_workers_at_once_breach_each_timer_exactly_once(acme):
    with acme.scope(), time_machine.travel(berlin("2026-05-26 10:00"), tick=False):
        policy(acme.org, first_response_minutes=10, resolution_minutes=None, warn_percent=None)
        for i in range(60):
            make_ticket(acme.org, email=f"c{i}@x.test")
    got, stop = heard([events.SLA_BREACHED])
    start, results, errors = threading.Barrier(2), [None, None], []

    def work(i):
        try:
            start.wait()
            results[i] = sla_scan(now=berlin("2026-05-26 10:30"), limit=7).breached
            while True:  # each worker goes on until nothing is left for it
                more = sla_scan(now=berlin("2026-05-26 10:30"), limit=7).breached
                if not more:
                    break
                results[i] += more
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        stop()
    assert errors == []
    assert sum(results) == 60
    assert sorted(tid for _, _, tid, _ in got) == sorted({tid for _, _, tid, _ in got})
    assert len(got) == 60
