"""Automations under load, on PostgreSQL and Redis: events through the rules engine, and the
time rules' scan.

Events: one fresh tenant (`bench-automations`) with 100 enabled rules, a helpdesk's mix over
every event trigger, half of them with text conditions (words in the subject or the new
comment, and patterns), acting through the ticket services (team, round-robin, priority,
status, tags, notes, notices). Its tickets, comments and changes are made first through the
real services with every subscriber off, and the 10,000 domain events they produce are
recorded (plus SLA warnings and breaches as the SLA scan emits them). Then each recorded event
is emitted again inside a transaction, so that the real after-commit path hears it:
automations.subscribers queues `automations.handle_event` on Redis, and Celery worker processes
(solo pool, started by this script) run the rules; the events the rules' own actions emit are
queued and run the same way. Outbound mail's subscribers are off in the workers unless
`--notifications` (the figures are the engine's). Prints events per second (first event to
the last task done), how many rules ran at each chain depth, and the p95 and median from an
event to the last action of its chain (RuleRun.created_at - event_at) over events that ran
at least one rule.

The workload (tenant, rules, recorded events) is in bench/automations_workload.py.

Time scan (bench/automations_scan.py): 1,000,000 open tickets over 10 tenants (INSERT ...
SELECT generate_series, built once and reused; `--fresh` rebuilds), three time rules per
tenant (pending for 72 hours, 48 hours since the customer's last message, 30 days since
created), 1,000 tickets due; one scan run is timed with every cursor reset (a first run, the
most it reads), and its query count must equal the count at 10,000 tickets.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_bench \\
    REDIS_URL=redis://127.0.0.1:6379/6 .venv/bin/python bench/automations.py \\
        [--events 10000] [--workers 2] [--rate N] [--notifications] [--fresh] [--skip-events]
        [--skip-scan] [--profile]

All events go out in one burst, which measures throughput (the time from an event to its last
action is then mostly waiting in the queue); `--rate N` feeds N events per second instead,
which measures that time under a load the workers keep up with. `--profile` runs the events
in this process (tasks eager) under cProfile, with the statements they send.

Tasks go through a queue of their own (`bench-automations`, purged first). The last line is
exactly `automations: <N> events/s, p95 <M> ms, time scan <K> ms`.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

QUEUE = "bench-automations"
SENT, DONE, LAST = "bench-automations:sent", "bench-automations:done", "bench-automations:last"
FED = "bench-automations:fed"  # tasks the feed queued
# -- workers -----------------------------------------------------------------------------------


def _redis():
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


def run_worker(notifications: bool) -> None:
    """One solo-pool worker on the bench queue; the tasks it queues (the chains' events) go to
    the same queue; what it started and finished is counted in Redis."""
    import django

    django.setup()
    from celery import signals

    from automations import subscribers
    from config.celery import app
    from tickets import events

    if not notifications:
        # The engine alone: outbound mail hears the same events (and the rules' notices).
        events._subscribers.clear()
        subscribers.connect()
    app.conf.task_default_queue = QUEUE
    counter = _redis()

    @signals.before_task_publish.connect(weak=False)
    def sent(**_):
        counter.incr(SENT)

    @signals.task_postrun.connect(weak=False)
    def done(**_):
        pipe = counter.pipeline()
        pipe.set(LAST, repr(time.time()))
        pipe.incr(DONE)
        pipe.execute()

    profile_dir = os.environ.get("BENCH_PROFILE_WORKERS")
    if profile_dir:  # --profile-workers: each worker's whole run under cProfile
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not time spent waiting
        profiler.enable()
        try:
            _worker_main(app)
        finally:
            profiler.disable()
            profiler.dump_stats(f"{profile_dir}/worker-{os.getpid()}.prof")
        return
    _worker_main(app)


def _worker_main(app) -> None:
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-Q",
            QUEUE,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench-{os.getpid()}@%h",
        ]
    )


def start_workers(
    count: int, notifications: bool, profile_workers: str = ""
) -> list[subprocess.Popen]:
    command = [sys.executable, __file__, "--run-worker"]
    if notifications:
        command.append("--notifications")
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"}
    if profile_workers:
        env["BENCH_PROFILE_WORKERS"] = profile_workers
    return [
        subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True) for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


def wait_for_workers(n: int) -> None:
    from config.celery import app

    deadline, replies = time.time() + 60, []
    while time.time() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= n:
            return
    raise SystemExit(f"only {len(replies)} of {n} workers answered")


def wait_done(workers, timeout: float = 900) -> float:
    """Until every task queued (the feed's and the chains') has run; when the last one ended."""
    counter = _redis()
    deadline = time.time() + timeout
    settled = 0
    while time.time() < deadline:
        sent, done = (int(counter.get(k) or 0) for k in (SENT, DONE))
        # Twice in a row, with no gathered event left waiting (automations.batching's lists):
        # a task may queue the next one while it runs.
        waiting = sum(counter.llen(k) for k in counter.scan_iter("automations:events:*[0-9]"))
        settled = settled + 1 if sent and done >= sent and not waiting else 0
        if settled >= 2:
            return float(counter.get(LAST))
        if any(w.poll() is not None for w in workers):
            raise SystemExit("a worker stopped")
        time.sleep(0.01)
    raise SystemExit("the workers did not finish in time")


LATENCY_EVENTS = 2_000  # the paced run that measures the time from an event to its last action


def bench_events(args) -> tuple[float, float]:
    """(events per second in a burst, p95 ms from an event to its chain's last action). The
    p95 is measured in a second run, paced at half the burst's throughput (unless --rate
    paced the first): in a burst it is mostly the time an event waits in the queue."""
    rate, p95 = feed_run(args, args.events, args.rate)
    if args.rate:
        return rate, p95
    print(f"\nlatency: {min(args.events, LATENCY_EVENTS):,} events at {rate / 2:.0f}/s", flush=True)
    _, p95 = feed_run(args, min(args.events, LATENCY_EVENTS), max(1.0, rate / 2))
    return rate, p95


_counting: list = []  # the publish signal's receiver, connected once


def feed_run(args, count: int, pace: float) -> tuple[float, float]:
    """Feed `count` recorded events (a burst, or `pace` per second) to fresh workers: (events
    per second, p95 ms from an event to its chain's last action)."""
    from celery import signals
    from django.db import transaction

    from automations import subscribers
    from bench.automations_workload import build_tenant, make_rules, record_events
    from bench.inbound import cpu_busy_share, cpu_ticks
    from config.celery import app
    from tenants.scoping import tenant_scope
    from tickets import events

    print(f"building the tenant, 100 rules and {count:,} events ...", flush=True)
    org, agents, teams = build_tenant()
    with tenant_scope(org):
        make_rules(org, teams)
        recorded = record_events(org, agents, teams, count)
    _vacuum()
    app.conf.task_default_queue = QUEUE
    app.conf.task_always_eager = False
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)
    counter = _redis()
    counter.delete(SENT, DONE, LAST, FED)

    def sent(**_) -> None:
        counter.incr(SENT)
        counter.incr(FED)

    if not _counting:
        _counting.append(sent)
        signals.before_task_publish.connect(sent, weak=False)
    events._subscribers.clear()  # this process hears what the workers would: automations
    subscribers.connect()
    workers = start_workers(args.workers, args.notifications, args.profile_workers)
    try:
        wait_for_workers(args.workers)
        machine, spent = cpu_ticks(), _cpu(workers)
        started = time.time()
        for n, event in enumerate(recorded):
            if pace:
                time.sleep(max(0.0, started + n / pace - time.time()))
            with transaction.atomic():
                events.emit(event)  # heard after this commit, as every service's events are
        fed = time.time() - started
        last = wait_done(workers)
        busy, spent = cpu_busy_share(machine, cpu_ticks()), _cpu(workers, spent)
    finally:
        stop_workers(workers)
    elapsed = last - started
    rate = len(recorded) / elapsed
    p95, median, measured, depths, outcomes = _latencies(org)
    tasks, queued = int(counter.get(DONE) or 0), int(counter.get(FED) or 0)
    how = f"at {pace:.0f}/s" if pace else "in one burst"
    print(
        f"events fed:        {len(recorded):,} {how}, in {fed:.2f} s, through the after-commit path"
    )
    print(
        f"tasks run:         {tasks:,}: {queued:,} queued by the fed events (each task runs the "
        f"events gathered meanwhile; none for an event no rule's options take), "
        f"{tasks - queued:,} by the workers (the rules' actions' events, full batches)"
    )
    print(f"elapsed:           {elapsed:.2f} s (first event to the last task done)")
    print(f"workers:           {args.workers} (solo pool each) on {os.cpu_count()} cores")
    print(f"throughput:        {rate:.0f} events/s (target >= 500)")
    print(f"rule runs:         by depth {depths}; by outcome {outcomes}")
    print(
        f"event to last action: median {median:.0f} ms, p95 {p95:.0f} ms "
        f"({measured:,} events ran at least one rule)"
    )
    per_event = {name: seconds * 1000 / len(recorded) for name, seconds in spent.items()}
    print(
        f"CPU busy:          {busy:.0%} of {os.cpu_count()} cores (the whole machine); per event: "
        + ", ".join(f"{name} {ms:.1f} ms" for name, ms in per_event.items())
    )
    return rate, p95


def _vacuum() -> None:
    """VACUUM ANALYZE the database: each run deletes the last run's tenant and rewrites its
    tickets many times, and where autovacuum is off (this bench machine's PostgreSQL) the dead
    rows pile up run after run and every statement reads through them."""
    from django.db import connection

    with connection.cursor() as cursor:  # bench set-up: VACUUM cannot run in a transaction
        cursor.execute("VACUUM ANALYZE")


def _cpu(workers, before: dict | None = None) -> dict[str, float]:
    """CPU seconds so far of this process (the feed), the workers, and this database's
    PostgreSQL backends; minus `before`."""
    from django.db import connection

    from bench.inbound import process_seconds

    groups = {w.pid for w in workers}
    in_workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[2]) in groups:
                in_workers.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    with connection.cursor() as cursor:  # bench accounting: which backends are ours
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        backends = [pid for (pid,) in cursor.fetchall()]
    now = {
        "feed": sum(process_seconds([os.getpid()]).values()),
        "workers": sum(process_seconds(in_workers).values()),
        # Only the backends alive now: a worker's connection is replaced every
        # CELERY_DB_REUSE_MAX tasks, and a closed backend's time is not counted.
        "postgres (live backends)": sum(process_seconds(backends).values()),
    }
    return {k: v - (before or {}).get(k, 0.0) for k, v in now.items()}


