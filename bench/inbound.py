"""Inbound mail end to end: intake, Celery workers, threading, on PostgreSQL and Redis.

Generates a corpus (default 5,400 messages, seeded) of conversations of one to six messages:
replies by In-Reply-To, by References only, by `[#n]` subject tag with and without thread
headers, and by subject alone; HTML-only mail, attachments, legacy charsets (ISO-8859-1,
windows-1252, KOI8-R, ISO-2022-JP, GB2312, Shift_JIS); auto-replies on a conversation and
alone; bounces (DSNs about mail we sent); byte-identical duplicates. It is fed in waves (the
n-th message of every conversation, then the next ones), because a tag reply needs its
ticket's number; each wave is stored in chunks of 200 through `inbound_receive_many` (the
intake of IMAP fetches and `ingest_email` on an mbox or a folder), which queues one
`process_inbound_batch` task per 100 messages (INBOUND_BATCH_SIZE), while two Celery worker
processes consume them from Redis. `--one-by-one` stores each message on its own instead, as a
webhook or an MTA pipe delivers it (processing gathers those that arrive within
INBOUND_GATHER_SECONDS into one batch; INBOUND_GATHER_SECONDS=0 gives each its own task, as
before gathering). `--trickle N` feeds N new conversations one at a time at one message per
second and reports the latency from intake to ticket (median, p95, worst).

Prints messages per second end to end (first intake to last processed), per-message latency
(received to processed: median and p95), where the time went, and for every kind of message
the share that landed where it should (a new ticket, the conversation's ticket, no ticket),
and the SQL statements per message on the door used (intake in this process, processing in the
workers).

    createdb -h 127.0.0.1 -U postgres helpdesk_bench   # once (the script also creates it)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helpdesk_bench \\
    REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/inbound.py [--conversations 1500]

Options: --workers N (Celery worker processes, solo pool, default 2), --notifications (the
workers also run outbound mail's work for every ticket and comment event; off by default so
that the figures are the inbound pipeline's), --seed, --keep (leave the tenant's data).
Each run makes a new tenant and deletes it afterwards; raw mail goes to a temporary VAR_DIR.
"""

import argparse
import base64
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Intake here and the workers must share one storage; a throwaway VAR_DIR keeps var/ clean.
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-inbound-"))

