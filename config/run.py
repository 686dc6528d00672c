"""The supervisor `make run` starts: the web server (daphne's `runserver`: ASGI, the pages and
the live websockets on one port), the Celery worker with beat and the LMTP server (`manage.py
lmtp_server`, on LMTP_HOST:LMTP_PORT, 127.0.0.1:8024 unless set), stopped as one.

A shell `trap 'kill 0'` re-entered itself (kill 0 signals the shell too), so the worker saw a
storm of SIGTERMs and sometimes survived. Here each part runs in its own process group, so a
terminal's Ctrl-C reaches only this process; the first SIGINT or SIGTERM is forwarded once
(SIGTERM is Celery's warm shutdown), whatever is still running after GRACE seconds is killed with
its whole group (the worker's pool processes too), and when any part dies the others are stopped.
A second Ctrl-C kills at once.

Every part gets the same environment, PUBLIC_PORT and PUBLIC_SCHEME included, so links built by
the worker (mail) and by the web agree; and LIVE_RELAY_URL, the web server as the other parts
reach it, so that without Redis the worker's live updates (a customer's mail becoming a comment)
reach the pages through the web process (live.relay).

    python -m config.run [--host 0.0.0.0] [--port 8000]
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

GRACE = 8.0  # seconds a part has to stop after the forwarded signal
POLL = 0.2


def child_environment(
    port: str,
    base: dict[str, str] | None = None,
    host: str = "0.0.0.0",  # noqa: S104
) -> dict[str, str]:
    """The environment of every part: the public port defaults to the port served, the live
    relay to the web server on loopback (or on the one address it listens on)."""
    env = dict(os.environ if base is None else base)
    env.setdefault("PUBLIC_PORT", port)
    env.setdefault("PUBLIC_SCHEME", "http")
    env.setdefault("LIVE_RELAY_URL", f"http://{_reachable(host)}:{port}")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _reachable(host: str) -> str:
    """Where the other parts reach a server listening on `host`."""
    if host in ("", "0.0.0.0", "localhost"):  # noqa: S104
        return "127.0.0.1"
    if host in ("::", "[::]"):
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def commands(host: str, port: str, python: str = sys.executable) -> list[list[str]]:
    bin_dir = Path(python).parent
    celery = str(bin_dir / "celery") if (bin_dir / "celery").exists() else "celery"
    return [
        # Daphne's runserver ("daphne" first in INSTALLED_APPS): HTTP and websockets.
        [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
        # The beat schedule file is settings.CELERY_BEAT_SCHEDULE_FILENAME, under VAR_DIR.
        [celery, "-A", "config", "worker", "--beat", "--loglevel=INFO", "--concurrency=2"],
        # Mail from an MTA (inbound_mail.lmtp); SIGTERM lets messages being stored finish.
        [python, "manage.py", "lmtp_server"],
    ]


class Supervisor:
    def __init__(self, argvs: Sequence[Sequence[str]], env: dict[str, str], grace: float = GRACE):
        self.argvs, self.env, self.grace = argvs, env, grace
        self.children: list[subprocess.Popen] = []
        self.stopping_since: float | None = None
        self.killed = False
        self.signalled = False

    def _on_signal(self, signum: int, _frame) -> None:
        self.signalled = True
        if self.stopping_since is None:
            print(f"\nStopping (signal {signum}); Ctrl-C again to kill at once.", flush=True)
            self._stop()
        else:
            self._kill()

    def _stop(self) -> None:
        self.stopping_since = time.monotonic()
        for child in self.children:
            if child.poll() is None:
                # The leader only: Celery's main process then stops its own pool (a SIGTERM to
                # the whole group kills the pool under it and Celery logs each as an error).
                # Whatever of the group is left after the grace period is killed.
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)

    def _kill(self) -> None:
        self.killed = True
        for child in self.children:
            _signal_group(child, signal.SIGKILL)  # the group: a pool outlives its dead parent

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        for argv in self.argvs:
            # process_group=0: a group of its own, out of reach of the terminal's Ctrl-C.
            # The argvs are this module's own commands, never user input.
            child = subprocess.Popen(argv, env=self.env, process_group=0)  # noqa: S603
            self.children.append(child)
        while True:
            codes = [child.poll() for child in self.children]
            if all(code is not None for code in codes):
                break
            if self.stopping_since is None and any(code is not None for code in codes):
                print("A part stopped; stopping the others.", flush=True)
                self._stop()
            if self._grace_over():
                print("Killing what is still running.", flush=True)
                self._kill()
            time.sleep(POLL)
        for child in self.children:
            _signal_group(child, signal.SIGKILL)  # leftovers of a group whose leader exited
        return 0 if self.signalled else 1  # a part that ended on its own is an error

    def _grace_over(self) -> bool:
        since = self.stopping_since
        return since is not None and not self.killed and time.monotonic() - since > self.grace


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104
    parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
    args = parser.parse_args(argv)
    env = child_environment(args.port, host=args.host)
    supervisor = Supervisor(commands(args.host, args.port), env)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
