"""Live collaboration in a real Chromium (issue 14), served by daphne with websockets
(tests.browser.asgi_live_server): two agents in two browser contexts on one ticket see each other
(the issue's "within 2 seconds" is how long the waits below allow, not a measured figure), the
typing state (a reply and a note told apart), each other's comments without a reload, "has a
draft", the draft back after a reload; a customer's mail stored and processed by another
process appears on the open page; the list refreshes a changed row, marks rows someone views
and offers a new ticket behind an "N new tickets" bar. axe-core checks the ticket page with
the presence bar filled, and nothing breaks the Content-Security-Policy."""

import os
import re
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import expect

from live.models import Draft
from tenants import services as tenant_services
from tenants.models import Membership
from tests.browser import ARTIFACTS, HAVE_CHROMIUM, axe_violations
from tests.factories import make_ticket
from tickets.models import Comment, Ticket

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAVE_CHROMIUM, reason="Chromium is installed by .ci/run"),
    pytest.mark.django_db(transaction=True),
]

WAIT_MS = 2_000  # the issue: others see it within 2 seconds
# What follows an agent's request (a sent reply, a changed property) waits for that request's
# own page render too, and a sidebar or a list row for the page's fetch of it.
REFRESH_MS = 5_000
IDLE_MS = 10_000  # typing drops back to viewing 4 s after the last key; a draft saves after 2 s
ALL_IMPACTS = ("minor", "moderate", "serious", "critical")
ROOT = Path(__file__).resolve().parent.parent
HAS_PUSHED = re.compile(r"(^|\s)live-pushed(\s|$)")  # a pushed entry keeps this class

