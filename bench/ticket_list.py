"""Agent ticket list and ticket page under load-sized data, through the full Django stack.

Creates (once; reused on later runs, `--fresh` rebuilds) 1,000,000 tickets across 10
organizations on PostgreSQL, 100,000 of them in the measured one with three comments and an event
each, then times the agent ticket list (default view, a filtered view, a page deep in the list, a
search) and the ticket page with Django's test client (middleware, URL routing, view, ORM,
templates), printing median and p95 in milliseconds and SQL queries per request.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_bench \
    REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/ticket_list.py [--requests 200]
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

ORGS = 10
PER_ORG = 100_000
CONTACTS = 5_000
WORDS = [
    "printer",
    "invoice",
    "login",
    "export",
    "refund",
    "vpn",
    "mobile",
    "billing",
    "sso",
    "upgrade",
    "crash",
    "slow",
    "password",
    "api",
    "webhook",
    "report",
]


def ensure_database(url: str) -> None:
    import psycopg

    dbname = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def build(fresh: bool) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django_scopes import scopes_disabled

    from tenants import services as tenant_services
    from tenants.models import Membership, Organization
    from tenants.scoping import tenant_scope

    call_command("migrate", verbosity=0)
    with scopes_disabled():  # the benchmark builds ten tenants' data at once
        if fresh:
            Organization.objects.filter(slug__startswith="bench").delete()
        if Organization.objects.filter(slug="bench0", last_ticket_number=PER_ORG).exists():
            print("data: reusing the existing 1,000,000 tickets (--fresh rebuilds)")
            return
        Organization.objects.filter(slug__startswith="bench").delete()
    started = time.perf_counter()
    agent = tenant_services.user_get_or_create(
        email="agent@bench.test", name="Bench Agent", password="bench"
    )
    for i in range(ORGS):
        org = tenant_services.organization_create(slug=f"bench{i}", name=f"Bench {i}")
        with tenant_scope(org):
            tenant_services.membership_add(organization=org, user=agent, role=Membership.AGENT)
            team = tenant_services.team_create(organization=org, name="Support", members=[agent])
        _fill(connection, org.pk, agent.pk, team.pk, comments=(i == 0))
        print(f"  org bench{i}: {PER_ORG:,} tickets ({time.perf_counter() - started:.0f} s)")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"data: built in {time.perf_counter() - started:.0f} s")


def _fill(connection, org_id: int, agent_id: int, team_id: int, comments: bool) -> None:
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO tickets_contact (organization_id, email, name, undeliverable,
                   undeliverable_reason, created_at)
               SELECT %s, 'person' || g || '@customer' || (g %% 50) || '.test', 'Person ' || g,
                      false, '', now() FROM generate_series(1, %s) g""",
            [org_id, CONTACTS],
        )
        cur.execute(
            """WITH st AS (SELECT array_agg(id ORDER BY position) ids,
                                   array_agg(category ORDER BY position) cats
                            FROM tickets_status WHERE organization_id = %(org)s),
                     pr AS (SELECT array_agg(id ORDER BY rank) ids FROM tickets_priority
                            WHERE organization_id = %(org)s),
                     ct AS (SELECT min(id) lo FROM tickets_contact WHERE organization_id = %(org)s)
                INSERT INTO tickets_ticket (organization_id, number, subject, status_id,
                    status_category, priority_id, assignee_id, team_id, requester_id, source,
                    last_message_preview, created_at, updated_at, last_activity_at)
                SELECT %(org)s, g,
                       initcap((%(words)s::text[])[1 + g %% 16]) || ' problem ' || g || ' ' ||
                           (%(words)s::text[])[1 + (g / 16) %% 16],
                       st.ids[1 + g %% 6], st.cats[1 + g %% 6], pr.ids[1 + g %% 4],
                       CASE WHEN g %% 3 = 0 THEN %(agent)s END,
                       CASE WHEN g %% 2 = 0 THEN %(team)s END,
                       ct.lo + g %% %(contacts)s, 'email', 'Latest message of ticket ' || g,
                       now() - (g || ' minutes')::interval,
                       now() - (g || ' minutes')::interval,
                       now() - ((g * 7919) %% %(n)s || ' minutes')::interval
                FROM generate_series(1, %(n)s) g, st, pr, ct""",
            {
                "org": org_id,
                "agent": agent_id,
                "team": team_id,
                "words": WORDS,
                "contacts": CONTACTS,
                "n": PER_ORG,
            },
        )
        cur.execute(
            "UPDATE tenants_organization SET last_ticket_number = %s WHERE id = %s",
            [PER_ORG, org_id],
        )
        if comments:
            cur.execute(
                """INSERT INTO tickets_comment (organization_id, ticket_id, is_public, channel,
                       body_text, body_html, full_text, message_id, created_at, author_contact_id,
                       author_user_id)
                   SELECT t.organization_id, t.id, k <> 2, 'email',
                          'Comment ' || k || ' on ' || t.number,
                          '<p>Comment ' || k || ' on ' || t.number || '</p>', '', '',
                          t.created_at + (k || ' hours')::interval,
                          CASE WHEN k <> 1 THEN t.requester_id END,
                          CASE WHEN k = 1 THEN t.assignee_id END
                   FROM tickets_ticket t, generate_series(0, 2) k
                   WHERE t.organization_id = %s""",
                [org_id],
            )
            cur.execute(
                """INSERT INTO tickets_ticketevent (organization_id, ticket_id, kind, data,
                       created_at, actor_contact_id)
                   SELECT organization_id, id, 'created', '{"source": "email"}', created_at,
                          requester_id
                   FROM tickets_ticket WHERE organization_id = %s""",
                [org_id],
            )


