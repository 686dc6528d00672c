"""The MTA doors: messages stored per second through the LMTP server and through the mailgate,
with 4 concurrent senders each, on PostgreSQL and Redis.

LMTP: `manage.py lmtp_server` (4 intake threads) and 4 sender threads, each on one LMTP
connection delivering message after message, as Postfix's LMTP client does with its connection
cache; every reply is read and must be 250. Mailgate: gunicorn (4 workers) serving the web, and
4 sender threads, each starting `bin/helpdesk-mailgate` once per message, as a pipe transport
does; every exit status must be 0. A message counts when its door acknowledged it, and at the
end every one must be a row of the bench tenant. No worker runs: the figures are the doors'
(storage and commit); the processing tasks queued meanwhile are purged afterwards.

Also prints the SQL statements one message costs through each door's intake (counted in this
process on the same code path), and the mailgate's start-up (wall and CPU time of a run that
exits at once, against a bare interpreter).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/helper_doors_bench \\
    REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/doors.py [--messages 1000]

Options: --messages N per door (default 1000 for LMTP, a quarter of it for the mailgate),
--senders N (default 4), --python PATH (the interpreter running the mailgate; default
/usr/bin/python3, what an MTA's PATH finds).
"""

import argparse
import os
import resource
import secrets
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The doors and this script must share one storage; a throwaway VAR_DIR keeps var/ clean.
os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-doors-"))
os.environ.setdefault("MAILGATE_SECRET", secrets.token_urlsafe(32))
MAILGATE = ROOT / "bin" / "helpdesk-mailgate"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def message(to: str, n: int, sender_index: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Customer {sender_index} <customer{sender_index}@example.net>"
    msg["To"] = to
    msg["Subject"] = f"Door bench message {n}"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content(f"Message {n} from sender {sender_index}.\n\n" + "Some text. " * 40)
    return bytes(msg).replace(b"\n", b"\r\n")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a door exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system) of a process and its live children (gunicorn's workers)."""
    pids = [pid] + [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _stat(int(entry.name))[1] == pid
    ]
    return sum(_stat(p)[0] for p in pids) / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, int]:
    """(utime + stime in ticks, parent pid) from /proc; (0, 0) for a process gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0
    return int(fields[11]) + int(fields[12]), int(fields[1])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_senders(senders: int, per_sender: int, send) -> tuple[float, list[str]]:
    """Start `senders` threads, each calling send(index, count); seconds and failures."""
    failures: list[str] = []
    barrier = threading.Barrier(senders + 1)

    def sender(index: int) -> None:
        barrier.wait()
        try:
            send(index, per_sender)
        except Exception as exc:  # a failure is reported, not hidden in a thread
            failures.append(f"sender {index}: {exc}")

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, failures


def bench_lmtp(address: str, senders: int, total: int, env: dict) -> tuple[int, float, float]:
    port = free_port()
    cmd = [sys.executable, "manage.py", "lmtp_server", "--port", str(port), "--threads", "4"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, proc)

        def send(index: int, count: int) -> None:
            with smtplib.LMTP("127.0.0.1", port, timeout=60) as client:
                client.ehlo_or_helo_if_needed()
                for n in range(count):
                    client.mail(f"customer{index}@example.net")
                    client.rcpt(address)
                    code, text = client.data(message(address, n, index))
                    if code != 250:
                        raise RuntimeError(f"LMTP answered {code} {text!r}")

        cpu_before = cpu_seconds(proc.pid)
        seconds, failures = run_senders(senders, total // senders, send)
        cpu = cpu_seconds(proc.pid) - cpu_before
    finally:
        stop(proc)
    if failures:
        raise SystemExit("\n".join(failures))
    return senders * (total // senders), seconds, cpu


def bench_mailgate(
    address: str, senders: int, total: int, env: dict, python: str
) -> tuple[int, float, float, float]:
    port = free_port()
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "4",
        "--preload",  # Django loads before the port opens: the workers' start is not measured
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    secret_file = Path(os.environ["VAR_DIR"]) / "mailgate-secret"
    secret_file.write_text(os.environ["MAILGATE_SECRET"])
    url = f"http://localhost:{port}/inbound/mailgate/"
    argv = [python, str(MAILGATE), "--url", url, "--secret-file", str(secret_file)]
    try:
        wait_port(port, proc)

        def send(index: int, count: int) -> None:
            for n in range(count):
                done = subprocess.run(
                    [*argv, f"--recipient={address}"],
                    input=message(address, n, index),
                    capture_output=True,
                    env={"PATH": "/usr/bin:/bin"},
                    check=False,
                )
                if done.returncode != 0:
                    raise RuntimeError(f"mailgate exited {done.returncode}: {done.stderr!r}")

        cpu_before, clients_before = cpu_seconds(proc.pid), _children_cpu()
        seconds, failures = run_senders(senders, total // senders, send)
        cpu = cpu_seconds(proc.pid) - cpu_before
        clients = _children_cpu() - clients_before  # the mailgate processes, all waited for
    finally:
        stop(proc)
    if failures:
        raise SystemExit("\n".join(failures))
    return senders * (total // senders), seconds, cpu, clients


def startup(python: str, runs: int = 20) -> tuple[float, float, float, float]:
    """Median wall and CPU milliseconds of the mailgate exiting at once (no URL: exit 75), and
    of a bare interpreter."""

    def measure(argv: list[str]) -> tuple[float, float]:
        walls, cpus = [], []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(argv, env={"PATH": "/usr/bin:/bin"}, capture_output=True, check=False)
            walls.append((time.perf_counter() - started) * 1000)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(
                (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
            )
        return statistics.median(walls), statistics.median(cpus)

    gate = measure([python, str(MAILGATE)])
    bare = measure([python, "-c", "pass"])
    return gate[0], gate[1], bare[0], bare[1]


def statements_per_message(org, address: str) -> tuple[int, int]:
    """Statements of one message through each door's intake (a fresh message, PostgreSQL)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from inbound_mail import lmtp

    with CaptureQueriesContext(connection) as lmtp_queries:
        lmtp.store(message(address, 0, 99), [address])
    client = Client(HTTP_HOST="localhost")
    token = os.environ["MAILGATE_SECRET"]
    with CaptureQueriesContext(connection) as gate_queries:
        response = client.post(
            f"/inbound/mailgate/?recipient={address}",
            message(address, 1, 99),
            content_type="message/rfc822",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    assert response.status_code == 200, response.content
    return len(lmtp_queries), len(gate_queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--python", default="/usr/bin/python3")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database (and REDIS_URL)")
    ensure_database(url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )

    import django

    django.setup()
    from django.db.models import Count
    from django_scopes import scopes_disabled

    from config.celery import app as celery_app
    from inbound_mail.models import InboundAddress, InboundMessage
    from tenants import services as tenant_services
    from tenants.scoping import tenant_scope

    slug = f"doors{int(time.time())}"
    org = tenant_services.organization_create(slug=slug, name="Door bench")
    address = f"support@{slug}.test"
    with tenant_scope(org):
        InboundAddress.objects.create(organization=org, address=address, is_default=True)

    print(f"{args.senders} concurrent senders, PostgreSQL {url.rsplit('/', 1)[1]}, no workers")
    lmtp_count, lmtp_seconds, lmtp_cpu = bench_lmtp(address, args.senders, args.messages, env)
    print(
        f"LMTP:     {lmtp_count} stored in {lmtp_seconds:.2f} s: {lmtp_count / lmtp_seconds:.0f}/s;"
        f" server CPU {lmtp_cpu / lmtp_count * 1000:.1f} ms per message"
    )
    gate_total = max(args.messages // 4, args.senders)
    gate = bench_mailgate(address, args.senders, gate_total, env, args.python)
    gate_count, gate_seconds, gate_cpu, client_cpu = gate
    print(
        f"mailgate: {gate_count} stored in {gate_seconds:.2f} s: {gate_count / gate_seconds:.0f}/s;"
        f" web CPU {gate_cpu / gate_count * 1000:.1f} ms, mailgate process CPU"
        f" {client_cpu / gate_count * 1000:.1f} ms per message ({args.python}, gunicorn 4 workers)"
    )
    print(f"CPUs: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (other work shares them)")
    with scopes_disabled():  # the bench tenant's rows, counted from outside
        stored = dict(
            InboundMessage.objects.filter(organization=org)
            .values_list("source")
            .annotate(n=Count("pk"))
        )
    print(f"rows: {stored} (expected lmtp={lmtp_count}, mailgate={gate_count})")
    lmtp_sql, gate_sql = statements_per_message(org, address)
    print(f"SQL statements per message: LMTP {lmtp_sql}, mailgate {gate_sql}")
    wall, cpu, bare_wall, bare_cpu = startup(args.python)
    print(
        f"mailgate start-up (exits at once): {wall:.0f} ms wall, {cpu:.0f} ms CPU"
        f" (bare {args.python}: {bare_wall:.0f} ms wall, {bare_cpu:.0f} ms CPU)"
    )
    celery_app.control.purge()  # the processing tasks queued meanwhile: no worker ran


if __name__ == "__main__":
    main()