def profile_events(args) -> None:
    """The same events in this process (tasks eager: one worker's work) under cProfile."""
    import cProfile
    import pstats

    from django.db import transaction

    from automations import subscribers
    from bench.automations_workload import build_tenant, make_rules, record_events
    from config.celery import app
    from tenants.scoping import tenant_scope
    from tickets import events

    org, agents, teams = build_tenant()
    with tenant_scope(org):
        make_rules(org, teams)
        recorded = record_events(org, agents, teams, args.events)
    _vacuum()
    events._subscribers.clear()
    subscribers.connect()
    app.conf.task_always_eager = True
    import re
    from collections import Counter

    from django.db import connection

    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    from automations import batching
    from automations.tasks import handle_events

    # The events gather first (as under a burst: the waiting key held, no task queued), then
    # tasks run them in batches in this process; the events the rules emit are run in process
    # as they come (their task queued, eager).
    client = batching._redis()
    client.delete(batching._list_key(org.pk))
    client.set(batching._waiting_key(org.pk), 1, ex=3600)
    profiler = cProfile.Profile(time.process_time)  # CPU: the database's time is not ours
    started, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        if not args.cpu:
            profiler.enable()
        for event in recorded:
            with transaction.atomic():
                events.emit(event)
        fed = time.perf_counter() - started
        while client.llen(batching._list_key(org.pk)):
            handle_events.apply(kwargs={"organization_id": org.pk})
        profiler.disable()
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"{len(recorded)} events in {took:.2f} s in one process ({len(recorded) / took:.0f}/s; "
        f"the feed {fed:.2f} s); CPU {cpu * 1000 / len(recorded):.2f} ms per event (this process)"
    )
    # Savepoints and BEGIN/COMMIT go through the wrapper too; savepoint names are folded.
    shapes = Counter(
        re.sub(r'"?s\d+_x\d+"?', "<sp>", " ".join(q.split()[:6]))[:90] for q in statements
    )
    print(
        f"{len(statements)} statements ({len(statements) / len(recorded):.1f} per event); "
        "the most frequent:"
    )
    for shape, n in shapes.most_common(30):
        print(f"  {n:6}  {shape}")
    if args.cpu:
        return
    stats = pstats.Stats(profiler)
    if args.profile_out:
        stats.dump_stats(args.profile_out)
    stats.sort_stats(args.profile_sort).print_stats(120)


