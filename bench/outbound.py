"""Outgoing mail under load: domain events through the outbox to an SMTP server on loopback.

Creates (fresh on every run) one tenant with 500 tickets without announcing anything, then
announces their domain events as fast as it can, the way `tickets.services` does after commit.
Two real Celery worker processes (Redis broker, PostgreSQL) turn each event into outbox rows
(render, brand, thread headers, loop checks), claim them and send them over SMTP to an aiosmtpd
server in this process. The debounce is off (0 s), so nothing waits. 5,000 messages either way:

- `--shape mixed` (default): per ticket, TICKET_CREATED (a confirmation to the requester and an
  alert to each of the team's 4 agents) and one agent reply (to the requester and 4 people on
  copy): 10 messages from 2 events, as a helpdesk's mail looks.
- `--shape single`: per ticket, 10 agent replies to the requester alone: one message per event,
  the worst case for per-event overhead.

All events are announced in one burst (as fast as one process can), which measures throughput;
the time from event to delivery then is mostly waiting in the queue. `--rate N` announces N
events per second instead, which measures that time under a load the workers keep up with.
Prints messages per second (first event to last delivery), p50/p95/max time from each message's
event to its arrival, and anything sent twice or not at all.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_bench \
    REDIS_URL=redis://127.0.0.1:6379/2 .venv/bin/python bench/outbound.py \
        [--tickets 500] [--shape mixed|single] [--workers 2] [--rate N] [--profile]

The database is created if missing and migrated. Tasks go through a queue of their own
(`bench-outbound`, purged first) so that nothing else on the same Redis is consumed or mixed in.
`--profile` runs the same events in this process instead (tasks eager) under cProfile and
prints where the time goes: how the figures were investigated.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The tenant's SMTP server is this script's loopback server, which production refuses (SSRF).
os.environ["OUTBOUND_SMTP_ALLOW_PRIVATE_HOSTS"] = "true"

MESSAGE_ID_RE = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.M | re.I)


# -- the receiving SMTP server ---------------------------------------------------------------------


class Receiver:
    """aiosmtpd handler that notes when each Message-ID arrived (no parsing beyond that)."""

    def __init__(self):
        self.arrivals: dict[str, list[float]] = {}
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        match = MESSAGE_ID_RE.search(envelope.original_content or envelope.content)
        key = match.group(1).decode() if match else "?"
        with self._lock:
            self.arrivals.setdefault(key, []).append(now)
            self.count += 1
        return "250 2.0.0 Ok: queued"


def start_smtp(receiver: Receiver):
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs every SMTP command

    from tests.peers.smtp import _Controller

    controller: Controller = _Controller(
        receiver, hostname="127.0.0.1", port=0, server_hostname="bench.test"
    )
    controller.start()
    return controller


# -- data ------------------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    import psycopg

    dbname = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


@dataclass
class Workload:
    organization: object
    events: list  # DomainEvents, announced in order
    expected: int  # messages they should produce


def build(tickets: int, shape: str, smtp_port: int) -> Workload:
    """A fresh tenant sending through the loopback server, and the events to announce."""
    from django_scopes import scopes_disabled

    from outbound_mail.services.connections import mail_settings_save, smtp_connection_save
    from tenants import services as tenant_services
    from tenants.models import Organization
    from tenants.scoping import tenant_scope
    from tickets import events
    from tickets.models import Ticket

    with scopes_disabled():  # a benchmark's own tenant, rebuilt from nothing each run
        Ticket.objects.filter(organization__slug="bench-outbound").delete()  # they PROTECT
        Organization.objects.filter(slug="bench-outbound").delete()
    org = tenant_services.organization_create(slug="bench-outbound", name="Bench Outbound")
    with tenant_scope(org), events.muted():
        agents = [
            tenant_services.user_get_or_create(email=f"agent{n}@bench-outbound.test", name=f"A{n}")
            for n in range(AGENTS)
        ]
        for agent in agents:
            tenant_services.membership_add(organization=org, user=agent, role="agent")
        team = tenant_services.team_create(organization=org, name="Support", members=agents[1:])
        smtp_connection_save(
            organization=org, enabled=True, host="127.0.0.1", port=smtp_port, security="none",
            from_address="support@bench-outbound.test", from_name="", reply_to_address="",
        )  # fmt: skip
        mail_settings_save(organization=org, debounce_seconds=0, auto_mail_limit=1000)
        build_shape = {"mixed": _mixed, "single": _single}[shape]
        event_list, expected = build_shape(org, agents[0], team, tickets)
    return Workload(org, event_list, expected)


AGENTS = 5  # one replies; the other four are the ticket's team and hear of new tickets
REPLIES = 10  # --shape single: replies per ticket, one message each


def _mixed(org, agent, team, tickets):
    """Per ticket: created by mail (confirmation + 4 team alerts), then one agent reply to the
    requester and 4 people on copy: 10 messages from 2 events."""
    from tickets import events
    from tickets.services.comments import comment_create
    from tickets.services.tickets import ticket_create

    found = []
    for i in range(tickets):
        requester = _contact(org, f"customer{i}@example.test")
        ticket = ticket_create(
            organization=org, subject=f"Bench ticket {i}", requester=requester, team=team,
            body_text="It does not work.", source="email", message_id=f"first{i}@example.test",
            collaborators=[_contact(org, f"cc{i}.{n}@example.test") for n in range(4)],
        )  # fmt: skip
        found.append(events.DomainEvent(events.TICKET_CREATED, org.pk, ticket.pk, None,
                                        {"source": "email", "by_contact": True}))  # fmt: skip
        reply = comment_create(ticket=ticket, body_text=f"We are on it (#{i}).", author_user=agent)
        found.append(_reply_event(org, ticket, agent, reply))
    return found, tickets * 10


def _single(org, agent, team, tickets):
    """Per ticket: ten agent replies to the requester alone: one message per event."""
    from tickets.services.comments import comment_create
    from tickets.services.tickets import ticket_create

    found = []
    for i in range(tickets):
        requester = _contact(org, f"customer{i}@example.test")
        ticket = ticket_create(
            organization=org, subject=f"Bench ticket {i}", requester=requester,
            body_text="It does not work.", message_id=f"first{i}@example.test",
        )  # fmt: skip
        for n in range(REPLIES):
            reply = comment_create(ticket=ticket, body_text=f"Reply {n}.", author_user=agent)
            found.append(_reply_event(org, ticket, agent, reply))
    return found, tickets * REPLIES


def _contact(org, email):
    from tickets.services.contacts import contact_get_or_create

    return contact_get_or_create(organization=org, email=email)


def _reply_event(org, ticket, agent, comment):
    from tickets import events

    data = {"comment_id": comment.pk, "public": True, "send_now": False,
            "by_contact": False, "auto_generated": False}  # fmt: skip
    return events.DomainEvent(events.COMMENT_ADDED, org.pk, ticket.pk, agent.pk, data)


# -- workers ---------------------------------------------------------------------------------------


QUEUE = "bench-outbound"


def start_workers(n: int) -> list[subprocess.Popen]:
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "LOG_LEVEL": "WARNING"}
    log_level = os.environ.get("WORKER_LOG", "WARNING")  # INFO shows each task's duration
    command = [
        str(ROOT / ".venv/bin/celery"), "-A", "config", "worker", "--pool=solo", "-Q", QUEUE,
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", log_level,
    ]  # fmt: skip
    return [subprocess.Popen([*command, "-n", f"bench{i}@%h"], cwd=ROOT, env=env) for i in range(n)]


def wait_for_workers(n: int) -> None:
    from config.celery import app

    deadline = time.time() + 60
    while time.time() < deadline:
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= n:
            return
    raise SystemExit(f"only {len(replies)} of {n} workers answered")


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()


# -- the run ---------------------------------------------------------------------------------------


def announce(workload: Workload, rate: float = 0) -> dict[tuple, float]:
    """Emit every event (as the services do after commit), all at once or `rate` per second;
    when each went out, by its key."""
    from tickets import events

    emitted: dict[tuple, float] = {}
    started = time.time()
    for n, event in enumerate(workload.events):
        if rate:
            time.sleep(max(0.0, started + n / rate - time.time()))
        emitted[_event_key(event)] = time.time()
        events.emit(event)
    return emitted


def _event_key(event) -> tuple:
    if "comment_id" in event.data:
        return ("comment", event.data["comment_id"])
    return ("ticket", event.ticket_id)


def wait_for_mail(receiver: Receiver, expected: int, timeout: float) -> None:
    deadline, last, last_change = time.time() + timeout, -1, time.time()
    while receiver.count < expected and time.time() < deadline:
        if receiver.count != last:
            last, last_change = receiver.count, time.time()
        elif time.time() - last_change > 30:
            break  # nothing arrived for 30 s: report what did
        time.sleep(0.05)


def report(workload: Workload, emitted: dict[tuple, float], receiver: Receiver) -> None:
    """Latency: from the event a message came from to the message's arrival."""
    from outbound_mail.models import OutgoingMessage, OutgoingMessageComment
    from tenants.scoping import tenant_scope

    with tenant_scope(workload.organization):
        event_of = {
            mid: ("ticket", ticket_id)
            for mid, ticket_id in OutgoingMessage.objects.values_list("message_id", "ticket_id")
        }
        replies = OutgoingMessageComment.objects.filter(message__kind="agent_reply")
        for mid, comment_id in replies.values_list("message__message_id", "comment_id"):
            event_of[mid] = ("comment", comment_id)
        statuses = Counter(OutgoingMessage.objects.values_list("status", flat=True))
    arrivals = receiver.arrivals
    if not arrivals:
        raise SystemExit(f"nothing arrived; outbox rows by status: {dict(statuses)}")
    latencies = sorted(
        times[0] - emitted[event_of[mid]] for mid, times in arrivals.items() if mid in event_of
    )
    twice = sum(len(times) - 1 for times in arrivals.values())
    first_event = min(emitted.values())
    elapsed = max(t for times in arrivals.values() for t in times) - first_event
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    print(f"events announced:      {len(workload.events)} in "
          f"{max(emitted.values()) - first_event:.2f} s")  # fmt: skip
    print(f"messages delivered:    {len(arrivals)} of {workload.expected} (sent twice: {twice})")
    print(f"outbox rows by status: {dict(sorted(statuses.items()))}")
    print(f"elapsed:               {elapsed:.2f} s (first event to last delivery)")
    print(f"throughput:            {len(arrivals) / elapsed:.0f} messages/s (target >= 200)")
    print(f"event to delivery:     p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")  # fmt: skip


