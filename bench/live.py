"""Live collaboration under load: pushed comments and presence over real websockets.

Starts the project's ASGI application under daphne with the production channel layer (Redis),
opens 500 websocket connections (asyncio clients in three processes, ten agents of one tenant,
each agent on each of 50 tickets), and has separate worker processes (as a Celery worker's
prefork pool: 2 processes of 2 threads) create comments through the ticket services
(`comment_create`, a customer's reply as mail brings it) at 20 per second in all.
The worker records each comment's commit time (an on-commit callback registered before the
service's own, so it runs first, before the publisher); every client records when each
`comment` frame arrives. Printed: delivery latency from commit to receipt across all
subscribers (median, p95, max), deliveries lost, the server's memory per connection (RSS
before and after the connections, divided), and how long presence takes to expire once a set of
connections dies without a close: one agent's 50 connections SIGKILLed (the kernel drops the
sockets) and another's SIGSTOPped (open and silent, as a dead network: only the TTL and the
sweeper can notice), timed from the kill to the first `presence` without them on each ticket.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_live_bench \
    REDIS_URL=redis://127.0.0.1:6379/9 SECRET_KEY=$(openssl rand -hex 32) \
    .venv/bin/python bench/live.py [--seconds 30] [--rate 20]

The Redis database is flushed at the start: give the benchmark one of its own.
"""

import argparse
import asyncio
import json
import os
import queue
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

SLUG = "livebench"
HEARTBEAT_SECONDS = 10  # as static/js/live.js beats
CONNECT_CONCURRENCY = 25


# -- setup (the orchestrating process) ------------------------------------------------------------


