"""Under the Content-Security-Policy, the agent workspace works in a real Chromium without a
single violation or console error: list filters, sidebar changes, reply modes, sending."""

import shutil

import pytest

from tests.browser import CHROMIUM
from tests.factories import make_ticket
from tickets.models import Comment, Ticket
from tickets.services.comments import comment_create

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Chromium is installed by .ci/run"),
]

_WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@pytest.mark.django_db(transaction=True)
def test_workspace_runs_under_the_policy_without_violations(asgi_live_server, acme, browser_page):
    # The ASGI server, as in production: every agent page opens the live socket (connect-src).
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Styled mail", body="Plain part")
        comment_create(
            ticket=ticket,
            body_text="Styled words",
            body_html='<p style="color: #a00; font-weight: bold">Styled words</p>',
            author_contact=ticket.requester,
        )
    port = asgi_live_server.url.rsplit(":", 1)[1]
    base = f"http://acme.localhost:{port}"
    page = browser_page
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.add_init_script(_WATCH_VIOLATIONS)
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))  # we ship none
    violations: list[str] = []

    def collect():
        violations.extend(page.evaluate("window.__cspViolations"))

    page.goto(f"{base}/agent/")
    page.fill("#id_username", "agent@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")
    collect()
    # A filter <select> submits its form (an app.js listener, no inline handler).
    with page.expect_navigation():
        page.select_option("select[name=category]", "new")
    assert "category=new" in page.url
    collect()

    page.goto(f"{base}/agent/tickets/{ticket.number}/")
    assert page.locator(".entry .body p", has_text="Styled words").evaluate(
        "el => getComputedStyle(el).fontWeight"
    ) in ("700", "bold")
    page.select_option("#prop-status", label="Pending")
    page.locator("#toasts .toast", has_text="Saved.").first.wait_for()
    page.check("#reply [name=mode][value=internal]")
    assert page.locator("#send").inner_text() == "Add note"
    page.check("#reply [name=mode][value=public]")
    assert page.locator("#send").inner_text() == "Send"
    page.fill("#id_body", "We are on it.")
    page.click("#send")
    page.locator(".entry", has_text="We are on it.").wait_for()
    collect()

    with acme.scope():
        status = Ticket.objects.select_related("status").get(pk=ticket.pk).status.name
        bodies = list(Comment.objects.filter(ticket=ticket).values_list("body_text", flat=True))
    assert (status, bodies[-1]) == ("Pending", "We are on it.")
    assert (violations, [line for line in console if not line.startswith("log:")]) == ([], [])
