"""Automations in a real browser, looked at through screenshots and checked with axe-core: a
rule's run shows on the ticket as one timeline entry, an agent applies a macro from the ticket
page, and the settings pages (rules, run log, macros) have no serious accessibility faults."""

import pytest

from automations.models import Macro, Rule, RuleRun
from automations.rules_cache import bump
from tests.browser import ARTIFACTS, axe_violations
from tests.factories import make_ticket
from tickets.models import Comment, Status, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base, email):
    page.goto(f"{base}/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _setup(acme):
    with acme.scope():
        pending = Status.objects.get(name="Pending")
        Rule.objects.create(
            organization=acme.org,
            name="Route billing",
            trigger="ticket_created",
            conditions={
                "all": [{"field": "subject", "op": "contains_any", "value": ["invoice"]}],
                "any": [],
            },
            actions=[
                {"type": "set_team", "team_id": acme.team.pk},
                {"type": "add_tags", "names": ["billing"]},
            ],
        )
        Macro.objects.create(
            organization=acme.org,
            name="Ask for details",
            actions=[{"type": "set_status", "status_id": pending.pk}],
            reply_text="Hi {{ requester_name }}, which invoice do you mean?",
        )
    bump(acme.org.pk)
    with acme.scope():
        return make_ticket(acme.org, subject="Wrong invoice total", body="It says 4471.")


def test_a_rule_run_and_a_macro_on_the_ticket_page(live_server, acme, browser_page):
    ticket = _setup(acme)
    with acme.scope():
        assert RuleRun.objects.get().outcome == "applied"
        assert Ticket.objects.get(pk=ticket.pk).team_id == acme.team.pk
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    _sign_in(page, base, "agent@acme.test")
    page.goto(f"{base}/agent/tickets/{ticket.number}/")
    entry = page.locator(".timeline li", has_text="Route billing")
    entry.wait_for()
    summary = entry.inner_text().split("\n")[0].split(" ", 3)[3]  # after "Dec 1, 13:56 "
    assert summary == "Automation “Route billing”: team set to Support; tagged billing"
    assert axe_violations(page) == []

    page.select_option("#macro-pick", label="Ask for details")
    page.click("#macro-apply-button")
    page.locator(".toast", has_text="Ask for details").wait_for()
    page.locator(".timeline li", has_text="Ask for details").wait_for()
    page.screenshot(path=str(ARTIFACTS / "automations-ticket-page.png"), full_page=True)
    with acme.scope():
        reply = Comment.objects.filter(ticket=ticket, author_user=acme.agent).get()
        assert reply.body_text == "Hi Carol, which invoice do you mean?"
        assert Ticket.objects.get(pk=ticket.pk).status.name == "Pending"
    assert axe_violations(page) == []


@pytest.mark.parametrize(
    ("path", "shot"),
    [
        ("/settings/automations/", "automations-rules-list"),
        ("/settings/automations/runs/", "automations-run-log"),
        ("/settings/macros/", "automations-macros"),
        ("/agent/macros/", "automations-my-macros"),
    ],
)
def test_automation_pages_pass_axe(live_server, acme, browser_page, path, shot):
    _setup(acme)
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    _sign_in(page, base, "admin@acme.test")
    page.goto(f"{base}{path}")
    page.locator("main h1").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    assert axe_violations(page) == []


def test_rule_editor_passes_axe(live_server, acme, browser_page):
    _setup(acme)
    with acme.scope():
        rule = Rule.objects.get()
    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    _sign_in(page, base, "admin@acme.test")
    page.goto(f"{base}/settings/automations/{rule.pk}/")
    page.locator("#id_name").wait_for()
    assert axe_violations(page) == []
    page.goto(f"{base}/settings/automations/new/")
    page.locator("#id_name").wait_for()
    assert axe_violations(page) == []