def _latencies(org):
    from collections import Counter

    from django.db.models import Max, Min, Q

    from automations.models import RuleRun
    from tenants.scoping import tenant_scope

    with tenant_scope(org):
        runs = RuleRun.objects.all()
        chains = runs.values("origin").annotate(
            start=Min("event_at", filter=Q(depth=0)), end=Max("created_at")
        )
        spans = sorted((c["end"] - c["start"]).total_seconds() * 1000 for c in chains if c["start"])
        depths = dict(sorted(Counter(runs.values_list("depth", flat=True)).items()))
        outcomes = dict(Counter(runs.values_list("outcome", flat=True)))
    p95 = statistics.quantiles(spans, n=20)[-1] if len(spans) > 1 else float("nan")
    return p95, statistics.median(spans) if spans else float("nan"), len(spans), depths, outcomes


# -- main --------------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    import psycopg

    dbname = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(f'CREATE DATABASE "{dbname}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0, help="events per second; 0: a burst")
    parser.add_argument(
        "--notifications",
        action="store_true",
        help="let the workers also do outbound mail's work for each event",
    )
    parser.add_argument("--fresh", action="store_true", help="rebuild the scan's tickets")
    parser.add_argument("--skip-events", action="store_true")
    parser.add_argument("--skip-scan", action="store_true")
    parser.add_argument("--profile", action="store_true", help="the events in process, profiled")
    parser.add_argument(
        "--cpu", action="store_true", help="with --profile: no cProfile, CPU time per event"
    )
    parser.add_argument("--profile-sort", default="cumulative", help="pstats order")
    parser.add_argument("--profile-out", default="", help="also dump the profile to this file")
    parser.add_argument(
        "--profile-workers", default="", help="a directory: each worker's cProfile goes there"
    )
    parser.add_argument("--run-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_worker:
        run_worker(args.notifications)
        return
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL; see the docstring")
    ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.profile:
        profile_events(args)
        return
    rate, p95 = bench_events(args) if not args.skip_events else (float("nan"), float("nan"))
    from bench.automations_scan import bench_scan

    scan = bench_scan(fresh=args.fresh) if not args.skip_scan else float("nan")
    print(f"automations: {rate:.0f} events/s, p95 {p95:.0f} ms, time scan {scan:.0f} ms")


if __name__ == "__main__":
    main()
