"""The SLA breach scan on PostgreSQL: 1,000,000 open timers across 10 tenants, 1,000 of them
due; p95 of one scan run (all ten tenants) and its query count, which must equal the count at
10,000 timers. bench/sla.py calls `bench_scan()`; run alone:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_bench \
    .venv/bin/python bench/sla_scan.py

Data is built once with INSERT ... SELECT generate_series and reused (`--fresh` rebuilds).
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TENANTS = 10
DUE_PER_TENANT = 100
RUNS = 30


def _build(prefix: str, per_tenant: int, fresh: bool) -> list:
    from django.db import connection
    from django_scopes import scopes_disabled

    from tenants import services as tenant_services
    from tenants.models import Organization

    with scopes_disabled():  # the benchmark builds its tenants' data directly
        if fresh:
            Organization.objects.filter(slug__startswith=prefix).delete()
        orgs = list(Organization.objects.filter(slug__startswith=prefix).order_by("pk"))
        if len(orgs) == TENANTS and all(o.last_ticket_number == per_tenant for o in orgs):
            return orgs
        Organization.objects.filter(slug__startswith=prefix).delete()
    started = time.perf_counter()
    orgs = []
    for i in range(TENANTS):
        org = tenant_services.organization_create(slug=f"{prefix}{i}", name=f"{prefix} {i}")
        with connection.cursor() as cur:
            _fill(cur, org.pk, per_tenant)
        org.last_ticket_number = per_tenant
        orgs.append(org)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"data: {TENANTS * per_tenant:,} timers built in {time.perf_counter() - started:.0f} s")
    return orgs


def _fill(cur, org_id: int, n: int) -> None:
    cur.execute(
        """INSERT INTO tickets_contact (organization_id, email, name, undeliverable,
               undeliverable_reason, notes, created_at)
           VALUES (%s, 'bench@customer.test', 'Bench', false, '', '', now())""",
        [org_id],
    )
    cur.execute(
        """INSERT INTO sla_calendar (organization_id, name, timezone, weekly, is_default,
               created_at)
           VALUES (%s, 'Office', 'UTC', '{"0": [["00:00", "24:00"]]}', true, now())""",
        [org_id],
    )
    cur.execute(
        """INSERT INTO sla_policy (organization_id, name, "order", calendar_id, priority_ids,
               customer_ids, team_ids, sources, customer_domains, resolution_minutes, created_at)
           SELECT %s, 'Standard', 1, id, '[]', '[]', '[]', '[]', '[]', 480, now()
           FROM sla_calendar WHERE organization_id = %s""",
        [org_id, org_id],
    )
    cur.execute(
        """WITH st AS (SELECT id, category FROM tickets_status WHERE organization_id = %(org)s
                       AND category = 'open' LIMIT 1),
                pr AS (SELECT id FROM tickets_priority WHERE organization_id = %(org)s LIMIT 1),
                ct AS (SELECT id FROM tickets_contact WHERE organization_id = %(org)s)
           INSERT INTO tickets_ticket (organization_id, number, subject, status_id,
               status_category, priority_id, requester_id, source, last_message_preview,
               created_at, updated_at, last_activity_at, first_response_at)
           SELECT %(org)s, g, 'Ticket ' || g, st.id, st.category, pr.id, ct.id, 'email', '',
                  now(), now(), now(), now()
           FROM generate_series(1, %(n)s) g, st, pr, ct""",
        {"org": org_id, "n": n},
    )
    # One resolution timer per ticket: the first DUE_PER_TENANT are past due, the rest due
    # ten years ahead (their warnings too), so the data stays reusable.
    cur.execute(
        """INSERT INTO sla_ticketsla (organization_id, ticket_id, policy_id, target, started_at,
               due_at, warn_at, paused_seconds, spent_seconds)
           SELECT t.organization_id, t.id, p.id, 'resolution', now() - interval '1 day',
                  CASE WHEN t.number <= %(due)s THEN now() - interval '1 minute'
                       ELSE now() + interval '10 years' + (t.number || ' seconds')::interval END,
                  CASE WHEN t.number <= %(due)s THEN NULL
                       ELSE now() + interval '10 years' + (t.number || ' seconds')::interval
                            - interval '1 hour' END,
                  0, 0
           FROM tickets_ticket t JOIN sla_policy p ON p.organization_id = t.organization_id
           WHERE t.organization_id = %(org)s""",
        {"org": org_id, "due": DUE_PER_TENANT},
    )
    cur.execute(
        "UPDATE tenants_organization SET last_ticket_number = %s WHERE id = %s", [n, org_id]
    )


def _measure(orgs, runs: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from sla.services.scan import sla_scan

    ids = [o.pk for o in orgs]
    timings, queries = [], 0
    for _ in range(runs):
        with connection.cursor() as cur:  # the same 1,000 due again for each run
            cur.execute(
                """UPDATE sla_ticketsla SET breached_at = NULL, warned_at = NULL
                   WHERE organization_id = ANY(%s)
                     AND (breached_at IS NOT NULL OR warned_at IS NOT NULL)""",
                [ids],
            )
            cur.execute("DELETE FROM tickets_ticketevent WHERE organization_id = ANY(%s)", [ids])
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            done = sla_scan(now=timezone.now(), organizations=orgs)
            timings.append((time.perf_counter() - started) * 1000)
        assert done.breached == TENANTS * DUE_PER_TENANT, done
        queries = len(captured.captured_queries)
    p95 = statistics.quantiles(timings, n=20)[-1]
    return p95, queries


def bench_scan(fresh: bool = False) -> tuple[float, int]:
    """(p95 ms of one scan run at 1,000,000 timers, its queries); checks the query count is
    the same at 10,000 timers."""
    import django

    django.setup()
    from tickets import events

    small = _build("slasmall", 1_000, fresh)
    large = _build("slabench", 100_000, fresh)
    with events.muted():  # the scan's events would queue mail: not what is measured
        small_p95, small_queries = _measure(small, 10)
        p95, queries = _measure(large, RUNS)
    print(f"scan: 10,000 timers p95 {small_p95:.1f} ms, {small_queries} queries")
    print(f"scan: 1,000,000 timers p95 {p95:.1f} ms, {queries} queries (1,000 due)")
    assert queries == small_queries, (queries, small_queries)
    return p95, queries


def prepare(url: str) -> None:
    """The database exists and is migrated."""
    from bench.ticket_list import ensure_database

    ensure_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


if __name__ == "__main__":
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("bench/sla_scan.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    prepare(url)
    bench_scan(fresh="--fresh" in sys.argv)
