"""Search, reports and the rail at a million tickets, through the full Django stack.

Builds a PostgreSQL database `helpdesk_search_bench` (bench/_search_data.py: 10 tenants,
1,000,000 tickets, 3,000,000 comments, contacts, customers, attachments' names, a year of
TicketEvents and SLA timers, written with COPY by two processes), the search documents
(`search.services.index_rebuild`, or the search triggers during the COPY with --triggers),
the daily rollups (`reports.services.rollups_rebuild`) and 20 saved views of the measured agent.
Then times, with Django's test client on the measured tenant's host (middleware, routing,
view, ORM, templates), warm, p95 of each scenario: the search page for a rare word, a common
word, a phrase, a prefix and a ticket number; the reports page over a year (as an admin); the
rail fragment with 20 saved views, uncached (the list version is bumped before each request).
It prints the SQL queries of each; the last line reads exactly
`search: p95 <N> ms, reports p95 <M> ms, rail p95 <K> ms`, each the worst of its scenarios.

    SECRET_KEY=$(cat var/dev-secret-key) \
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_search_bench \
    REDIS_URL=redis://127.0.0.1:6379/15 .venv/bin/python bench/search.py [--reuse] [--requests 100]

Without --reuse the database is dropped and built again: on 2 shared cores the COPY of the
data takes about 6 minutes, the search documents (index_rebuild) about 10, the rollups of ten
tenants about 9. --reuse keeps complete data and builds only what is missing (documents,
rollups, views); --reindex and --rollups rebuild those; --remigrate search,reports,views drops
those parts and migrates them again (while their migrations still change); --no-migrate skips
migrating; --only search,more,reports,rail measures some groups. A scenario over its target
prints EXPLAIN ANALYZE of its slowest queries.
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench import _search_data as data

PREFIX = "search"  # tenants search0 .. search9; search0 is measured
TARGETS = {"search": 50, "reports": 300, "rail": 50}


# -- the database ------------------------------------------------------------------------------


def _admin_url(url: str) -> tuple[str, str]:
    dbname = url.rsplit("/", 1)[1].split("?")[0]
    return url.rsplit("/", 1)[0] + "/postgres", dbname


def complete(url: str) -> bool:
    """Whether the database holds a finished build (every tenant's tickets)."""
    import psycopg

    admin, dbname = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            return False
    with psycopg.connect(url) as conn:
        if not conn.execute("SELECT to_regclass('tenants_organization')").fetchone()[0]:
            return False
        row = conn.execute(
            "SELECT count(*) FROM tenants_organization WHERE slug LIKE %s "
            "AND last_ticket_number = %s",
            [f"{PREFIX}%", data.PER_ORG],
        ).fetchone()
        return row[0] == data.ORGS


def recreate(url: str) -> None:
    import psycopg

    admin, dbname = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')


# The parts of issue 15 that are built from the data (search documents, rollups, saved views):
# --remigrate drops them and migrates them again from their current migrations, so a build is
# reused while those migrations still change.
PARTS = ("search", "reports", "views")
LAST_TICKETS_MIGRATION = "0012_comment_held_by_send_guard"


def remigrate(url: str, parts: set[str]) -> None:
    """Drop the named parts (search, reports, views) and forget their migrations."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        patterns = [f"{p}\\_%" for p in parts & {"search", "reports"}]
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND "
            "(tablename LIKE ANY(%s) OR (tablename = 'tickets_savedview' AND %s))",
            [patterns, "views" in parts],
        ).fetchall()
        for (table,) in tables:
            conn.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        if "search" in parts:
            _drop_search_sql(conn)
        apps = [p for p in parts if p in ("search", "reports")]
        conn.execute("DELETE FROM django_migrations WHERE app = ANY(%s)", [apps])
        if "views" in parts:
            # VIEWS' migration also adds this index on tickets (for the rail's resolved count).
            conn.execute("DROP INDEX IF EXISTS ticket_org_resolved")
            conn.execute(
                "DELETE FROM django_migrations WHERE app = 'tickets' AND name > %s",
                [LAST_TICKETS_MIGRATION],
            )
            if "reports" not in parts:  # kept, but its migration depends on tickets' newest
                conn.execute("DELETE FROM django_migrations WHERE app = 'reports'")
    print(f"remigrate: {', '.join(sorted(parts))} dropped; migrating again")


def migrate(parts: set[str]) -> None:
    from django.core.management import call_command

    if "views" in parts and "reports" not in parts:
        call_command("migrate", "tickets", verbosity=0)
        call_command("migrate", "reports", fake=True, verbosity=0)  # its tables were kept
    call_command("migrate", verbosity=0)


def _drop_search_sql(conn) -> None:
    """Search's triggers, their functions, any other function of its (by name) and its text
    search configurations; other apps' functions (inbound_mail's helpdesk_lock_keys) stay."""
    functions = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') "
        "AND (p.proname LIKE 'search%%' OR p.oid IN (SELECT tgfoid FROM pg_trigger "
        "WHERE NOT tgisinternal))"
    ).fetchall()
    triggers = conn.execute(
        "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE NOT t.tgisinternal AND n.nspname = 'public'"
    ).fetchall()
    for name, table in triggers:
        conn.execute(f'DROP TRIGGER IF EXISTS "{name}" ON "{table}"')
    for (function,) in functions:
        conn.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    conn.execute("DROP VIEW IF EXISTS search_source CASCADE")
    configs = conn.execute(
        "SELECT cfgname FROM pg_ts_config WHERE cfgname LIKE 'helpdesk\\_%'"
    ).fetchall()
    for (config,) in configs:
        conn.execute(f'DROP TEXT SEARCH CONFIGURATION IF EXISTS "{config}" CASCADE')


def _tenants() -> tuple[list[dict], float]:
    """The 10 tenants with their agents, teams, statuses, priorities and SLA policy, made
    through the services; returned as plain values for the worker processes."""
    from django_scopes import scopes_disabled

    from sla.models import Calendar, Policy
    from tenants import services as tenant_services
    from tenants.models import Membership, TeamMember
    from tenants.scoping import tenant_scope
    from tickets.models import Priority, Status

    users = []
    for i in range(data.AGENTS):
        name = f"{data.FIRST_NAMES[i * 2]} {data.LAST_NAMES[i * 2 + 1]}"
        users.append(
            tenant_services.user_get_or_create(
                email=f"agent{i}@search-bench.test", name=name, password="bench"
            )
        )
    admin = tenant_services.user_get_or_create(
        email="admin@search-bench.test", name="Bench Admin", password="bench"
    )
    end = data.timestamp_now()
    tenants = []
    for index in range(data.ORGS):
        tz = data.TIMEZONES[index % len(data.TIMEZONES)]
        org = tenant_services.organization_create(
            slug=f"{PREFIX}{index}", name=f"Search bench {index}", timezone=tz
        )
        with tenant_scope(org):
            tenant_services.membership_add(organization=org, user=admin, role=Membership.ADMIN)
            for user in users:
                tenant_services.membership_add(organization=org, user=user, role=Membership.AGENT)
            teams, team_agents = [], []
            for t, team_name in enumerate(data.TEAMS):
                members = users[t * 5 : t * 5 + 5]
                team = tenant_services.team_create(
                    organization=org, name=team_name, members=members, managers=members[:1]
                )
                teams.append(team.pk)
                team_agents.append([u.pk for u in members])
            TeamMember.objects.get_or_create(
                organization=org, team_id=teams[0], user=admin, defaults={"is_manager": True}
            )
            calendar = Calendar.objects.create(
                organization=org,
                name="Office",
                timezone=tz,
                weekly={str(d): [["08:00", "18:00"]] for d in range(5)},
                is_default=True,
            )
            policy = Policy.objects.create(
                organization=org,
                name="Standard",
                order=1,
                calendar=calendar,
                first_response_minutes=data.FIRST_RESPONSE_MINUTES,
                resolution_minutes=data.RESOLUTION_MINUTES,
                warn_percent=80,
            )
            with scopes_disabled():  # reading this tenant's defaults by its id
                statuses = dict(Status.objects.filter(organization=org).values_list("name", "pk"))
                priorities = list(
                    Priority.objects.filter(organization=org)
                    .order_by("rank")
                    .values_list("pk", flat=True)
                )
        tenants.append(
            {
                "id": org.pk,
                "slug": org.slug,
                "timezone": tz,
                "tz_offset": data.tz_offset(tz, end),
                "teams": teams,
                "team_agents": team_agents,
                "agents": [u.pk for u in users],
                "names": {u.pk: u.name for u in users},
                "statuses": statuses,
                "priorities": priorities,
                "policy": policy.pk,
            }
        )
    return tenants, end


def _bases(cur) -> dict[str, int]:
    bases = {}
    for name in data.Ids.SIZES:
        cur.execute(f"SELECT coalesce(max(id), 0) + 1 FROM tickets_{name}")  # noqa: S608
        bases[name] = cur.fetchone()[0]
    return bases


def build(url: str, *, triggers: bool, seed: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    tenants, end = _tenants()
    with connection.cursor() as cur:
        bases = _bases(cur)
    connection.close()  # the workers have their own connections
    print(f"data: {data.ORGS} tenants set up in {time.perf_counter() - started:.0f} s")
    work = [(url, org, i, bases, end, seed, triggers) for i, org in enumerate(tenants)]
    totals: dict[str, int] = {}
    with multiprocessing.get_context("fork").Pool(2) as pool:
        for index, counts, seconds in pool.imap_unordered(data.run_worker, work):
            for table, n in counts.items():
                totals[table] = totals.get(table, 0) + n
            print(
                f"  tenant {PREFIX}{index}: {counts['tickets_ticket']:,} tickets, "
                f"{counts['tickets_comment']:,} comments in {seconds:.0f} s "
                f"({time.perf_counter() - started:.0f} s)"
            )
    with connection.cursor() as cur:
        for name in data.Ids.SIZES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('tickets_{name}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM tickets_{name}))"
            )
    _vacuum()
    print("data: " + ", ".join(f"{t} {n:,}" for t, n in sorted(totals.items())))
    print(f"data: written in {time.perf_counter() - started:.0f} s")
    if not triggers:
        _index(force=True)


def _index(*, force: bool) -> None:
    """The search documents, from search.services.index_rebuild (once SEARCH has it)."""
    try:
        from search.services import index_rebuild
    except ImportError:
        print("search index: search.services.index_rebuild does not exist yet")
        return
    from django.db import DatabaseError

    if not force and _documents() > 0:
        return
    started = time.perf_counter()
    try:
        index_rebuild(organization_id=None)
    except DatabaseError as error:  # search's migrations are not (all) applied
        print(f"search index: not rebuilt: {error}".splitlines()[0])
        return
    _vacuum()
    print(f"search index: rebuilt for all tenants in {time.perf_counter() - started:.0f} s")


def _vacuum() -> None:
    """VACUUM ANALYZE: statistics and the visibility map as a running database has them
    (autovacuum's work), so index-only scans read no heap after a bulk load."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE)")


def _documents() -> int:
    """Rows in search's tables, 0 when they are empty or missing."""
    from django.apps import apps
    from django_scopes import scopes_disabled

    total = 0
    with scopes_disabled():  # counting every tenant's rows
        for model in apps.get_app_config("search").get_models():
            if _tenant_owned(model):
                total += model._base_manager.count()
    return total


def _tenant_owned(model) -> bool:
    return any(f.name == "organization" for f in model._meta.fields)


# -- the others' parts -------------------------------------------------------------------------


def _rollups(org, *, force: bool) -> None:
    try:
        from reports.services import rollups_rebuild
    except ImportError:
        print("rollups: reports.services.rollups_rebuild does not exist yet")
        return
    from django.apps import apps
    from django_scopes import scopes_disabled

    from tenants.models import Organization
    from tenants.scoping import tenant_scope

    if not force:
        with scopes_disabled():  # do any rollup rows exist at all?
            models = apps.get_app_config("reports").get_models()
            if any(m._base_manager.exists() for m in models if _tenant_owned(m)):
                return
    end = date.today()
    start = end - timedelta(days=data.DAYS + 1)
    started = time.perf_counter()
    with scopes_disabled():  # the benchmark's tenants, by slug
        orgs = list(Organization.objects.filter(slug__startswith=PREFIX).order_by("pk"))
    for o in orgs:
        began = time.perf_counter()
        with tenant_scope(o):
            tickets = rollups_rebuild(organization_id=o.pk, start=start, end=end)
        print(f"  rollups {o.slug}: {tickets:,} tickets in {time.perf_counter() - began:.0f} s")
    print(
        f"rollups: {len(orgs)} tenants x {data.DAYS + 1} days in "
        f"{time.perf_counter() - started:.0f} s"
    )
    _vacuum()


def _saved_views(org, user) -> int:
    """20 saved views of the measured agent (10 personal, 10 shared), when VIEWS' model
    exists; returns how many there are."""
    from bench._search_views import ensure_saved_views

    return ensure_saved_views(org, user)


# -- measuring ---------------------------------------------------------------------------------


def measure(client, path: str, requests: int, *, before=None, ok=(200,), headers=None):
    """(median, p95, queries, response) of GET path, warm."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = headers or {}
    for _ in range(5):
        if before:
            before()
        response = client.get(path, **headers)
        assert response.status_code in ok, (path, response.status_code)
    timings = []
    for _ in range(requests):
        if before:
            before()
        t0 = time.perf_counter()
        response = client.get(path, **headers)
        timings.append((time.perf_counter() - t0) * 1000)
        assert response.status_code in ok, (path, response.status_code)
    if before:
        before()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, **headers)
    # Copied now: the next request's start empties the connection's log they are read from.
    captured = list(ctx.captured_queries)
    timings.sort()
    p95 = timings[max(0, -(-len(timings) * 95 // 100) - 1)]
    return statistics.median(timings), p95, len(captured), response, captured


def explain(captured: list[dict]) -> None:
    """EXPLAIN ANALYZE of the slowest SELECTs of a captured request."""
    from django.db import connection

    total = sum(float(q["time"]) for q in captured) * 1000
    print(f"  {len(captured)} queries, {total:.0f} ms in the database")
    queries = sorted(captured, key=lambda q: -float(q["time"]))[:2]
    for q in queries:
        sql = q["sql"]
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        print(f"\n  EXPLAIN ANALYZE ({float(q['time']) * 1000:.1f} ms in the request):\n  {sql}")
        with connection.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            for (line,) in cur.fetchall():
                print("    " + line)


def scenarios(org) -> dict[str, list[tuple[str, str, dict, str]]]:
    """Per group: (name, path, extra headers, who asks: "agent" or "admin")."""
    from urllib.parse import quote

    from django_scopes import scopes_disabled

    from tenants.models import Team

    with scopes_disabled():  # the measured tenant's team, by name
        billing = Team.objects.get(organization=org, name="Billing").pk
    rare = data.rare_word(7)
    today = date.today()
    year = f"start={today - timedelta(days=364)}&end={today}"
    htmx = {"HTTP_HX_REQUEST": "true"}
    return {
        "search": [
            (f"search: rare word '{rare}'", f"/agent/search/?q={rare}", {}, "agent"),
            ("search: common word 'please'", "/agent/search/?q=please", {}, "agent"),
            (
                "search: phrase '\"invoice 4471\"'",
                "/agent/search/?q=" + quote('"invoice 4471"'),
                {},
                "agent",
            ),
            ("search: prefix 'passw'", "/agent/search/?q=passw", {}, "agent"),
            ("search: number '#48213'", "/agent/search/?q=" + quote("#48213"), {}, "agent"),
        ],
        "more (not in the summary)": [
            (
                "search: two common words",
                "/agent/search/?q=" + quote("please printer"),
                {},
                "agent",
            ),
            ("search: exclusion", "/agent/search/?q=" + quote("printer -offline"), {}, "agent"),
            (
                "search: dropdown 'invoice 44'",
                "/agent/search/?q=" + quote("invoice 44"),
                htmx,
                "agent",
            ),
            ("list: ?q=please, all tickets", "/agent/?view=all&q=please", {}, "agent"),
            ("reports: a year, cached (admin)", f"/agent/reports/?{year}", {}, "admin"),
        ],
        "reports": [
            ("reports: a year, every team (admin)", f"/agent/reports/?{year}", {}, "admin"),
            (
                "reports: a year, Billing, email",
                f"/agent/reports/?{year}&team={billing}&channel=email",
                {},
                "admin",
            ),
            ("reports: a year, team manager", f"/agent/reports/?{year}", {}, "agent"),
        ],
        "rail": [("rail: 20 saved views, uncached", "/agent/tickets/rail/", {}, "agent")],
    }


def run(args) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client
    from django_scopes import scopes_disabled

    from tenants.models import Organization, User
    from tickets.selectors import bump_list_version

    settings.ALLOWED_HOSTS = ["*"]
    url = os.environ["DATABASE_URL"]

    def bump_reports() -> None:
        """The page caches its figures per rollups version: one up measures them uncached."""
        from django.db.models import F

        from reports.models import RollupState
        from tenants.scoping import tenant_scope

        with tenant_scope(org):
            RollupState.objects.update(version=F("version") + 1)

    if not (args.reuse and complete(url)):
        print(f"data: building {data.ORGS * data.PER_ORG:,} tickets (--reuse keeps them)")
        django.db.connections.close_all()
        recreate(url)
        build(url, triggers=args.triggers, seed=args.seed)
    else:
        parts = set(args.remigrate.split(",")) & set(PARTS)
        if parts:
            remigrate(url, parts)
        if not args.no_migrate:
            migrate(parts)
            _vacuum()  # what the migrations just filled
        print("data: reusing the existing build")
        _index(force=args.reindex)
    with scopes_disabled():  # the measured tenant and its people, by slug and address
        org = Organization.objects.get(slug=f"{PREFIX}0")
        agent = User.objects.get(email="agent0@search-bench.test")
        admin = User.objects.get(email="admin@search-bench.test")
    _rollups(org, force=args.rollups)
    views = _saved_views(org, agent)
    host = f"{org.slug}.{settings.BASE_DOMAIN}"
    agent_client = Client(HTTP_HOST=host)
    agent_client.force_login(agent)
    admin_client = Client(HTTP_HOST=host)
    admin_client.force_login(admin)
    print(f"\nmeasured: {host}, {args.requests} requests each after 5 warm-up, saved views {views}")
    print(f"{'scenario':46} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'status':>7}")
    worst: dict[str, float | None] = {"search": None, "reports": None, "rail": None}
    over = []
    only = set(args.only.split(",")) if args.only else None
    for group, items in scenarios(org).items():
        if only and group.split()[0] not in only:
            continue
        for name, path, headers, who in items:
            client = admin_client if who == "admin" else agent_client
            before = {"rail": lambda: bump_list_version(org.pk), "reports": bump_reports}.get(group)
            try:
                median, p95, queries, response, captured = measure(
                    client, path, args.requests, before=before, ok=(200, 302), headers=headers
                )
            except AssertionError as error:
                print(f"{name:46} {'failed':>10}: {error}")
                continue
            print(f"{name:46} {median:10.1f} {p95:8.1f} {queries:8d} {response.status_code:7d}")
            if group in worst:
                worst[group] = max(worst[group] or 0.0, p95)
                if p95 > TARGETS[group]:
                    over.append((name, p95, captured))
    for name, p95, captured in over:
        print(f"\nover target: {name} (p95 {p95:.1f} ms)")
        explain(captured)

    def figure(value):
        return "n/a" if value is None else f"{value:.0f}"

    print(
        f"search: p95 {figure(worst['search'])} ms, reports p95 {figure(worst['reports'])} ms, "
        f"rail p95 {figure(worst['rail'])} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="timed requests per scenario")
    parser.add_argument("--reuse", action="store_true", help="keep a complete earlier build")
    parser.add_argument(
        "--triggers",
        action="store_true",
        help="build the search documents by the triggers during the COPY, not index_rebuild",
    )
    parser.add_argument("--reindex", action="store_true", help="with --reuse: rebuild documents")
    parser.add_argument("--rollups", action="store_true", help="with --reuse: rebuild rollups")
    parser.add_argument(
        "--remigrate",
        default="",
        help="with --reuse: drop these parts (search,reports,views) and migrate them again",
    )
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--no-migrate", action="store_true", help="with --reuse: do not migrate")
    parser.add_argument("--only", default="", help="measure these groups: search,more,reports,rail")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not url.rstrip("/").endswith("helpdesk_search_bench"):
        sys.exit(
            "bench/search.py builds its own PostgreSQL database: set "
            "DATABASE_URL=postgres://.../helpdesk_search_bench"
        )
    run(args)


if __name__ == "__main__":
    main()
