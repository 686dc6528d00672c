"""The time rules' scan of bench/automations.py: 1,000,000 open tickets over 10 tenants (INSERT
... SELECT generate_series, built once and reused; `fresh` rebuilds), three time rules per
tenant (pending for 72 hours, 48 hours since the customer's last message, 30 days since
created), 1,000 tickets due. One scan run is timed with every cursor reset (a first run, the
most it reads); its query count must equal the count at 10,000 tickets."""

import statistics
import time

QUEUE = "bench-automations"

SCAN_TENANTS = 10
DUE_PENDING = 50  # per tenant: pending for 80 hours (the 72-hour rule is due)
DUE_CUSTOMER = 50  # per tenant: the customer wrote 50 hours ago (the 48-hour rule is due)
SCAN_RUNS = 20


def _scan_tenants(prefix: str, per_tenant: int, fresh: bool) -> list:
    from django.db import connection
    from django_scopes import scopes_disabled

    from tenants import services as tenant_services
    from tenants.models import Organization

    with scopes_disabled():  # the benchmark's own tenants, built directly
        orgs = list(Organization.objects.filter(slug__startswith=prefix).order_by("pk"))
        if (
            not fresh
            and len(orgs) == SCAN_TENANTS
            and all(o.last_ticket_number == per_tenant for o in orgs)
        ):
            return orgs
        from tickets.models import Ticket

        Ticket.objects.filter(organization__slug__startswith=prefix).delete()
        Organization.objects.filter(slug__startswith=prefix).delete()
    started = time.perf_counter()
    orgs = []
    for i in range(SCAN_TENANTS):
        org = tenant_services.organization_create(slug=f"{prefix}{i}", name=f"{prefix} {i}")
        with connection.cursor() as cur:  # bench data: generate_series has no ORM form
            _fill(cur, org.pk, per_tenant)
        org.last_ticket_number = per_tenant
        orgs.append(org)
        _scan_rules(org)
    with connection.cursor() as cur:
        cur.execute("ANALYZE tickets_ticket")
    took = time.perf_counter() - started
    print(f"data: {SCAN_TENANTS * per_tenant:,} tickets built in {took:.0f} s")
    return orgs


def _fill(cur, org_id: int, n: int) -> None:
    cur.execute(
        """INSERT INTO tickets_contact (organization_id, email, name, undeliverable,
               undeliverable_reason, notes, mail_replies, created_at)
           VALUES (%s, 'bench@customer.test', 'Bench', false, '', '', true, now())""",
        [org_id],
    )
    # Half pending, half open; the first DUE_PENDING pending for 80 hours, the next
    # DUE_CUSTOMER with the customer's last message 50 hours ago; everything else within the
    # last hours (created two hours ago).
    cur.execute(
        """WITH pending AS (SELECT id FROM tickets_status WHERE organization_id = %(org)s
                            AND name = 'Pending'),
                opened AS (SELECT id FROM tickets_status WHERE organization_id = %(org)s
                           AND name = 'Open'),
                pr AS (SELECT id FROM tickets_priority WHERE organization_id = %(org)s LIMIT 1),
                ct AS (SELECT id FROM tickets_contact WHERE organization_id = %(org)s)
           INSERT INTO tickets_ticket (organization_id, number, subject, status_id,
               status_category, priority_id, requester_id, source, last_message_preview,
               created_at, updated_at, last_activity_at, status_changed_at,
               last_customer_message_at)
           SELECT %(org)s, g, 'Ticket ' || g,
                  CASE WHEN g %% 2 = 1 THEN pending.id ELSE opened.id END,
                  CASE WHEN g %% 2 = 1 THEN 'pending' ELSE 'open' END,
                  pr.id, ct.id, 'email', '',
                  now() - interval '100 hours', now(), now(),
                  CASE WHEN g %% 2 = 1 AND g <= 2 * %(due_p)s THEN now() - interval '80 hours'
                       ELSE now() - interval '1 hour' - (g || ' milliseconds')::interval END,
                  CASE WHEN g > 2 * %(due_p)s AND g <= 2 * %(due_p)s + %(due_c)s
                       THEN now() - interval '50 hours'
                       ELSE now() - interval '1 hour' - (g || ' milliseconds')::interval END
           FROM generate_series(1, %(n)s) g, pending, opened, pr, ct""",
        {"org": org_id, "n": n, "due_p": DUE_PENDING, "due_c": DUE_CUSTOMER},
    )
    cur.execute(
        "UPDATE tenants_organization SET last_ticket_number = %s WHERE id = %s", [n, org_id]
    )


