"""`make run` as a developer uses it: start (web, worker, LMTP), Ctrl-C, nothing left running,
start again; the web serves ASGI: a signed-in agent's live websocket opens and answers.

No browser: the run is a subprocess in its own session, the processes of the run are found in
/proc by that session id, and Ctrl-C is SIGINT to the run's process group, as a terminal sends it.
"""

import contextlib
import http.client
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = ROOT / "Makefile"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    """Every live process of the session (zombies are dead, only not yet reaped)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _web_answers(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz", headers={"Host": f"acme.localhost:{port}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.read() == b"ok"
    except OSError:
        return False


def _sign_in(port: int, host: str, email: str, password: str) -> str:
    """The session cookie of a sign-in through the login page, as a browser does it."""

    def call(method: str, body: str = "", cookies: str = "") -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Host": host, "Cookie": cookies}
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection.request(method, "/login/", body=body, headers=headers)
        return connection.getresponse()

    page = call("GET")
    csrf = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie", ""))[1]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())[1]
    form = urllib.parse.urlencode(
        {"username": email, "password": password, "csrfmiddlewaretoken": token}
    )
    signed_in = call("POST", form, cookies=f"csrftoken={csrf}")
    assert signed_in.status == 302, signed_in.read()[:2000]
    cookies = ", ".join(signed_in.msg.get_all("Set-Cookie") or [])
    return re.search(r"sessionid=([^;]+)", cookies)[1]


def _live_socket_answers(port: int) -> dict:
    """A signed-in agent's websocket on the ASGI server: watching a ticket is answered."""
    host = f"acme.localhost:{port}"
    session = _sign_in(port, host, "agent@acme.test", "demo")
    with connect(
        f"ws://{host}/ws/live/",
        sock=socket.create_connection(("127.0.0.1", port)),
        origin=f"http://{host}",
        additional_headers={"Cookie": f"sessionid={session}"},
        proxy=None,
    ) as live:
        live.send(json.dumps({"type": "watch", "ticket": 1, "after": 10**9}))
        return json.loads(live.recv(timeout=20))


def _lmtp_answers(port: int) -> bool:
    try:
        with smtplib.LMTP("127.0.0.1", port, timeout=2) as client:
            return client.ehlo_or_helo_if_needed() is None and client.does_esmtp
    except OSError:
        return False


class Run:
    def __init__(self, var_dir: Path, port: int, lmtp_port: int):
        self.port, self.lmtp_port = port, lmtp_port
        self.log = var_dir / f"run-{time.monotonic_ns()}.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "PUBLIC_PORT", "PUBLIC_SCHEME")
        }
        env.update(VAR_DIR=str(var_dir), PORT=str(port), LMTP_PORT=str(lmtp_port), MAKEFLAGS="")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["make", "-f", str(MAKEFILE), "--no-print-directory", "run"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()[-3000:]
            ready = " ready." in self.output() and _lmtp_answers(self.lmtp_port)
            if ready and _web_answers(self.port):
                return
            time.sleep(0.5)
        self.kill()
        pytest.fail("make run did not come up:\n" + self.output()[-3000:])

    def kill(self) -> None:
        for pid in _session_pids(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def var_dir(tmp_path):
    path = tmp_path / "var"
    path.mkdir()
    return path


def test_make_run_ctrl_c_stops_every_part_and_starts_again(var_dir):
    port, lmtp_port = _free_port(), _free_port()
    run = Run(var_dir, port, lmtp_port)
    try:
        run.wait_ready()
        parts = _session_pids(run.proc.pid)
        assert any("celery" in _cmdline(pid) for pid in parts)
        assert any("runserver" in _cmdline(pid) for pid in parts)
        assert any("lmtp_server" in _cmdline(pid) for pid in parts)

        os.killpg(run.proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals its foreground group
        started = time.monotonic()
        run.proc.wait(12)
        while _session_pids(run.proc.pid) and time.monotonic() - started < 12:
            time.sleep(0.2)
        stopped_after = time.monotonic() - started
    finally:
        leftover = {pid: _cmdline(pid) for pid in _session_pids(run.proc.pid)}
        if leftover:
            run.kill()
    output = run.output()
    assert leftover == {}
    assert stopped_after < 10
    assert "Segmentation fault" not in output
    assert output.count("Warm shutdown") <= 1
    assert output.count("LMTP server stopped.") == 1  # it stopped on its own, not killed

    again = Run(var_dir, port, lmtp_port)  # the ports are free and beat's files do not block
    try:
        again.wait_ready()
        assert (_web_answers(port), _lmtp_answers(lmtp_port)) == (True, True)
        answer = _live_socket_answers(port)
        assert (answer["type"], answer["ticket"]) == ("ticket.changed", 1)
    finally:
        os.killpg(again.proc.pid, signal.SIGINT)
        try:
            again.proc.wait(12)
        finally:
            again.kill()
    assert _session_pids(again.proc.pid) == []


def test_make_run_gives_every_process_the_public_port(var_dir):
    """Mail links are built by the worker as well as the web: both must know the public port."""
    port = _free_port()
    run = Run(var_dir, port, _free_port())
    try:
        run.wait_ready()
        parts = {
            pid: _environ(pid)
            for pid in _session_pids(run.proc.pid)
            if "runserver" in _cmdline(pid) or "celery" in _cmdline(pid)
        }
        assert {"runserver", "celery"} <= {
            name for pid in parts for name in ("runserver", "celery") if name in _cmdline(pid)
        }
        public = {(env.get("PUBLIC_PORT"), env.get("PUBLIC_SCHEME")) for env in parts.values()}
        assert public == {(str(port), "http")}
        # Without Redis the worker's live updates reach the pages through the web (live.relay).
        relays = {env.get("LIVE_RELAY_URL") for env in parts.values()}
        assert relays == {f"http://127.0.0.1:{port}"}
    finally:
        os.killpg(run.proc.pid, signal.SIGINT)
        try:
            run.proc.wait(12)
        finally:
            run.kill()