def ensure_database(url: str) -> None:
    import psycopg

    dbname = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def build(agents: int, tickets: int) -> dict:
    """A fresh tenant with `agents` agents and `tickets` tickets; their session cookies."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django_scopes import scopes_disabled

    from tenants import services as tenant_services
    from tenants.models import Membership, Organization
    from tenants.scoping import tenant_scope
    from tickets import events
    from tickets.models import Comment, Ticket
    from tickets.services.contacts import contact_get_or_create
    from tickets.services.tickets import ticket_create

    call_command("migrate", verbosity=0)
    with scopes_disabled():  # the benchmark's own tenant, rebuilt each run
        # Tickets first: they hold their statuses, priorities and contacts (PROTECT).
        Ticket.objects.filter(organization__slug=SLUG).delete()
        Organization.objects.filter(slug=SLUG).delete()
    org = tenant_services.organization_create(slug=SLUG, name="Live Bench")
    cookies = {}
    with tenant_scope(org), events.muted():
        users = []
        for i in range(agents):
            user = tenant_services.user_get_or_create(
                email=f"agent{i}@livebench.test", name=f"Agent {i:02d}", password="bench"
            )
            tenant_services.membership_add(organization=org, user=user, role=Membership.AGENT)
            users.append(user)
        numbers = []
        for i in range(tickets):
            requester = contact_get_or_create(
                organization=org, email=f"customer{i}@example.test", name=f"Customer {i}"
            )
            ticket = ticket_create(
                organization=org, subject=f"Live ticket {i}", requester=requester, body_text="Hi"
            )
            numbers.append(ticket.number)
        newest = Comment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for user in users:
        client = Client(HTTP_HOST=f"{SLUG}.localhost")
        client.force_login(user)
        client.get("/agent/")  # the CSRF cookie, as the page sets it
        cookies[user.pk] = "; ".join(f"{k}={m.value}" for k, m in client.cookies.items())
    return {
        "org": org.pk,
        "users": [u.pk for u in users],
        "numbers": numbers,
        "newest": newest,
        "cookies": cookies,
    }


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_idle(pid: int, *, busy: float = 0.3, longest: float = 120.0) -> float:
    """Seconds until the server uses under `busy` of a core over a second (what the arrivals
    queued is sent; the heartbeats alone stay under it), at most `longest`."""
    started = time.monotonic()
    while time.monotonic() - started < longest:
        before = cpu_seconds(pid)
        time.sleep(1)
        if cpu_seconds(pid) - before < busy:
            break
    return time.monotonic() - started


class Child:
    """A subprocess of this script whose stdout lines are read on a thread."""

    def __init__(self, *args: str, env: dict) -> None:
        self.proc = subprocess.Popen(  # this interpreter, this script
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None:
                raise RuntimeError(f"child exited (code {self.proc.poll()}) before {prefix!r}")
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {prefix!r} within {timeout} s")

    def say(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]


def start_server(port: int, env: dict, log: Path) -> subprocess.Popen:
    server = subprocess.Popen(  # the project's own daphne
        [
            str(Path(sys.executable).with_name("daphne")),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-v",
            "0",
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stderr=log.open("w"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(  # our own loopback server
                f"http://127.0.0.1:{port}/healthz", headers={"Host": f"{SLUG}.localhost"}
            )
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError("daphne did not answer /healthz")


def warm_up(port: int, cookie: str, number: int) -> None:
    """One socket through connect, watch, presence and close: the server's imports and caches
    are loaded before its memory is read."""

    async def once() -> None:
        ws = await _connect(port, cookie)
        await ws.send(json.dumps({"type": "watch", "ticket": number, "after": 10**9}))
        while json.loads(await ws.recv())["type"] != "presence":
            pass
        await ws.close()

    asyncio.run(once())


async def _connect(port: int, cookie: str):
    import websockets

    host = f"{SLUG}.localhost:{port}"
    return await websockets.connect(
        f"ws://{host}/ws/live/",
        host="127.0.0.1",
        port=port,
        origin=f"http://{host}",
        additional_headers={"Cookie": cookie},
        max_queue=None,
        open_timeout=60,
    )


# -- the websocket clients (a child process) ------------------------------------------------------


def client_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    asyncio.run(_clients(spec))


async def _clients(spec: dict) -> None:
    receipts: dict[int, list] = defaultdict(list)  # connection index -> [(comment id, time)]
    watch_gone: dict = {}  # after `expiry`: (number, user) -> time first seen without them
    victims: set[int] = set()
    since = [None]
    ready = asyncio.Semaphore(CONNECT_CONCURRENCY)
    done_connecting = []
    sockets = []

    async def run(i: int, conn: dict) -> None:
        async with ready:
            ws = await _connect(spec["port"], conn["cookie"])
            sockets.append(ws)
            await ws.send(
                json.dumps({"type": "watch", "ticket": conn["ticket"], "after": spec["after"]})
            )
            while json.loads(await ws.recv())["type"] != "presence":
                pass
        done_connecting.append(i)
        asyncio.get_running_loop().create_task(beat(ws, conn["ticket"]))
        async for raw in ws:
            now = time.time()
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "comment":
                receipts[i].append((frame["comment"], now))
            elif kind == "presence" and since[0] is not None:
                here = {p["user"] for p in frame["people"]}
                for user in victims - here:
                    watch_gone.setdefault((frame["ticket"], user), now)

    async def beat(ws, number: int) -> None:
        await asyncio.sleep(random.uniform(0, HEARTBEAT_SECONDS))  # spread only
        frame = json.dumps({"type": "presence", "ticket": number, "state": "viewing"})
        while True:
            await ws.send(frame)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    tasks = [asyncio.create_task(run(i, c)) for i, c in enumerate(spec["connections"])]
    while len(done_connecting) < len(tasks):
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
        await asyncio.sleep(0.1)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if not line or line == "quit":
            return
        if line.startswith("expiry"):
            _, at, *users = line.split()
            victims.update(int(u) for u in users)
            since[0] = float(at)
        elif line == "report":
            lost_sockets = sum(1 for t in tasks if t.done())
            report = {
                "receipts": {str(i): r for i, r in receipts.items()},
                "gone": [[n, u, t] for (n, u), t in watch_gone.items()],
                "closed": lost_sockets,
            }
            print("report " + json.dumps(report), flush=True)


# -- the comment worker (a child process) ---------------------------------------------------------


def worker_main(seconds: float, rate: float, threads: int, part: int, parts: int) -> None:
    """Create this worker's share (`part` of `parts`: every parts-th comment) of `seconds * rate`
    comments on the tickets in turn, each started at its due time (i / rate), on `threads`
    threads: a Celery worker's concurrency, for each comment's transaction and its after-commit
    work (the publisher renders the entry) take longer than 1 / rate."""
    import django

    django.setup()
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, transaction

    from live import render
    from tenants.models import Organization
    from tenants.scoping import tenant_scope
    from tickets.models import Comment, Ticket
    from tickets.services.comments import comment_create

    org = Organization.objects.get(slug=SLUG)
    with tenant_scope(org):
        tickets = list(Ticket.objects.select_related("requester").order_by("number"))
        # The templates compiled and the caches filled before the clock starts, as in a
        # worker that has been running: one entry rendered, not published.
        render.comment_by_id(Comment.objects.order_by("pk").values_list("pk", flat=True)[0])

    def create(i: int) -> tuple[int, int, float, float]:
        lag = time.monotonic() - (start + i / rate)  # started late: the pool was busy
        ticket = tickets[i % len(tickets)]
        committed: list[float] = []
        with tenant_scope(org), transaction.atomic():
            # Registered before the service's own callbacks (the publisher's): it runs first,
            # the moment the commit returns.
            transaction.on_commit(lambda: committed.append(time.time()))
            comment = comment_create(
                ticket=ticket,
                body_text=f"Reply {i} from the customer",
                author_contact=ticket.requester,
                channel=Comment.Channel.EMAIL,
            )
        # The block's exit ran every after-commit callback: the publisher's render and send.
        return comment.pk, ticket.number, committed[0], lag, time.time() - committed[0]

    def close() -> None:
        connection.close()

    total = int(seconds * rate)
    print("ready", flush=True)
    start = float(sys.stdin.readline())  # time.time() of the first comment, the same for all
    start = time.monotonic() + (start - time.time())
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = []
        for i in range(part, total, parts):
            pause = start + i / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(create, i))
        results = [f.result() for f in futures]
        for _ in range(threads):
            pool.submit(close)
    print("created " + json.dumps(results), flush=True)


# -- the run --------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:  # one scenario, told in order
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--tickets", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20)
    # A Celery worker's prefork pool: processes, each with a few threads.
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=2)
    args = parser.parse_args()
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not (database_url and redis_url and os.environ.get("SECRET_KEY")):
        sys.exit("set DATABASE_URL (PostgreSQL), REDIS_URL (its own database) and SECRET_KEY")
    agents = args.connections // args.tickets
    if agents < 3 or agents * args.tickets != args.connections:
        sys.exit("--connections must be a multiple of --tickets, at least 3 per ticket")

    ensure_database(database_url)
    flush_redis(redis_url)
    data = build(agents, args.tickets)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DEBUG", None)
    port = free_port()
    spec_dir = ROOT / "var" / "bench-live"
    spec_dir.mkdir(parents=True, exist_ok=True)
    server = start_server(port, env, spec_dir / "server.log")
    children: list[Child] = []
    try:
        users, numbers, cookies = data["users"], data["numbers"], data["cookies"]
        warm_up(port, cookies[users[0]], numbers[0])
        time.sleep(1)
        rss_before = rss_kb(server.pid)

        # Every agent on every ticket: one connection each. The last two agents' connections
        # live in processes of their own, to be killed at the end.
        killed_user, stopped_user = users[-2], users[-1]
        groups: dict[str, list] = {"main": [], "killed": [], "stopped": []}
        for user in users:
            name = {killed_user: "killed", stopped_user: "stopped"}.get(user, "main")
            for number in numbers:
                groups[name].append({"user": user, "ticket": number, "cookie": cookies[user]})
        by_name = {}
        started = time.monotonic()
        for name, conns in groups.items():
            path = spec_dir / f"{name}.json"
            spec = {"port": port, "after": data["newest"], "connections": conns}
            path.write_text(json.dumps(spec))
            by_name[name] = Child("--client", str(path), env=env)
            children.append(by_name[name])
        for child in by_name.values():
            child.expect("ready", timeout=300)
        connect_seconds = time.monotonic() - started
        settle_seconds = wait_idle(server.pid)  # the arrivals' presence frames go out
        rss_after = rss_kb(server.pid)
        resting = cpu_seconds(server.pid)
        time.sleep(5)
        resting = (cpu_seconds(server.pid) - resting) / 5  # the heartbeats' cost

        workers = [
            Child(
                "--worker",
                str(args.seconds),
                str(args.rate),
                str(args.worker_threads),
                str(part),
                str(args.worker_processes),
                env=env,
            )
            for part in range(args.worker_processes)
        ]
        children.extend(workers)
        for worker in workers:
            worker.expect("ready", timeout=120)
        first_at = time.time() + 1
        for worker in workers:
            worker.say(repr(first_at))
        results = []
        for worker in workers:
            results += json.loads(worker.expect("created", timeout=args.seconds * 4 + 120))
        created = [r[:3] for r in results]
        commits = sorted(r[2] for r in results)
        achieved = (len(commits) - 1) / (commits[-1] - commits[0]) if len(commits) > 1 else 0.0
        worst_lag = max(r[3] for r in results)
        publish_ms = [r[4] * 1000 for r in results]
        time.sleep(5)  # the last deliveries arrive

        reports = {}
        for name, child in by_name.items():
            child.say("report")
            reports[name] = json.loads(child.expect("report", timeout=60))

        # Presence expiry: the two victims' connections die without a close, at once.
        kill_at = time.time()
        by_name["killed"].proc.send_signal(signal.SIGKILL)
        by_name["stopped"].proc.send_signal(signal.SIGSTOP)
        by_name["main"].say(f"expiry {kill_at} {killed_user} {stopped_user}")
        expected = {(n, u) for n in numbers for u in (killed_user, stopped_user)}
        gone: dict = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            time.sleep(1)
            by_name["main"].say("report")
            final = json.loads(by_name["main"].expect("report", timeout=60))
            gone = {(n, u): t - kill_at for n, u, t in final["gone"]}
            if expected <= set(gone):
                break
    finally:
        for child in children:
            if child.proc.poll() is None:
                child.proc.kill()
                child.proc.send_signal(signal.SIGCONT)
            child.proc.wait(timeout=10)
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    # Deliveries: every comment to every connection on its ticket.
    committed = {cid: (number, at) for cid, number, at in created}
    latencies, delivered, timeline = [], 0, []
    conns = {name: groups[name] for name in groups}
    received_pairs = set()
    for name, report in reports.items():
        for index, receipts in report["receipts"].items():
            conn = conns[name][int(index)]
            for cid, at in receipts:
                if cid in committed and committed[cid][0] == conn["ticket"]:
                    key = (name, int(index), cid)
                    if key not in received_pairs:
                        received_pairs.add(key)
                        latencies.append((at - committed[cid][1]) * 1000)
                        timeline.append((committed[cid][1], name, int(index), cid, at))
                        delivered += 1
    # Every delivery (commit time, client process, connection, comment, receipt), for a closer look.
    (spec_dir / "deliveries.json").write_text(json.dumps(sorted(timeline)))
    per_ticket = defaultdict(int)
    for conns_of_group in conns.values():
        for conn in conns_of_group:
            per_ticket[conn["ticket"]] += 1
    expected_deliveries = sum(per_ticket[number] for number, _ in committed.values())
    lost = expected_deliveries - delivered
    lost_by_group = {
        name: sum(
            1
            for cid, (number, _) in committed.items()
            for i, conn in enumerate(group)
            if conn["ticket"] == number and (name, i, cid) not in received_pairs
        )
        for name, group in conns.items()
    }
    missing = expected - set(gone)
    killed_times = [gone[(n, killed_user)] for n in numbers if (n, killed_user) in gone]
    stopped_times = [gone[(n, stopped_user)] for n in numbers if (n, stopped_user) in gone]
    per_connection = (rss_after - rss_before) / args.connections

    print(
        f"server: daphne, channel layer Redis; {args.connections} connections, "
        f"{agents} agents x {args.tickets} tickets, connected in {connect_seconds:.1f} s, "
        f"server at rest {settle_seconds:.1f} s later ({resting * 100:.0f} % of a core for "
        f"the heartbeats)"
    )
    print(
        f"comments: {len(created)} at {achieved:.1f}/s for {args.seconds:g} s from "
        f"{args.worker_processes} worker processes "
        f"(target {args.rate:g}/s; latest start {worst_lag * 1000:.0f} ms behind its time), "
        f"{expected_deliveries} deliveries expected"
    )
    if latencies:
        print(
            f"delivery commit->receipt: median {statistics.median(latencies):.1f} ms, "
            f"p95 {percentile(latencies, 0.95):.1f} ms, max {max(latencies):.1f} ms"
        )
        print(
            f"  of which the worker's after-commit work (the publisher renders and sends, "
            f"all subscribers after): median {statistics.median(publish_ms):.1f} ms, "
            f"p95 {percentile(publish_ms, 0.95):.1f} ms"
        )
    print(
        f"lost deliveries: {lost} (by process: {lost_by_group}; sockets closed early: "
        f"{ {name: r['closed'] for name, r in reports.items()} })"
    )
    print(
        f"server memory: RSS {rss_before / 1024:.1f} MB before, {rss_after / 1024:.1f} MB "
        f"with the connections: {per_connection:.1f} KB per connection"
    )
    if killed_times:
        print(
            f"presence gone after SIGKILL (socket dropped): median "
            f"{statistics.median(killed_times):.1f} s, max {max(killed_times):.1f} s"
        )
    if stopped_times:
        print(
            f"presence gone after SIGSTOP (silent socket, TTL + sweep): median "
            f"{statistics.median(stopped_times):.1f} s, max {max(stopped_times):.1f} s"
        )
    if missing:
        print(f"presence NOT gone within 90 s on {len(missing)} ticket(s)")
    expiry = max([*killed_times, *stopped_times]) if not missing else float("inf")
    p95 = percentile(latencies, 0.95) if latencies else float("inf")
    print(
        f"live: p95 {p95:.0f} ms over {args.connections} connections, lost {lost}, "
        f"presence expiry {expiry:.1f} s"
    )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
    elif len(sys.argv) > 6 and sys.argv[1] == "--worker":
        worker_main(float(sys.argv[2]), float(sys.argv[3]), *map(int, sys.argv[4:7]))
    else:
        main()