def measure(client, path: str, requests: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(5):
        assert client.get(path).status_code == 200, path
    timings = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        rows = client.get(path).content.count(b'class="ticket-row"')
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    return statistics.median(timings), p95, len(ctx.captured_queries), rows


def deep_cursor(depth: int) -> str:
    from tenants.models import Organization
    from tenants.scoping import tenant_scope
    from tickets.models import UNRESOLVED_CATEGORIES, Ticket

    org = Organization.objects.get(slug="bench0")
    with tenant_scope(org):
        row = (
            Ticket.objects.filter(status_category__in=UNRESOLVED_CATEGORIES)
            .order_by("-last_activity_at", "-pk")
            .values_list("last_activity_at", "pk")[depth]
        )
    return f"{row[0].isoformat()}_{row[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("bench/ticket_list.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    ensure_database(url)

    import django

    django.setup()
    from urllib.parse import quote

    from django.conf import settings
    from django.test import Client

    from tenants.models import Team, User

    settings.ALLOWED_HOSTS = ["*"]
    build(args.fresh)
    client = Client(HTTP_HOST="bench0.localhost")
    client.force_login(User.objects.get(email="agent@bench.test"))
    from django_scopes import scopes_disabled

    with scopes_disabled():  # read two ids for the filtered view's URL
        team = Team.objects.get(organization__slug="bench0", name="Support")
    cursor = quote(deep_cursor(30_000))
    rng = random.Random(7)
    numbers = [rng.randint(1, PER_ORG) for _ in range(args.requests)]
    scenarios = [
        ("list: default view (all open)", "/agent/"),
        (
            "list: filtered (pending, team, unassigned)",
            f"/agent/?view=open&category=pending&team={team.pk}&assignee=none",
        ),
        ("list: page 1 of all tickets", "/agent/?view=all"),
        ("list: deep page (row 30,000 of open)", f"/agent/?after={cursor}"),
        ("list: search 'printer'", "/agent/?view=all&q=printer"),
        ("list: search requester 'person42@'", "/agent/?view=all&q=person42%40"),
    ]
    print(f"\n{'scenario':44} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'rows':>5}")
    for name, path in scenarios:
        median, p95, queries, rows = measure(client, path, args.requests)
        print(f"{name:44} {median:10.1f} {p95:8.1f} {queries:8d} {rows:5d}")
    timings, queries = [], 0
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for number in numbers:
        t0 = time.perf_counter()
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/agent/tickets/{number}/")
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
        queries = max(queries, len(ctx.captured_queries))
    timings.sort()
    p95 = timings[int(len(timings) * 0.95) - 1]
    print(
        f"{'ticket page (random of 100,000)':44} {statistics.median(timings):10.1f} "
        f"{p95:8.1f} {queries:8d}"
    )


if __name__ == "__main__":
    main()
