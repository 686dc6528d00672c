"""config.run, the supervisor of `make run`: same environment for every part (web, worker, LMTP),
stopped as one."""

import os
import signal
import smtplib
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from config import run

ROOT = Path(__file__).resolve().parent.parent


def _script(tmp_path: Path, name: str, body: str) -> list[str]:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_child_environment_public_port_defaults_to_the_port_served():
    env = run.child_environment("8010", base={"PATH": "/bin"})
    assert (env["PUBLIC_PORT"], env["PUBLIC_SCHEME"]) == ("8010", "http")
    kept = run.child_environment("8010", base={"PUBLIC_PORT": "443", "PUBLIC_SCHEME": "https"})
    assert (kept["PUBLIC_PORT"], kept["PUBLIC_SCHEME"]) == ("443", "https")


def test_child_environment_points_the_live_relay_at_the_web_server():
    """Without Redis the worker's live updates are posted to the web process (live.relay)."""
    for host, relay in [
        ("0.0.0.0", "http://127.0.0.1:8010"),  # noqa: S104  # what make run listens on
        ("127.0.0.1", "http://127.0.0.1:8010"),
        ("192.0.2.7", "http://192.0.2.7:8010"),
        ("::", "http://[::1]:8010"),
    ]:
        assert run.child_environment("8010", base={}, host=host)["LIVE_RELAY_URL"] == relay
    kept = run.child_environment("8010", base={"LIVE_RELAY_URL": "http://web:8000"})
    assert kept["LIVE_RELAY_URL"] == "http://web:8000"


def test_commands_start_web_worker_with_beat_and_lmtp():
    web, worker, lmtp = run.commands("127.0.0.1", "8010", python="/venv/bin/python")
    # With "daphne" first in INSTALLED_APPS, runserver is daphne's: ASGI, pages and websockets.
    assert web == ["/venv/bin/python", "manage.py", "runserver", "127.0.0.1:8010", "--noreload"]
    assert worker[1:] == ["-A", "config", "worker", "--beat", "--loglevel=INFO", "--concurrency=2"]
    # Its address comes from LMTP_HOST and LMTP_PORT in the environment every part shares.
    assert lmtp == ["/venv/bin/python", "manage.py", "lmtp_server"]


def test_lmtp_part_stops_on_the_forwarded_sigterm(tmp_path):
    """The LMTP server ends on the one SIGTERM the supervisor forwards (no kill needed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LMTP_PORT": str(port)}
    env["VAR_DIR"] = str(tmp_path)
    [lmtp] = [argv for argv in run.commands("127.0.0.1", "8010") if "lmtp_server" in argv]
    supervisor = run.Supervisor([lmtp], env, grace=30)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(_run_in_thread(supervisor)))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        thread.start()
        deadline = time.monotonic() + 120
        while not _lmtp_answers(port):
            assert time.monotonic() < deadline
            assert thread.is_alive()
            time.sleep(0.2)
        supervisor._on_signal(signal.SIGTERM, None)
        thread.join(60)
    assert result == [0]
    assert supervisor.killed is False  # it stopped within the grace time, on its own
    assert [child.returncode for child in supervisor.children] == [0]


def _lmtp_answers(port: int) -> bool:
    try:
        with smtplib.LMTP("127.0.0.1", port, timeout=2) as client:
            return client.ehlo_or_helo_if_needed() is None and client.does_esmtp
    except OSError:
        return False


def test_supervisor_gives_every_part_the_environment_and_stops_when_one_ends(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # The quick part ends once the slow one has started (on a slow machine the slow one's
    # Python could otherwise still be starting when the supervisor stops it).
    quick = _script(
        tmp_path,
        "quick",
        f"""
        import os, time
        open({str(out / "a")!r}, 'w').write(os.environ['PUBLIC_PORT'])
        deadline = time.monotonic() + 20
        while not os.path.exists({str(out / "b")!r}) and time.monotonic() < deadline:
            time.sleep(0.05)
        """,
    )
    slow = _script(
        tmp_path,
        "slow",
        f"""
        import os, time
        open({str(out / "b")!r}, 'w').write(os.environ['PUBLIC_PORT'])
        time.sleep(60)
        """,
    )
    base = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_PORT", "PUBLIC_SCHEME")}
    env = run.child_environment("8010", base=base)
    supervisor = run.Supervisor([quick, slow], env, grace=2)
    started = time.monotonic()
    assert supervisor.run() == 1  # a part ended on its own: an error for make
    assert time.monotonic() - started < 25  # not the slow part's 60 s
    assert ((out / "a").read_text(), (out / "b").read_text()) == ("8010", "8010")
    assert [child.poll() is not None for child in supervisor.children] == [True, True]


def test_supervisor_forwards_sigterm_once_then_kills_the_whole_group(tmp_path):
    """A part that ignores SIGTERM (and has a child of its own) is killed after the grace time."""
    pids = tmp_path / "pids"
    stubborn = _script(
        tmp_path,
        "stubborn",
        f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, lambda *a: open({str(tmp_path / "terms")!r}, 'a').write('T'))
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')
        while True:
            time.sleep(0.1)
        """,
    )
    supervisor = run.Supervisor([stubborn], dict(os.environ), grace=1.5)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(_run_in_thread(supervisor)))
    thread.start()
    deadline = time.monotonic() + 20
    while not pids.exists() or not pids.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    started = time.monotonic()
    supervisor._on_signal(signal.SIGINT, None)  # what Ctrl-C calls
    thread.join(10)
    assert result == [0]
    assert time.monotonic() - started < 4
    assert (tmp_path / "terms").read_text() == "T"  # forwarded exactly once
    assert [_alive(int(pid)) for pid in pids.read_text().split()] == [False, False]


def _run_in_thread(supervisor: run.Supervisor) -> int:
    # signal.signal works only in the main thread; the handler is called directly instead.
    original = signal.signal
    signal.signal = lambda *args: None  # type: ignore[assignment]
    try:
        return supervisor.run()
    finally:
        signal.signal = original


def test_worker_environment_builds_mail_links_to_the_public_port():
    """A worker process started with the supervisor's environment links to the public port."""
    code = textwrap.dedent(
        """
        import django
        django.setup()
        from tenants.hosts import organization_url
        from tenants.models import Organization
        print(organization_url(Organization(slug="acme"), "/agent/tickets/7/"))
        """
    )
    base = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_PORT", "PUBLIC_SCHEME")}
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    env = run.child_environment("8010", base=base)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "http://acme.localhost:8010/agent/tickets/7/", done.stderr