TOPICS = [
    "Printer",
    "Invoice",
    "Login",
    "Export",
    "Refund",
    "VPN",
    "Mobile",
    "Billing",
    "SSO",
    "Upgrade",
    "Crash",
    "API",
]
REPLY_SHAPES = ["in_reply_to", "references", "tag_headers", "tag_only", "subject", "auto_threaded"]
CONTENTS = ["plain", "plain", "html_only", "attachment", "legacy"]
LEGACY = [
    ("iso-8859-1", "Grüße aus Köln, ça va?"),
    ("windows-1252", "Smart “quotes” and €"),
    ("koi8-r", "Привет, принтер сломался"),
    ("iso-2022-jp", "プリンターが壊れました"),
    ("gb2312", "打印机坏了"),
    ("shift_jis", "ログインできません"),
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


# -- the corpus ------------------------------------------------------------------------------


@dataclass
class Planned:
    """One message to feed, and where it must land."""

    kind: str  # original, a reply shape, auto_alone, bounce, duplicate
    content: str
    conversation: int | None  # index of its conversation, if any
    expect: str  # "new", "same" (the conversation's ticket) or "none" (no ticket)
    build: object  # callable(tickets) -> bytes; tickets maps conversation -> (pk, number)
    raw: bytes = b""
    row_id: int | None = None
    duplicate_of: "Planned | None" = None


@dataclass
class Conversation:
    index: int
    sender: str
    subject: str
    length: int
    ids: list[str] = field(default_factory=list)


def _message(
    *, sender, to, subject, content, rng, message_id="", in_reply_to="", references=(), headers=None
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    if message_id:
        msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in (headers or {}).items():
        msg[name] = value
    _body(msg, content, rng)
    return bytes(msg)


def _body(msg: EmailMessage, content: str, rng: random.Random) -> None:
    text = f"Hello,\n\n{rng.choice(TOPICS)} trouble again, case {rng.randrange(10**6)}.\n\nThanks\n"
    if content == "html_only":
        msg.set_content(
            f"<html><body><p>{text}</p><p><b>Bold</b> words.</p></body></html>", subtype="html"
        )
    elif content == "legacy":
        charset, words = rng.choice(LEGACY)
        msg.set_content(
            f"{words}\n\n{text}",
            charset=charset,
            cte="quoted-printable" if charset not in ("iso-2022-jp",) else "7bit",
        )
    else:
        msg.set_content(text)
        if content == "attachment":
            msg.add_attachment(PNG, maintype="image", subtype="png", filename="screenshot.png")
            msg.add_attachment(
                b"%PDF-1.4 " + rng.randbytes(2000),
                maintype="application",
                subtype="pdf",
                filename="invoice.pdf",
            )


def _dsn(original_id: str, recipient: str, rng: random.Random) -> bytes:
    boundary = f"dsn{rng.randrange(10**9)}"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.bounce.test>\r\n"
        f"To: {{to}}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn.{rng.randrange(10**12)}@mx.bounce.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        f'boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.bounce.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {{to}}\r\nTo: {recipient}\r\nMessage-ID: <{original_id}>\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


class CorpusBuilder:
    def __init__(self, *, conversations: int, seed: int, to: str, org_id: int):
        self.rng = random.Random(seed)
        self.to, self.org_id = to, org_id
        self.conversations = [
            Conversation(
                i,
                f"Customer {i} <c{i}@cust{i % 97}.bench.test>",
                f"{self.rng.choice(TOPICS)} problem {i}",
                self.rng.randint(1, 6),
            )
            for i in range(conversations)
        ]
        self.shape_turn = 0

    def waves(self) -> list[list[Planned]]:
        longest = max(c.length for c in self.conversations)
        waves = []
        for position in range(longest):
            wave = [self._planned(c, position) for c in self.conversations if c.length > position]
            if position > 0:
                wave += self._noise(len(wave))
            self.rng.shuffle(wave)
            # Redeliveries come after the message they repeat (they carry its bytes).
            waves.append(wave + self._duplicates(wave))
        return waves

    def _planned(self, conv: Conversation, position: int) -> Planned:
        content = self.rng.choice(CONTENTS)
        message_id = f"b{conv.index}.{position}.{self.rng.randrange(10**9)}@cust.bench.test"
        if position == 0:
            conv.ids.append(message_id)
            raw = self._mail(conv, conv.subject, content, message_id)
            return Planned("original", content, conv.index, "new", lambda t, raw=raw: raw)
        shape = REPLY_SHAPES[self.shape_turn % len(REPLY_SHAPES)]
        self.shape_turn += 1
        previous, root = conv.ids[-1], conv.ids[0]
        conv.ids.append(message_id)
        build = self._reply(conv, shape, content, message_id, previous, root)
        return Planned(shape, content, conv.index, "same", build)

    def _reply(self, conv, shape, content, message_id, previous, root):
        mail = self._mail
        if shape == "in_reply_to":
            raw = mail(
                conv,
                f"Re: {conv.subject}",
                content,
                message_id,
                in_reply_to=previous,
                references=[root, previous],
            )
            return lambda t: raw
        if shape == "references":  # a new subject: only References can thread it
            raw = mail(conv, "One more detail", content, message_id, references=[root, previous])
            return lambda t: raw
        if shape == "subject":  # the client dropped every thread header
            raw = mail(conv, f"AW: {conv.subject}", content, message_id)
            return lambda t: raw
        if shape == "tag_headers":
            return lambda t: mail(
                conv,
                f"Re: [#{t[conv.index][1]}] {conv.subject}",
                content,
                message_id,
                in_reply_to=previous,
            )
        if shape == "tag_only":  # a new subject and no headers: only the tag threads it
            return lambda t: mail(conv, f"[#{t[conv.index][1]}] Follow-up", content, message_id)
        # An out-of-office answering our notification (signed Message-ID) files on the ticket.
        from tickets.mail_tokens import make_message_id

        def auto(t):
            ours = make_message_id(self.org_id, t[conv.index][0])
            return mail(
                conv,
                f"Out of office: {conv.subject}",
                "plain",
                message_id,
                in_reply_to=ours,
                headers={"Auto-Submitted": "auto-replied"},
            )

        return auto

    def _mail(self, conv, subject, content, message_id, **kwargs) -> bytes:
        return _message(
            sender=conv.sender,
            to=self.to,
            subject=subject,
            content=content,
            rng=self.rng,
            message_id=message_id,
            **kwargs,
        )

    def _noise(self, count: int) -> list[Planned]:
        noise = []
        for _ in range(max(1, count // 25)):
            raw = _message(
                sender=f"away{self.rng.randrange(10**6)}@else.bench.test",
                to=self.to,
                subject="Automatic reply: on holiday",
                content="plain",
                rng=self.rng,
                message_id=f"auto.{self.rng.randrange(10**12)}@else.bench.test",
                headers={"Auto-Submitted": "auto-replied"},
            )
            noise.append(Planned("auto_alone", "plain", None, "none", lambda t, raw=raw: raw))
        for _ in range(max(1, count // 25)):
            conv = self.rng.choice(self.conversations)
            noise.append(Planned("bounce", "plain", conv.index, "same", self._bounce(conv)))
        return noise

    def _bounce(self, conv: Conversation):
        from tickets.mail_tokens import make_message_id

        seed = self.rng.randrange(10**9)

        def build(t):
            ours = make_message_id(self.org_id, t[conv.index][0])
            recipient = conv.sender.split("<")[1].rstrip(">")
            return _dsn(ours, recipient, random.Random(seed)).replace(b"{to}", self.to.encode())

        return build

    def _duplicates(self, wave: list[Planned]) -> list[Planned]:
        picked = self.rng.sample(wave, max(1, len(wave) // 30))
        return [
            Planned("duplicate", p.content, p.conversation, "dup", None, duplicate_of=p)
            for p in picked
        ]


# -- running it ------------------------------------------------------------------------------


class StatementCounter:
    """A Django execute wrapper that counts the statements sent (executemany counts once)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def statements_dir() -> Path:
    return Path(os.environ["VAR_DIR"]) / "bench-statements"


def count_worker_statements() -> None:
    """In a worker: count every statement of every connection, written out at shutdown."""
    from celery.signals import worker_shutdown
    from django.db.backends.signals import connection_created

    counter = StatementCounter()

    def on_connection(sender, connection, **kwargs):
        if counter not in connection.execute_wrappers:  # a reopened connection keeps it
            connection.execute_wrappers.append(counter)

    def on_shutdown(**kwargs):
        statements_dir().mkdir(exist_ok=True)
        (statements_dir() / str(os.getpid())).write_text(str(counter.count))

    connection_created.connect(on_connection, weak=False)
    worker_shutdown.connect(on_shutdown, weak=False)


def worker_statements() -> int:
    """What the stopped workers counted (and forget it, for the next run)."""
    total = 0
    for path in statements_dir().glob("*") if statements_dir().exists() else []:
        total += int(path.read_text())
        path.unlink()
    return total


def ensure_database(url: str) -> None:
    import psycopg

    dbname = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            conn.execute(f'CREATE DATABASE "{dbname}"')


def start_workers(count: int, notifications: bool) -> list[subprocess.Popen]:
    """`count` Celery worker processes on Redis, each a `solo` pool: one process that fetches
    and runs its tasks (prefork would add a dispatching parent and a pipe hop per task).
    Started through this script so that the notification subscribers can be left out."""
    command = [sys.executable, __file__, "--run-worker", "1"]
    if notifications:
        command.append("--notifications")
    return [
        subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), start_new_session=True)
        for _ in range(count)
    ]


def run_worker(count: int, notifications: bool) -> None:
    import django

    django.setup()
    from config.celery import app
    from tickets import events

    if not notifications:
        # Measure the inbound pipeline alone: outbound mail (issue 4) subscribes to the domain
        # events a new ticket or comment fires and would share the two workers.
        events._subscribers.clear()
    count_worker_statements()
    app.worker_main(
        [
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"bench-{os.getpid()}@%h",
        ]
    )


def stop_workers(workers: list[subprocess.Popen]) -> None:
    import signal

    for process in workers:
        os.killpg(process.pid, signal.SIGTERM)
    for process in workers:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_idle(org, workers: list[subprocess.Popen], timeout: float = 600) -> None:
    """Until no message of the tenant waits; fails early when a worker is gone."""
    from inbound_mail.models import InboundMessage
    from tenants.scoping import tenant_scope

    deadline = time.monotonic() + timeout
    with tenant_scope(org):
        pending = InboundMessage.objects.filter(status="received")
        while pending.exists():
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise SystemExit("the workers stopped or did not finish in time")
            time.sleep(0.02)


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat (Linux)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def cpu_busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def process_seconds(pids) -> dict[int, float]:
    """CPU seconds (user + system) each live process has used so far, from /proc/<pid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def pipeline_pids(workers: list[subprocess.Popen]) -> dict[str, list[int]]:
    """Our processes: this one, the Celery workers, and this database's backends."""
    from django.db import connection

    groups = {w.pid for w in workers}
    group = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[2]) in groups:
                group.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        backends = [pid for (pid,) in cursor.fetchall()]
    return {
        "intake (this process)": [os.getpid()],
        "Celery workers": group,
        "PostgreSQL backends": backends,
    }


def build(wave: list[Planned], tickets: dict) -> tuple[float, float]:
    """Render the wave's messages (tag replies and bounces need last wave's tickets); returns
    (wall, CPU) seconds, which are not the pipeline's and are left out of its figures."""
    wall, cpu = time.perf_counter(), time.process_time()
    for planned in wave:
        if planned.duplicate_of is not None:
            planned.raw = planned.duplicate_of.raw
        else:
            planned.raw = planned.build(tickets)
    return time.perf_counter() - wall, time.process_time() - cpu


def feed(wave: list[Planned], services, one_by_one: bool, counter: StatementCounter) -> float:
    """Store the wave as the doors do: in chunks, as an IMAP fetch or an mbox arrives
    (inbound_receive_many: one transaction, one processing task per INBOUND_BATCH_SIZE), or one
    message at a time, as ESP webhooks and an MTA pipe deliver (`--one-by-one`)."""
    from django.db import connection

    with connection.execute_wrapper(counter):
        return _feed(wave, services, one_by_one)


def _feed(wave: list[Planned], services, one_by_one: bool) -> float:
    started = time.perf_counter()
    if one_by_one:
        for planned in wave:
            receipt = services.inbound_receive(raw=planned.raw, source="command")
            planned.row_id = receipt.inbound_ids[0]
        return time.perf_counter() - started
    for start in range(0, len(wave), FEED_CHUNK):
        chunk = wave[start : start + FEED_CHUNK]
        receipts = services.inbound_receive_many(raws=[p.raw for p in chunk], source="command")
        for planned, receipt in zip(chunk, receipts, strict=True):
            planned.row_id = receipt.inbound_ids[0]
    return time.perf_counter() - started


# Messages per intake call when feeding in chunks (ingest_email uses the same size).
FEED_CHUNK = 200


def conversation_tickets(org, wave: list[Planned], tickets: dict) -> None:
    from inbound_mail.models import InboundMessage
    from tenants.scoping import tenant_scope

    originals = {p.row_id: p.conversation for p in wave if p.kind == "original"}
    with tenant_scope(org):
        rows = InboundMessage.objects.filter(pk__in=originals).values_list(
            "pk", "ticket_id", "ticket__number"
        )
        for pk, ticket_id, number in rows:
            if ticket_id is not None:
                tickets[originals[pk]] = (ticket_id, number)


def judge(org, waves: list[list[Planned]], tickets: dict) -> tuple[dict, list[float], int]:
    from inbound_mail.models import InboundMessage
    from tenants.scoping import tenant_scope
    from tickets.models import Ticket

    with tenant_scope(org):
        rows = {
            r["pk"]: r
            for r in InboundMessage.objects.values(
                "pk", "ticket_id", "status", "reason", "received_at", "processed_at"
            )
        }
        ticket_count = Ticket.objects.count()
    results: dict[str, Counter] = defaultdict(Counter)
    for planned in (p for wave in waves for p in wave):
        row = rows[planned.row_id]
        ok = _placed_right(planned, row, tickets)
        results[planned.kind][ok] += 1
        if planned.duplicate_of is None:
            results[f"content:{planned.content}"][ok] += 1
    latencies = [
        (r["processed_at"] - r["received_at"]).total_seconds()
        for r in rows.values()
        if r["processed_at"]
    ]
    return results, latencies, ticket_count


def _placed_right(planned: Planned, row: dict, tickets: dict) -> bool:
    if row["status"] not in ("processed", "ignored"):
        return False
    if planned.expect == "dup":
        return planned.row_id == planned.duplicate_of.row_id
    if planned.expect == "none":
        return row["ticket_id"] is None
    conversation_ticket = tickets.get(planned.conversation, (None,))[0]
    if planned.expect == "new":
        return row["ticket_id"] == conversation_ticket and row["reason"] == "new ticket"
    return row["ticket_id"] == conversation_ticket is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the bench tenant's data")
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="store and process each message on its own (webhook and MTA-pipe doors)",
    )
    parser.add_argument(
        "--trickle",
        type=int,
        metavar="N",
        help="feed N new conversations one at a time, one message per second; report latency",
    )
    parser.add_argument(
        "--notifications",
        action="store_true",
        help="let the workers also do outbound mail's work for each event",
    )
    parser.add_argument("--run-worker", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_worker:
        run_worker(args.run_worker, args.notifications)
        return
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or not os.environ.get("REDIS_URL"):
        raise SystemExit("set DATABASE_URL (PostgreSQL) and REDIS_URL; see the docstring")
    ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args)


def run(args) -> None:
    from config.celery import app
    from inbound_mail.models import InboundAddress
    from tenants import services as tenant_services
    from tenants.scoping import tenant_scope

    app.control.purge()  # leftovers of an interrupted run must not be counted
    slug = f"bench{int(time.time())}"
    org = tenant_services.organization_create(slug=slug, name="Bench")
    address = f"support@{slug}.bench.test"
    with tenant_scope(org):
        InboundAddress.objects.create(organization=org, address=address, is_default=True)
    builder = CorpusBuilder(
        conversations=args.conversations, seed=args.seed, to=address, org_id=org.pk
    )
    waves = builder.waves()
    if args.trickle:
        trickle(org, [p for p in waves[0] if p.duplicate_of is None][: args.trickle], args)
        if not args.keep:
            cleanup(org)
        return
    total = sum(len(w) for w in waves)
    print(
        f"{total} messages in {len(waves)} waves, {args.conversations} conversations; "
        f"{args.workers} worker processes; outbound notifications "
        f"{'on' if args.notifications else 'off'}; intake "
        f"{'one message at a time' if args.one_by_one else f'in chunks of {FEED_CHUNK}'}"
    )
    measured = drive(org, waves, args)
    report(
        org,
        waves,
        measured["tickets"],
        total,
        measured["elapsed"],
        measured["intake"],
        args.conversations,
    )
    report_cpu(measured["busy"], measured["spent"], total)
    report_statements(measured["statements"], total, args.one_by_one)
    if not args.keep:
        cleanup(org)


def drive(org, waves: list[list[Planned]], args) -> dict:
    """Feed the waves while the workers process them; time and CPU accounting."""
    from inbound_mail.services import intake as intake_services

    workers = start_workers(args.workers, args.notifications)
    try:
        time.sleep(3)  # the workers connect to Redis and PostgreSQL
        tickets: dict = {}
        counter = StatementCounter()
        machine_before = cpu_ticks()
        ours_before = process_seconds(p for ps in pipeline_pids(workers).values() for p in ps)
        intake, started, building = 0.0, time.perf_counter(), [0.0, 0.0]
        for wave in waves:
            wall, cpu = build(wave, tickets)
            building = [building[0] + wall, building[1] + cpu]
            intake += feed(wave, intake_services, args.one_by_one, counter)
            wait_idle(org, workers)
            conversation_tickets(org, wave, tickets)
        elapsed = time.perf_counter() - started - building[0]
        spent = {
            name: sum(process_seconds(pids).values())
            - sum(ours_before.get(pid, 0.0) for pid in pids)
            for name, pids in pipeline_pids(workers).items()
        }
        spent["intake (this process)"] -= building[1]
        busy = cpu_busy_share(machine_before, cpu_ticks())
    finally:
        stop_workers(workers)
    statements = (counter.count, worker_statements())
    return {
        "tickets": tickets,
        "elapsed": elapsed,
        "intake": intake,
        "busy": busy,
        "spent": spent,
        "statements": statements,
    }


def wait_ready(count: int, timeout: float = 120) -> None:
    """Until every worker answers a ping (it has connected and consumes)."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    while len(app.control.ping(timeout=1.0)) < count:
        if time.monotonic() > deadline:
            raise SystemExit("the workers did not start in time")


def trickle(org, planned: list[Planned], args) -> None:
    """Mail trickling in: one new conversation a second, each stored on its own (a webhook);
    the latency of each from the moment intake is called to its processed_at (written in the
    transaction that opens its ticket, as it commits)."""
    from django.db import connection

    from inbound_mail.models import InboundMessage
    from inbound_mail.services import intake as intake_services
    from tenants.scoping import tenant_scope

    workers = start_workers(args.workers, args.notifications)
    counter = StatementCounter()
    fed: dict[int, float] = {}
    try:
        wait_ready(len(workers))  # a busy machine takes long to start them; latency is measured
        build(planned, {})
        machine_before, started = cpu_ticks(), time.monotonic()
        for n, message in enumerate(planned):
            time.sleep(max(0.0, started + n - time.monotonic()))
            at = time.time()
            with connection.execute_wrapper(counter):
                receipt = intake_services.inbound_receive(raw=message.raw, source="webhook")
            message.row_id = receipt.inbound_ids[0]
            fed[message.row_id] = at
        wait_idle(org, workers)
        busy = cpu_busy_share(machine_before, cpu_ticks())
    finally:
        stop_workers(workers)
    with tenant_scope(org):
        rows = InboundMessage.objects.filter(pk__in=fed).values_list(
            "pk", "status", "reason", "processed_at"
        )
        outcomes = {pk: (status, reason, done) for pk, status, reason, done in rows}
    latencies = sorted(
        outcomes[pk][2].timestamp() - at for pk, at in fed.items() if outcomes[pk][2]
    )
    placed = sum(o[:2] == ("processed", "new ticket") for o in outcomes.values())
    p95 = latencies[max(0, math.ceil(len(latencies) * 0.95) - 1)]
    print(
        f"trickle: {len(planned)} messages at 1 per second, each stored on its own; "
        f"INBOUND_GATHER_SECONDS={settings_value('INBOUND_GATHER_SECONDS')}"
    )
    print(
        f"latency intake -> ticket: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, worst {latencies[-1] * 1000:.0f} ms"
    )
    print(f"placement: {placed} / {len(planned)} new tickets")
    print("slowest:", ", ".join(f"{seconds * 1000:.0f} ms" for seconds in latencies[-5:]))
    print(f"CPU busy during the run: {busy:.0%} of {os.cpu_count()} cores (the whole machine)")
    report_statements((counter.count, worker_statements()), len(planned), True)


def settings_value(name: str):
    from django.conf import settings

    return getattr(settings, name, None)


def report_statements(statements: tuple[int, int], total: int, one_by_one: bool) -> None:
    intake, processing = statements
    door = (
        "inbound_receive, one message per call (webhook, pipe, LMTP)"
        if one_by_one
        else f"inbound_receive_many, {FEED_CHUNK} per call (IMAP fetch, mbox)"
    )
    print(f"SQL statements per message, door {door}:")
    print(f"  intake (this process)    {intake / total:6.1f}")
    print(f"  processing (workers)     {processing / total:6.1f}")
    print(f"  together                 {(intake + processing) / total:6.1f}")


def report_cpu(busy: float, spent: dict[str, float], total: int) -> None:
    cores = os.cpu_count()
    print(f"CPU busy during the run: {busy:.0%} of {cores} cores (the whole machine)")
    print("CPU time per message, by process:")
    for name, seconds in spent.items():
        print(f"  {name:24} {seconds * 1000 / total:6.1f} ms")
    per_message = sum(spent.values()) / total
    print(
        f"  {'together':24} {per_message * 1000:6.1f} ms, so at most "
        f"{cores / per_message:.0f} messages/s on {cores} otherwise idle cores"
    )


def report(org, waves, tickets, total, elapsed, intake_seconds, conversations) -> None:
    results, latencies, ticket_count = judge(org, waves, tickets)
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1]
    print(
        f"throughput: {total / elapsed:.0f} messages/s end to end ({total} in {elapsed:.1f} s; "
        f"intake alone {total / intake_seconds:.0f} messages/s in this one process)"
    )
    print(
        f"latency per message (received -> processed): median "
        f"{statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
    )
    print(f"tickets: {ticket_count} for {conversations} conversations")
    print("placement (right / all):")
    for kind in sorted(results):
        right, wrong = results[kind][True], results[kind][False]
        print(f"  {kind:24} {right:5} / {right + wrong:5}  {100 * right / (right + wrong):6.2f} %")


def cleanup(org) -> None:
    from django_scopes import scopes_disabled

    from tickets.models import Ticket

    # The bench tenant and everything it owns; nothing else is touched. Tickets first: they
    # protect the contacts, statuses and priorities they point at.
    with scopes_disabled():  # only the bench tenant's rows
        Ticket.objects.filter(organization=org).delete()
        org.delete()


if __name__ == "__main__":
    main()