def profile(tickets: int, shape: str) -> None:
    """The same events in this process (tasks eager, one worker's work) under cProfile."""
    import cProfile
    import pstats

    from config.celery import app

    receiver = Receiver()
    controller = start_smtp(receiver)
    workload = build(tickets, shape, controller.port)
    app.conf.task_always_eager = True
    profiler = cProfile.Profile()
    started = time.time()
    profiler.enable()
    announce(workload)
    profiler.disable()
    took = time.time() - started
    controller.stop()
    print(f"{len(workload.events)} events, {receiver.count} messages in {took:.2f} s in one "
          f"process under cProfile ({receiver.count / took:.0f} messages/s)")  # fmt: skip
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--shape", choices=["mixed", "single"], default="mixed")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0, help="events per second; 0: a burst")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL; see the docstring")
    ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if args.profile:
        profile(args.tickets, args.shape)
        return
    run(args)


def run(args) -> None:
    from config.celery import app

    receiver = Receiver()
    controller = start_smtp(receiver)
    print(f"building {args.tickets} tickets ({args.shape}) ...", flush=True)
    workload = build(args.tickets, args.shape, controller.port)
    app.conf.task_default_queue = QUEUE
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)
    workers = start_workers(args.workers)
    try:
        wait_for_workers(args.workers)
        emitted = announce(workload, args.rate)
        wait_for_mail(receiver, workload.expected, timeout=600)
        report(workload, emitted, receiver)
    finally:
        stop_workers(workers)
        controller.stop()


if __name__ == "__main__":
    main()
