"""The away switch in the user menu: it marks this tenant's membership only, returns to the page
it was on (never off our host), shows who is away to the others, and automatic assignment skips
whoever is away."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tenants import services as tenant_services
from tenants.models import Membership, User
from tests.factories import make_ticket

HOSTILE = ["https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:alert(1)"]
AWAY_LABEL = '<span class="presence away">Away</span>'


def _away(tenant, user) -> bool:
    with tenant.scope():
        return Membership.objects.get(user=user).is_away


def test_away_switch_marks_only_this_tenants_membership(acme, globex):
    with globex.scope():
        tenant_services.membership_add(organization=globex.org, user=acme.agent, role="agent")
    response = acme.client(acme.agent).post("/agent/account/away/", {"away": "1"})
    assert (response.status_code, response["Location"]) == (302, "/agent/")
    assert (_away(acme, acme.agent), _away(globex, acme.agent), _away(acme, acme.admin)) == (
        True,
        False,
        False,
    )
    acme.client(acme.agent).post("/agent/account/away/", {"away": "0"})
    assert _away(acme, acme.agent) is False


def test_away_switch_is_idempotent_and_says_what_it_did(acme):
    client = acme.client(acme.agent)
    for _ in range(2):
        response = client.post("/agent/account/away/", {"away": "1"}, follow=True)
    assert _away(acme, acme.agent) is True
    toasts = [str(m) for m in response.context["messages"]]
    assert toasts == ["You are away: automatic assignment skips you until you are back."]
    response = client.post("/agent/account/away/", {"away": "0"}, follow=True)
    toasts = [str(m) for m in response.context["messages"]]
    assert toasts == ["You are back: automatic assignment gives you tickets again."]


@pytest.mark.parametrize("value", ["", "yes", "2", "true"])
def test_away_switch_refuses_anything_but_one_or_zero(acme, value):
    response = acme.client(acme.agent).post("/agent/account/away/", {"away": value})
    assert response.status_code == 400
    assert _away(acme, acme.agent) is False


def test_away_switch_is_post_only_and_for_members(acme, globex):
    assert acme.client(acme.agent).get("/agent/account/away/").status_code == 405
    anonymous = Client(HTTP_HOST="acme.localhost").post("/agent/account/away/", {"away": "1"})
    assert (anonymous.status_code, anonymous["Location"]) == (
        302,
        "/login/?next=/agent/account/away/",
    )
    # globex's agent is no member of acme: acme has no such page for them.
    response = acme.client(globex.agent).post("/agent/account/away/", {"away": "1"})
    assert response.status_code == 404
    assert _away(globex, globex.agent) is False


def test_away_switch_returns_to_the_page_it_was_on(acme):
    response = acme.client(acme.agent).post(
        "/agent/account/away/", {"away": "1", "next": "/agent/?view=pending"}
    )
    assert response["Location"] == "/agent/?view=pending"


@pytest.mark.parametrize("target", HOSTILE)
def test_away_switch_ignores_a_next_off_our_host(acme, target):
    response = acme.client(acme.agent).post("/agent/account/away/", {"away": "1", "next": target})
    assert (response.status_code, response["Location"]) == (302, "/agent/")


def _menu(html: str) -> str:
    return re.search(r'<details class="usermenu">.*?</details>', html, re.S).group(0)


def test_user_menu_offers_away_and_back_and_shows_the_state(acme):
    client = acme.client(acme.agent)
    menu = _menu(client.get("/agent/?view=all").content.decode())
    assert re.findall(r'name="away" value="(\d)"', menu) == ["1"]
    assert 'name="next" value="/agent/?view=all"' in menu
    assert ">Set yourself away</button>" in menu
    assert AWAY_LABEL not in menu
    client.post("/agent/account/away/", {"away": "1"})
    menu = _menu(client.get("/agent/").content.decode())
    assert re.findall(r'name="away" value="(\d)"', menu) == ["0"]
    assert ">I am back</button>" in menu
    assert menu.count(AWAY_LABEL) == 1


def test_members_and_teams_pages_mark_who_is_away(acme, globex):
    with acme.scope():
        sam = tenant_services.user_get_or_create(email="sam@acme.test", name="Sam Second")
        tenant_services.membership_add(organization=acme.org, user=sam, role="agent")
        tenant_services.team_save(
            organization=acme.org, team=acme.team, name="Support", members=[acme.agent, sam]
        )
    with globex.scope():
        # Away in globex, not in acme: acme's pages must not show it.
        tenant_services.membership_add(organization=globex.org, user=sam, role="agent")
        tenant_services.membership_set_away(
            membership=Membership.objects.get(user=sam), is_away=True
        )
    acme.client(acme.agent).post("/agent/account/away/", {"away": "1"})
    admin = acme.client(acme.admin)
    members = admin.get("/settings/members/").content.decode()
    marked = re.findall(r"<tr><td>([^<]+)(?: " + re.escape(AWAY_LABEL) + r")?</td>", members)
    away_rows = re.findall(r"<tr><td>([^<]+) " + re.escape(AWAY_LABEL), members)
    assert (sorted(marked), away_rows) == (
        sorted(["admin", "Acme Agent", "Sam Second"]),
        ["Acme Agent"],
    )
    teams = admin.get("/settings/teams/").content.decode()
    cell = re.search(r"<tr><td>Support</td>\s*<td>(.*?)</td>", teams, re.S).group(1)
    assert cell == f"Acme Agent {AWAY_LABEL}, Sam Second"


def _teams_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/settings/teams/").status_code == 200
    return len(ctx.captured_queries)


def test_teams_page_query_count_does_not_grow_with_away_members(acme):
    admin = acme.client(acme.admin)
    _teams_page_queries(admin)  # the first request of a session also records the session
    one = _teams_page_queries(admin)
    with acme.scope():
        people = [
            tenant_services.user_get_or_create(email=f"p{i}@acme.test", name=f"P{i}")
            for i in range(10)
        ]
        for person in people:
            membership = tenant_services.membership_add(
                organization=acme.org, user=person, role="agent"
            )
            tenant_services.membership_set_away(membership=membership, is_away=True)
        tenant_services.team_save(
            organization=acme.org, team=acme.team, name="Support", members=people
        )
    assert _teams_page_queries(admin) == one


def test_assignee_pickers_mark_away_agents(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
    client = acme.client(acme.agent)
    client.post("/agent/account/away/", {"away": "1"})
    page = client.get(f"/agent/tickets/{ticket.number}/").content.decode()
    sidebar = re.search(r'<select name="assignee" id="prop-assignee">(.*?)</select>', page, re.S)
    options = re.findall(r"<option value=\"\w+\"[^>]*>([^<]*)</option>", sidebar.group(1))
    assert options == ["Unassigned", "admin", "Acme Agent (away)"]
    listing = client.get("/agent/?view=all").content.decode()
    bulk = re.search(r'<label>Assign <select name="assignee">(.*?)</select>', listing, re.S)
    options = re.findall(r"<option value=\"\w*\"[^>]*>([^<]*)</option>", bulk.group(1))
    assert options == ["No change", "Unassigned", "admin", "Acme Agent (away)"]


def test_round_robin_skips_whoever_set_themselves_away(acme):
    from automations import assignment

    with acme.scope():
        ann = tenant_services.user_get_or_create(email="ann@acme.test", name="Ann")
        tenant_services.membership_add(organization=acme.org, user=ann, role="agent")
        tenant_services.team_save(
            organization=acme.org, team=acme.team, name="Support", members=[acme.agent, ann]
        )
    acme.client(acme.agent).post("/agent/account/away/", {"away": "1"})
    with acme.scope():
        picked = [assignment.round_robin(team=acme.team) for _ in range(4)]
    assert [u.email for u in picked] == ["ann@acme.test"] * 4
    acme.client(acme.agent).post("/agent/account/away/", {"away": "0"})
    with acme.scope():
        picked = [assignment.round_robin(team=acme.team) for _ in range(4)]
    assert sorted(u.email for u in picked) == sorted(["agent@acme.test", "ann@acme.test"] * 2)


def test_least_loaded_skips_whoever_set_themselves_away(acme):
    from automations import assignment

    with acme.scope():
        ann = tenant_services.user_get_or_create(email="ann@acme.test", name="Ann")
        tenant_services.membership_add(organization=acme.org, user=ann, role="agent")
        tenant_services.team_save(
            organization=acme.org, team=acme.team, name="Support", members=[acme.agent, ann]
        )
        for i in range(3):  # Ann carries more; the agent would be least loaded
            make_ticket(acme.org, subject=f"busy {i}", assignee=ann)
    assert User.objects.filter(email="ann@acme.test").count() == 1
    with acme.scope():
        assert assignment.least_loaded(team=acme.team) == acme.agent
    acme.client(acme.agent).post("/agent/account/away/", {"away": "1"})
    with acme.scope():
        assert assignment.least_loaded(team=acme.team) == ann


@pytest.mark.django_db(transaction=True)
def test_away_switch_in_the_browser(live_server, acme, browser_page):
    from tests.browser import ARTIFACTS

    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    page.goto(f"{base}/agent/")
    page.fill("#id_username", "agent@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/agent/")
    page.click("details.usermenu summary")
    page.get_by_role("button", name="Set yourself away").click()
    page.locator(".toast", has_text="You are away").wait_for()
    assert page.url == f"{base}/agent/"
    assert page.locator("details.usermenu summary .presence.away").inner_text() == "Away"
    page.screenshot(path=str(ARTIFACTS / "away-switch.png"))
    assert _away(acme, acme.agent) is True
    page.click("details.usermenu summary")
    page.get_by_role("button", name="I am back").click()
    page.locator(".toast", has_text="You are back").wait_for()
    assert page.locator("details.usermenu summary .presence").count() == 0
    assert _away(acme, acme.agent) is False
