"""The shared browser for the Playwright tests: a pytest plugin (tests/conftest.py) with the
`browser_page` fixture, a headless Chromium from Debian (.ci/run installs it; browser downloads
are impossible here), and where screenshots go."""

import asyncio
import shutil
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HAVE_CHROMIUM = shutil.which(CHROMIUM) is not None


def sign_in(page, base: str, email: str = "agent@acme.test", password: str = "pw") -> None:  # noqa: S107  # the test factories' password
    """Sign in on the agent login page and wait for the list."""
    page.goto(f"{base}/agent/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous calls.
    if not HAVE_CHROMIUM:
        pytest.skip("Chromium is installed by .ci/run")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(10_000)
        yield page
        browser.close()


# axe-core (shipped inside the axe-playwright-python wheel) checks a page's accessibility. It is
# evaluated through the DevTools protocol, which the pages' CSP does not govern, so the policy
# stays on for the rest of the test.
AXE_IMPACTS = ("serious", "critical")


def axe_violations(page, *, impacts=AXE_IMPACTS) -> list[str]:
    """The page's axe-core violations of these impacts, as "rule: target" lines (empty: none)."""
    import axe_playwright_python

    script = Path(axe_playwright_python.__file__).with_name("axe.min.js").read_text()
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(f"() => {{ {script}\n}}")
        page.evaluate("() => { window.axe = window.axe || globalThis.axe; }")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in result["violations"]
        if v.get("impact") in impacts
    ]


# -- a live server that speaks websockets (issue 14) -----------------------------------------
# pytest-django's `live_server` is WSGI: no websockets. `asgi_live_server` serves the project's
# ASGI application (config.asgi: HTTP and /ws/live/) with daphne, the server `make run` uses, in
# a thread of the test process, so events a test publishes (a comment created here) reach the
# sockets as they would inside the web process. Twisted's reactor runs once per process: the
# server starts with the first test that asks for it and stops at the end of the session.
class AsgiLiveServer:
    def __init__(self) -> None:
        import daphne.server  # installs the asyncio reactor: before anything imports Twisted's
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from config.asgi import application

        self._loop = daphne.server.twisted_loop
        self.server = daphne.server.Server(
            ASGIStaticFilesHandler(application),
            endpoints=["tcp:port=0:interface=127.0.0.1"],
            signal_handlers=False,
            verbosity=0,
        )
        self.thread = threading.Thread(target=self._run, name="asgi-live-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.listening_addresses:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("daphne did not start listening")
            time.sleep(0.02)
        self.port = self.server.listening_addresses[0][1]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.server.run()

    def stop(self) -> None:
        from twisted.internet import reactor

        reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]  # the installed reactor
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tenant_url(self, slug: str) -> str:
        """The base URL of a tenant's host (browsers resolve *.localhost to the loopback)."""
        return f"http://{slug}.localhost:{self.port}"


@pytest.fixture(scope="session")
def _asgi_server(django_db_setup):
    server = AsgiLiveServer()
    yield server
    server.stop()


@pytest.fixture
def asgi_live_server(_asgi_server, transactional_db, monkeypatch):
    """The ASGI live server for this test. Its requests run in threads of their own: with an
    in-memory SQLite database they share the test's connection (as Django's LiveServerThread
    does: a second connection would see another, empty database or lock the shared one); on
    PostgreSQL each thread opens its own and closes it after the request."""
    from django.db import connections

    shared = {}
    for conn in connections.all():
        if conn.vendor == "sqlite" and conn.is_in_memory_db():
            conn.inc_thread_sharing()
            shared[conn.alias] = conn
        else:
            monkeypatch.setitem(conn.settings_dict, "CONN_MAX_AGE", 0)
    if shared:
        create = connections.create_connection
        monkeypatch.setattr(
            connections,
            "create_connection",
            lambda alias: shared[alias] if alias in shared else create(alias),
        )
    yield _asgi_server
    for conn in shared.values():
        conn.dec_thread_sharing()