_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`);
});
"""


@pytest.fixture
def dana(acme):
    with acme.scope():
        user = tenant_services.user_get_or_create(
            email="dana@acme.test", name="Dana Scully", password="pw"
        )
        tenant_services.membership_add(organization=acme.org, user=user, role=Membership.AGENT)
    return user


class Agent:
    """One agent's browser context, signed in, with what went wrong on its pages."""

    def __init__(self, browser, base: str, email: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )
        self.page.add_init_script(_WATCH)
        self.base = base
        self.page.goto(f"{base}/agent/")
        self.page.fill("#id_username", email)
        self.page.fill("#id_password", "pw")
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/agent/")

    def open(self, path: str):
        self.page.goto(f"{self.base}{path}")
        self.page.locator(".frame[data-live=open]").wait_for()
        return self.page

    def person(self, user):
        return self.page.locator(f"#live-presence .presence-person[data-user='{user.pk}']")

    def problems(self) -> list[str]:
        return self.errors + self.page.evaluate("window.__cspViolations || []")


def _agents(browser_page, server, *emails) -> list[Agent]:
    base = server.tenant_url("acme")
    return [Agent(browser_page.context.browser, base, email) for email in emails]


def test_two_agents_see_each_other_type_and_comment(asgi_live_server, acme, dana, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Printer on fire", body="It smokes since Monday.")
    me, other, admin = _agents(
        browser_page, asgi_live_server, "agent@acme.test", "dana@acme.test", "admin@acme.test"
    )
    path = f"/agent/tickets/{ticket.number}/"
    mine, hers = me.open(path), other.open(path)

    expect(me.person(dana)).to_contain_text("Dana Scully", timeout=WAIT_MS)
    expect(other.person(acme.agent)).to_contain_text("Acme Agent", timeout=WAIT_MS)
    expect(me.person(dana).locator(".presence-state")).to_have_text("viewing")
    assert me.person(acme.agent).count() == 0  # nobody is shown to themselves

    # Dana types a reply, then switches to an internal note: the other page tells them apart.
    hers.locator("#id_body").press_sequentially("We are on it")
    state = me.person(dana).locator(".presence-state")
    expect(state).to_have_text(re.compile(r"^typing a reply…"), timeout=WAIT_MS)
    admin.open(path)
    expect(me.person(acme.admin)).to_contain_text("viewing", timeout=WAIT_MS)
    expect(state).to_have_text(re.compile(r"^typing a reply…"))
    mine.screenshot(
        path=str(ARTIFACTS / "live-ticket-two-agents.png"), full_page=True, caret="initial"
    )
    assert axe_violations(mine, impacts=ALL_IMPACTS) == []

    hers.check("#reply [name=mode][value=internal]")
    hers.locator("#id_body").press_sequentially(", the fuser is out.")
    expect(state).to_have_text(re.compile(r"^writing an internal note…"), timeout=WAIT_MS)
    # Idle: back to viewing, and the saved draft shows.
    expect(state).to_have_text("viewing · has a draft", timeout=IDLE_MS)

    # Dana adds the note: it appears on my page without a reload, once, highlighted.
    hers.click("#send")
    note = mine.locator("li.entry.internal", has_text="the fuser is out")
    expect(note).to_have_count(1, timeout=REFRESH_MS)
    expect(note).to_have_class(HAS_PUSHED)
    expect(state).to_have_text("viewing", timeout=WAIT_MS)  # sent: the draft is gone

    # My public reply reaches Dana; my own page shows it once (its swap and its push are one).
    mine.fill("#id_body", "A technician comes tomorrow at nine.")
    mine.click("#send")
    reply = hers.locator("li.entry", has_text="A technician comes tomorrow at nine.")
    expect(reply).to_have_count(1, timeout=REFRESH_MS)
    expect(reply).to_have_class(HAS_PUSHED)
    expect(mine.locator("li.entry", has_text="A technician comes tomorrow")).to_have_count(1)
    expect(hers.locator("li.entry", has_text="the fuser is out")).to_have_count(1)

    # A property changed on one page refreshes the other's sidebar in place.
    hers.select_option("#prop-status", label="Pending")
    expect(mine.locator("#prop-status option:checked")).to_have_text("Pending", timeout=REFRESH_MS)
    expect(mine.locator("#ticket-status-chip")).to_have_text("Pending")

    # Dana closes her tab: she is gone from my page at once (the socket said goodbye).
    other.context.close()
    expect(me.person(dana)).to_have_count(0, timeout=WAIT_MS)
    with acme.scope():
        assert list(Comment.objects.filter(ticket=ticket).order_by("pk").values_list(
            "body_text", "is_public"
        )) == [
            ("It smokes since Monday.", True),
            ("We are on it, the fuser is out.", False),
            ("A technician comes tomorrow at nine.", True),
        ]  # fmt: skip
        assert Draft.objects.count() == 0
    assert (me.problems(), admin.problems()) == ([], [])


def test_the_draft_comes_back_after_a_reload(asgi_live_server, acme, dana, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Invoice missing", body="Where is my invoice?")
    me, other = _agents(browser_page, asgi_live_server, "agent@acme.test", "dana@acme.test")
    path = f"/agent/tickets/{ticket.number}/"
    mine, hers = me.open(path), other.open(path)
    mine.check("#reply [name=mode][value=internal]")
    with mine.expect_response(lambda r: r.url.endswith("/draft/") and r.request.method == "POST"):
        mine.locator("#id_body").press_sequentially("Ask finance about March")
    with acme.scope():
        assert list(Draft.objects.values_list("user_id", "body", "internal")) == [
            (acme.agent.pk, "Ask finance about March", True)
        ]
    expect(other.person(acme.agent).locator(".presence-state")).to_have_text(
        "viewing · has a draft", timeout=IDLE_MS
    )

    mine.reload()
    mine.locator(".frame[data-live=open]").wait_for()
    expect(mine.locator("#id_body")).to_have_value("Ask finance about March")
    expect(mine.locator("#reply [name=mode][value=internal]")).to_be_checked()
    expect(mine.locator("#reply")).to_have_class(re.compile(r"\binternal\b"))
    expect(mine.locator("#reply #draft-restored")).to_contain_text(
        "Your draft note is back (saved "
    )

    # Away from the ticket, the draft still shows to the others.
    mine.goto(f"{me.base}/agent/")
    expect(other.person(acme.agent).locator(".presence-state")).to_have_text(
        "has a draft", timeout=WAIT_MS
    )
    mine.goto(f"{me.base}{path}")
    expect(mine.locator("#id_body")).to_have_value("Ask finance about March")
    mine.click("#send")
    expect(mine.locator("li.entry.internal", has_text="Ask finance about March")).to_have_count(1)
    expect(other.person(acme.agent).locator(".presence-state")).to_have_text(
        "viewing", timeout=WAIT_MS
    )
    with acme.scope():
        assert Draft.objects.count() == 0
    mine.reload()
    expect(mine.locator("#id_body")).to_have_value("")
    assert me.problems() == []
    assert other.problems() == []
    hers.close()


def _customer_mail(ticket) -> bytes:
    message = EmailMessage()
    message["From"] = "Carol <carol@customer.test>"
    message["To"] = "support@acme.test"
    message["Subject"] = f"Re: {ticket.subject} [#{ticket.number}]"
    message["Message-ID"] = "<carol-2@customer.test>"
    message.set_content("Still smoking, and now it beeps.")
    return bytes(message)


def _intake_in_another_process(raw: bytes, server) -> None:
    """`manage.py ingest_email - --tenant acme` in a process of its own, as an MTA pipes mail,
    its processing run there (eager tasks): the comment is made in that process and reaches the
    sockets through Redis or, without it, the relay to the web process (LIVE_RELAY_URL)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LIVE_RELAY_URL": server.url,
        "REDIS_URL": settings.REDIS_URL,
    }
    done = subprocess.run(  # our own interpreter and manage.py
        [sys.executable, str(ROOT / "manage.py"), "ingest_email", "-", "--tenant", "acme"],
        input=raw, env=env, cwd=ROOT, capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="another process cannot open the tests' in-memory SQLite database",
)
def test_a_customer_mail_from_another_process_appears(asgi_live_server, acme, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Printer on fire", body="It smokes.")
    [me] = _agents(browser_page, asgi_live_server, "agent@acme.test")
    page = me.open(f"/agent/tickets/{ticket.number}/")
    _intake_in_another_process(_customer_mail(ticket), asgi_live_server)
    with acme.scope():
        assert list(Comment.objects.filter(ticket=ticket).values_list("body_text", flat=True)) == [
            "It smokes.", "Still smoking, and now it beeps."
        ]  # fmt: skip
    entry = page.locator("li.entry", has_text="Still smoking, and now it beeps.")
    expect(entry).to_have_count(1, timeout=WAIT_MS)
    expect(entry).to_have_class(HAS_PUSHED)
    assert "Carol" in entry.locator("header").inner_text()
    assert me.problems() == []


def test_the_list_refreshes_rows_marks_viewers_and_offers_new_tickets(
    asgi_live_server, acme, dana, browser_page
):
    with acme.scope():
        first = make_ticket(acme.org, subject="Printer on fire")
        second = make_ticket(acme.org, subject="Mouse missing")
    me, other = _agents(browser_page, asgi_live_server, "agent@acme.test", "dana@acme.test")
    page = me.open("/agent/?view=all")
    expect(page.locator("tr.ticket-row")).to_have_count(2)
    page.check(f"#ticket-row-{second.number} .select")

    # Dana opens the first ticket: its row gets her marker.
    hers = other.open(f"/agent/tickets/{first.number}/")
    marker = page.locator(f"#ticket-row-{first.number} .row-presence")
    expect(marker).to_have_attribute("aria-label", "Dana Scully viewing", timeout=WAIT_MS)
    expect(page.locator(f"#ticket-row-{second.number} .row-presence .avatar")).to_have_count(0)

    # She raises its priority: my row shows it without a reload; my selection stays.
    hers.select_option("#prop-priority", label="High")
    prio = page.locator(f"#ticket-row-{first.number} td.prio")
    expect(prio).to_have_text("High", timeout=REFRESH_MS)
    expect(marker.locator(".avatar")).to_have_count(1)
    expect(page.locator(f"#ticket-row-{second.number} .select")).to_be_checked()

    # She opens a new ticket: a bar offers it; the rows stay where they are until I ask.
    hers.goto(f"{other.base}/agent/tickets/new/")
    hers.fill("#id_requester_email", "erin@customer.test")
    hers.fill("#id_subject", "Scanner jammed")
    hers.fill("#id_body", "Paper stuck in the feeder.")
    hers.click("form.stack button[type=submit]")
    hers.wait_for_url(re.compile(r"/agent/tickets/\d+/$"))
    bar = page.locator("#new-tickets button")
    expect(bar).to_have_text("1 new ticket — show", timeout=REFRESH_MS)
    expect(page.locator("tr.ticket-row")).to_have_count(2)
    expect(page.locator("#rail a", has_text="Unassigned").locator(".count")).to_have_text("3")
    page.screenshot(path=str(ARTIFACTS / "live-list-new-tickets.png"), caret="initial")
    assert axe_violations(page, impacts=ALL_IMPACTS) == []
    bar.click()
    with acme.scope():
        new = Ticket.objects.get(subject="Scanner jammed")
    expect(page.locator("tr.ticket-row")).to_have_count(3)
    expect(page.locator(f"#ticket-row-{new.number}")).to_contain_text("Scanner jammed")
    expect(page.locator("#new-tickets button")).to_have_count(0)
    expect(page.locator(f"#ticket-row-{second.number} .select")).to_be_checked()
    # Dana is on the new ticket now; the marker moved with her.
    expect(page.locator(f"#ticket-row-{new.number} .row-presence")).to_have_attribute(
        "aria-label", "Dana Scully viewing", timeout=WAIT_MS
    )
    expect(marker.locator(".avatar")).to_have_count(0, timeout=WAIT_MS)
    assert me.problems() == []
    assert other.problems() == []


def test_after_a_dropped_connection_the_page_catches_up(asgi_live_server, acme, dana, browser_page):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Printer on fire", body="It smokes.")
    me, other = _agents(browser_page, asgi_live_server, "agent@acme.test", "dana@acme.test")
    # My page's socket goes through Playwright, which can drop it and refuse new ones.
    routes, refusing = [], []

    def through(route):
        if refusing:
            route.close()
            return
        route.connect_to_server()
        routes.append(route)

    me.page.route_web_socket(re.compile(r"/ws/live/$"), through)
    path = f"/agent/tickets/{ticket.number}/"
    mine, hers = me.open(path), other.open(path)
    expect(me.person(dana)).to_have_count(1, timeout=WAIT_MS)

    refusing.append(True)
    routes[-1].close()
    mine.locator(".frame[data-live=closed]").wait_for()
    hers.fill("#id_body", "Sent while you were offline.")
    hers.click("#send")
    hers.locator("li.entry", has_text="Sent while you were offline.").wait_for()
    hers.select_option("#prop-priority", label="Urgent")
    expect(hers.locator("#prop-priority option:checked")).to_have_text("Urgent")
    assert mine.locator("li.entry", has_text="Sent while you were offline.").count() == 0

    refusing.clear()  # the next retry (backoff: 1, 2, 5, 10 s) gets through and catches up
    entry = mine.locator("li.entry", has_text="Sent while you were offline.")
    expect(entry).to_have_count(1, timeout=15_000)
    expect(entry).to_have_class(HAS_PUSHED)
    expect(mine.locator("#prop-priority option:checked")).to_have_text("Urgent", timeout=REFRESH_MS)
    expect(me.person(dana)).to_have_count(1, timeout=WAIT_MS)
    assert len(routes) == 2
    assert me.problems() == []
    assert other.problems() == []