def _scan_rules(org) -> None:
    from automations.models import Rule
    from tenants.scoping import tenant_scope
    from tickets.models import Status

    with tenant_scope(org):
        pending = Status.objects.get(name="Pending")
        nudge = [{"type": "add_note", "body": "Reminder."}]
        Rule.objects.bulk_create(
            [
                Rule(
                    organization=org,
                    name="Pending 72h",
                    trigger="hours_in_status",
                    actions=nudge,
                    trigger_options={"hours": 72, "status_id": pending.pk},
                    position=0,
                ),
                Rule(
                    organization=org,
                    name="Customer waits 48h",
                    trigger="hours_since_customer",
                    trigger_options={"hours": 48},
                    actions=nudge,
                    position=1,
                ),
                Rule(
                    organization=org,
                    name="Old 30 days",
                    trigger="hours_since_created",
                    trigger_options={"hours": 720},
                    actions=nudge,
                    position=2,
                ),
            ]
        )


def _measure_scan(orgs, runs: int) -> tuple[float, float, int]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from django_scopes import scopes_disabled

    from automations.models import Rule
    from automations.services.scan import automations_time_scan
    from config.celery import app

    ids = [o.pk for o in orgs]
    timings, queries = [], 0
    due = len(orgs) * (DUE_PENDING + DUE_CUSTOMER)
    for _ in range(runs):
        with scopes_disabled():  # every bench rule starts again from the beginning
            Rule.objects.filter(organization_id__in=ids).update(
                time_cursor_at=None, time_cursor_id=0
            )
        reset_queries()  # with DEBUG on, a full query log would leave nothing to capture
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            done = automations_time_scan(now=timezone.now())
            timings.append((time.perf_counter() - started) * 1000)
        queries = len(captured.captured_queries)
        assert queries > 0, "no query captured"
        assert done.due == due, (done, due)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(QUEUE)  # the batches it queued: not measured
    return statistics.quantiles(timings, n=20)[-1], statistics.median(timings), queries


def bench_scan(*, fresh: bool) -> float:
    """(ms) p95 of one scan run at 1,000,000 tickets; checks the query count at 10,000."""
    from django_scopes import scopes_disabled

    from config.celery import app

    app.conf.task_default_queue = QUEUE
    app.conf.task_always_eager = False
    small = _scan_tenants("smallscan", 1_000, fresh)
    large = _scan_tenants("autoscan", 100_000, fresh)
    with scopes_disabled():  # the bench's time rules, in its own database
        _only_enabled(small)
        small_p95, _, small_queries = _measure_scan(small, 5)
        _only_enabled(large)
        p95, median, queries = _measure_scan(large, SCAN_RUNS)
    print(f"time scan: 10,000 tickets p95 {small_p95:.1f} ms, {small_queries} queries")
    print(
        f"time scan: 1,000,000 tickets, 1,000 due, 30 rules: p95 {p95:.1f} ms, median "
        f"{median:.1f} ms, {queries} queries (target < 500 ms)"
    )
    assert queries == small_queries, (queries, small_queries)
    return p95


def _only_enabled(orgs) -> None:
    """These tenants' time rules are the only ones the scan sees."""
    from django.db.models import Case, Value, When

    from automations.models import TIME_TRIGGERS, Rule

    ids = [o.pk for o in orgs]
    Rule.objects.filter(trigger__in=TIME_TRIGGERS).update(
        enabled=Case(When(organization_id__in=ids, then=Value(True)), default=Value(False))
    )
