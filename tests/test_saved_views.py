"""Saved views of the ticket list: saved from the list's filters, sort and columns; personal
or shared; in the rail with live counts in a fixed number of queries; reordered, renamed,
updated and deleted by whoever may; another agent's or tenant's view is a 404."""

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sla.models import Calendar, Policy, TicketSLA
from tenants import services as tenant_services
from tenants.models import Membership
from tests.factories import make_ticket
from tickets import selectors
from tickets.models import Priority, SavedView, Status, StatusCategory
from tickets.services.saved_views import (
    SavedViewError,
    saved_view_create,
    saved_view_move,
)
from tickets.services.tags import ticket_tags_add
from tickets.services.tickets import ticket_assign, ticket_change_status


@pytest.fixture
def bob(acme):
    """A second agent of acme."""
    with acme.scope():
        user = tenant_services.user_get_or_create(email="bob@acme.test", name="Bob", password="pw")
        tenant_services.membership_add(organization=acme.org, user=user, role=Membership.AGENT)
    return user


def _view(tenant, owner, name="Mine", query=None, columns=("status",)):
    with tenant.scope():
        return saved_view_create(
            organization=tenant.org,
            owner=owner,
            name=name,
            query=query or {"view": "open"},
            columns=list(columns),
        )


def _rail(body: str) -> str:
    start = body.index('id="rail"')
    return body[start : body.index("</nav>", start)]


def _rail_views(body: str) -> list[tuple[str, str]]:
    """(name, count) of every saved view in the rail, in order."""
    found = re.findall(
        r'<a href="[^"]*sv=\d+" data-rail="view-\d+"[^>]*>([^<]+?) '
        r'<span class="count">(\d+)</span>',
        _rail(body),
    )
    return [(html.unescape(name), count) for name, count in found]


def _headers(body: str) -> list[str]:
    thead = re.search(r"<thead>(.*?)</thead>", body, re.S).group(1)
    return re.findall(r"<th[^>]*>([^<]*)<", thead)


def _numbers(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-number="(\d+)"', body)]


# -- saving a view from the list -----------------------------------------------------------


def test_save_this_view_keeps_filters_sort_and_columns(acme):
    client = acme.client(acme.agent)
    query = f"view=open&team={acme.team.pk}&sort=newest&after=x_1&cols=&cols=team&cols=requester"
    response = client.post(
        "/agent/tickets/views/new/", {"name": " Support  queue ", "query": query}
    )
    with acme.scope():
        view = SavedView.objects.get()
    assert (view.name, view.owner, view.query, view.columns) == (
        "Support queue",
        acme.agent,
        {"view": "open", "team": str(acme.team.pk), "sort": "newest"},
        ["requester", "team"],
    )
    assert response.status_code == 302
    assert response["Location"] == f"/agent/?{view.list_query()}"
    page = client.get(response["Location"]).content.decode()
    assert _headers(page) == ["", "#", "Subject", "Requester", "Team"]
    assert "<h1>Support queue</h1>" in page
    assert _rail_views(page) == [("Support queue", "0")]
    assert re.findall(r'class="active" aria-current="page">([^<]+?) ?<', _rail(page)) == [
        "Support queue"
    ]


def test_save_this_view_refuses_bad_names_with_a_message(acme):
    client = acme.client(acme.agent)
    _view(acme, acme.agent, name="Billing")
    for name, message in [
        ("", "Give the view a name."),
        ("x" * 81, "Ensure this value has at most 80 characters (it has 81)."),
        ("billing", "There is already a view named “billing”."),
    ]:
        response = client.post(
            "/agent/tickets/views/new/", {"name": name, "query": "view=mine"}, follow=True
        )
        assert [str(m) for m in response.context["messages"]] == [message]
        assert response.redirect_chain == [("/agent/?view=mine", 302)]
    with acme.scope():
        assert list(SavedView.objects.values_list("name", flat=True)) == ["Billing"]


def test_save_this_view_drops_values_the_list_would_drop(acme):
    client = acme.client(acme.agent)
    query = "view=bogus&team=abc&priority=-3&sort=nope&only=nope&cols=nope&cols=status&evil=1"
    client.post("/agent/tickets/views/new/", {"name": "Odd", "query": query})
    with acme.scope():
        view = SavedView.objects.get()
    assert (view.query, view.columns) == ({"view": "open", "sort": "updated"}, ["status"])


def test_agent_cannot_share_only_admins_can(acme):
    acme.client(acme.agent).post(
        "/agent/tickets/views/new/", {"name": "Try", "query": "", "shared": "on"}
    )
    acme.client(acme.admin).post(
        "/agent/tickets/views/new/", {"name": "Team", "query": "", "shared": "on"}
    )
    with acme.scope():
        owners = dict(SavedView.objects.values_list("name", "owner"))
    assert owners == {"Try": acme.agent.pk, "Team": None}


def test_names_are_unique_per_owner_and_among_shared(acme, bob):
    _view(acme, acme.agent, name="Urgent")
    _view(acme, bob, name="Urgent")  # another agent's own list
    _view(acme, None, name="Urgent")  # the shared ones
    with pytest.raises(SavedViewError, match="already a view named"):
        _view(acme, None, name="URGENT")


# -- columns -------------------------------------------------------------------------------


def test_columns_default_chosen_and_none(acme):
    with acme.scope():
        make_ticket(acme.org, team=acme.team)
    client = acme.client(acme.agent)
    default = client.get("/agent/").content.decode()
    assert _headers(default) == [
        "",
        "#",
        "Subject",
        "Status",
        "Priority",
        "Assignee",
        "Last activity",
    ]
    chosen = client.get("/agent/?cols=created&cols=team&cols=bogus").content.decode()
    assert _headers(chosen) == ["", "#", "Subject", "Team", "Created"]
    row = re.search(r'<tr class="ticket-row".*?</tr>', chosen, re.S).group(0)
    assert '<td class="team">Support</td>' in row
    assert '<td class="status">' not in row
    assert _headers(client.get("/agent/?cols=").content.decode()) == ["", "#", "Subject"]
    assert '<input type="checkbox" name="cols" value="team" checked data-autosubmit>' in chosen


# -- the rail ------------------------------------------------------------------------------


def _varied_tickets(acme, bob):
    """Tickets that each filter kind tells apart."""
    with acme.scope():
        high = Priority.objects.order_by("-rank").first()
        a = make_ticket(acme.org, team=acme.team, assignee=acme.agent)
        b = make_ticket(acme.org, priority=high, email="b@x.test")
        c = make_ticket(acme.org, assignee=bob)
        d = make_ticket(acme.org, subject="Invoice question")
        ticket_tags_add(ticket=b, names=["vip"])
        ticket_tags_add(ticket=c, names=["VIP"])
        pending = Status.objects.filter(category=StatusCategory.PENDING).first()
        ticket_change_status(ticket=d, status=pending)
        resolved = Status.objects.filter(category=StatusCategory.RESOLVED).first()
        ticket_change_status(ticket=a, status=resolved)
        calendar = Calendar.objects.create(
            organization=acme.org, name="hours", timezone="UTC", weekly={}
        )
        policy = Policy.objects.create(organization=acme.org, name="P", calendar=calendar, order=1)
        now = timezone.now()
        TicketSLA.objects.create(
            organization=acme.org,
            ticket=c,
            policy=policy,
            target="first_response",
            started_at=now - timedelta(hours=2),
            due_at=now - timedelta(hours=1),
        )
    return high


QUERIES = [
    {"view": "open"},
    {"view": "mine"},
    {"view": "unassigned"},
    {"view": "pending"},
    {"view": "resolved"},
    {"view": "all", "category": "resolved"},
    {"view": "all", "assignee": "me"},
    {"view": "all", "assignee": "none"},
    {"view": "open", "tag": "vip"},
    {"view": "all", "only": "sla_breached"},
    {"view": "all", "only": "sla_due_1h"},
    {"view": "all", "choice": "999:Nothing"},  # the portal's intake answer: finds nothing
    {"view": "all", "choice": "garbage"},
    {"view": "open", "sort": "sla_due"},
    {"view": "all", "q": "invoice"},  # the search app's full-text match
    {"view": "all", "q": "nothing-matches-this"},
]


def test_rail_counts_equal_the_lists_for_every_kind_of_filter(acme, bob):
    high = _varied_tickets(acme, bob)
    queries = [
        *QUERIES,
        {"view": "all", "team": str(acme.team.pk)},
        {"view": "all", "priority": str(high.pk)},
        {"view": "all", "assignee": str(bob.pk)},
    ]
    for i, query in enumerate(queries):
        _view(acme, acme.agent if i % 2 else None, name=f"v{i}", query=query)
    body = acme.client(acme.agent).get("/agent/tickets/rail/").content.decode()
    shown = dict(_rail_views(body))
    with acme.scope():
        expected = {
            view.name: str(
                selectors.ticket_queryset(
                    selectors.filters_from_query(view.query), acme.agent
                ).count()
            )
            for view in SavedView.objects.all()
        }
        views = list(SavedView.objects.all())
    assert shown == expected
    # The counts tell the tickets apart (a rail showing every count as 0 or 4 would pass above
    # only if the lists did too).
    assert sorted(set(expected.values())) == ["0", "1", "2", "3"]
    assert expected["v14"] == "1"  # the full-text view finds the invoice ticket
    # The lists agree: each view's link shows as many rows as its count.
    client = acme.client(acme.agent)
    for view in views:
        rows = _numbers(client.get(f"/agent/?{view.list_query()}").content.decode())
        assert str(len(rows)) == expected[view.name], view.query


def test_rail_lists_shared_views_then_own_in_their_order_and_nobody_elses(acme, bob, globex):
    _view(acme, acme.agent, name="Mine B")
    _view(acme, None, name="Shared A")
    _view(acme, acme.agent, name="Mine A")
    _view(acme, bob, name="Bob's")
    _view(globex, None, name="Globex shared")
    _view(globex, globex.agent, name="Globex own")
    body = acme.client(acme.agent).get("/agent/").content.decode()
    assert [name for name, _ in _rail_views(body)] == ["Shared A", "Mine B", "Mine A"]
    assert re.findall(r'<div class="rail-heading">([^<]+)</div>', _rail(body))[:2] == [
        "Shared views",
        "Your views",
    ]
    bobs = acme.client(bob).get("/agent/").content.decode()
    assert [name for name, _ in _rail_views(bobs)] == ["Shared A", "Bob's"]


def test_rail_escapes_a_views_name(acme):
    _view(acme, acme.agent, name='<script>alert(1)</script> & "x"')
    body = acme.client(acme.agent).get("/agent/tickets/rail/").content.decode()
    assert "<script>alert(1)" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;" in body


def test_rail_counts_follow_ticket_and_view_changes(acme, django_capture_on_commit_callbacks):
    client = acme.client(acme.agent)
    _view(acme, acme.agent, name="Mine", query={"view": "mine"})
    with acme.scope(), django_capture_on_commit_callbacks(execute=True):
        ticket = make_ticket(acme.org)
    assert _rail_views(client.get("/agent/tickets/rail/").content.decode()) == [("Mine", "0")]
    with acme.scope(), django_capture_on_commit_callbacks(execute=True):
        ticket_assign(ticket=ticket, assignee=acme.agent)
    assert _rail_views(client.get("/agent/tickets/rail/").content.decode()) == [("Mine", "1")]
    # A new view shows at once: saving it bumps the list version like a ticket change.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/agent/tickets/views/new/", {"name": "All", "query": "view=all"})
    assert _rail_views(client.get("/agent/tickets/rail/").content.decode()) == [
        ("Mine", "1"),
        ("All", "1"),
    ]


def _queries(client, url) -> int:
    cache.clear()  # the rail is cached; count it cold
    selectors.forget_compiled_counts()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _many_views(acme, n):
    for i in range(n):
        query = QUERIES[i % len(QUERIES)] | {"team": str(acme.team.pk)} if i % 3 else QUERIES[i % 5]
        _view(acme, acme.agent if i % 2 else None, name=f"view {i}", query=query)


def test_rail_query_count_is_fixed_for_1_and_20_views(acme, bob):
    _varied_tickets(acme, bob)
    client = acme.client(acme.agent)
    _view(acme, acme.agent, name="only one", query={"view": "open", "q": "printer"})
    one = _queries(client, "/agent/tickets/rail/")
    _many_views(acme, 19)
    twenty = _queries(client, "/agent/tickets/rail/")
    assert len(_rail_views(client.get("/agent/tickets/rail/").content.decode())) == 20
    # the tenant, session, user, membership; the saved views, the teams' ids, every count in
    # one statement; the rail's teams (with the team-manager flag). On PostgreSQL also the
    # tenant's search configuration (for the views with words; then remembered) and the
    # statement's SET LOCAL (tenants.db.in_one_process).
    postgres = 2 if connection.vendor == "postgresql" else 0
    assert (one, twenty) == (8 + postgres, 8 + postgres)
    # Warm, the rail reads no ticket at all.
    with CaptureQueriesContext(connection) as warm:
        client.get("/agent/tickets/rail/")
    assert not [q for q in warm.captured_queries if "tickets_ticket" in q["sql"]]


def test_list_query_count_is_the_same_with_20_views_and_opened_from_one(acme):
    client = acme.client(acme.agent)
    with acme.scope():
        make_ticket(acme.org)
    # One view with words: the rail then reads the tenant's search configuration, once.
    _view(acme, acme.agent, name="words", query={"view": "open", "q": "printer"})
    plain = _queries(client, "/agent/?view=all")
    _many_views(acme, 18)
    view = _view(acme, acme.agent, name="everything", query={"view": "all"})
    assert _queries(client, "/agent/?view=all") == plain
    assert _queries(client, f"/agent/?{view.list_query()}") == plain


# -- whose view ------------------------------------------------------------------------------


def test_another_agents_or_tenants_view_is_404_everywhere(acme, bob, globex):
    bobs = _view(acme, bob, name="Bob's")
    theirs = _view(globex, globex.agent, name="Globex own")
    shared_there = _view(globex, None, name="Globex shared")
    client = acme.client(acme.agent)
    for view in (bobs, theirs, shared_there):
        assert client.get(f"/agent/?view=open&sv={view.pk}").status_code == 404
        assert client.get(f"/agent/tickets/views/{view.pk}/").status_code == 404
        for action in ("update", "move", "delete"):
            url = f"/agent/tickets/views/{view.pk}/{action}/"
            assert client.post(url, {"direction": "up", "confirm": "1"}).status_code == 404
    for bad in ("abc", "99999999999999999999", ""):
        assert client.get(f"/agent/?sv={bad}").status_code == 404
    with acme.scope():
        assert SavedView.objects.get(pk=bobs.pk).name == "Bob's"
    with globex.scope():
        assert SavedView.objects.count() == 2


def test_shared_view_is_seen_by_agents_and_changed_by_admins_only(acme):
    shared = _view(acme, None, name="Escalations")
    agent = acme.client(acme.agent)
    page = agent.get(f"/agent/?{shared.list_query()}").content.decode()
    assert "Save changes to this view" not in page
    assert "Rename or edit" not in page
    assert agent.get(f"/agent/tickets/views/{shared.pk}/").status_code == 404
    assert (
        agent.post(f"/agent/tickets/views/{shared.pk}/delete/", {"confirm": "1"}).status_code == 404
    )
    admin = acme.client(acme.admin)
    response = admin.post(f"/agent/tickets/views/{shared.pk}/", {"name": "Escalated"})
    assert response.status_code == 302
    with acme.scope():
        assert SavedView.objects.get().name == "Escalated"


# -- changing a view -------------------------------------------------------------------------


def test_save_changes_to_the_view_it_was_opened_from(acme):
    view = _view(acme, acme.agent, name="Mine", query={"view": "mine"}, columns=["status"])
    client = acme.client(acme.agent)
    same = client.get(f"/agent/?{view.list_query()}").content.decode()
    assert "Save changes to this view" not in same
    changed_url = f"/agent/?view=mine&sort=newest&cols=&cols=team&sv={view.pk}"
    changed = client.get(changed_url).content.decode()
    assert "Save changes to this view" in changed
    query = re.search(r'name="query" value="([^"]*)"', changed).group(1).replace("&amp;", "&")
    response = client.post(f"/agent/tickets/views/{view.pk}/update/", {"query": query})
    view.refresh_from_db()
    assert (view.query, view.columns) == ({"view": "mine", "sort": "newest"}, ["team"])
    assert response["Location"] == f"/agent/?{view.list_query()}"


def test_rename_and_columns_and_errors_on_the_edit_page(acme):
    _view(acme, acme.agent, name="Taken")
    view = _view(acme, acme.agent, name="Mine")
    client = acme.client(acme.agent)
    page = client.get(f"/agent/tickets/views/{view.pk}/").content.decode()
    assert 'value="Mine"' in page
    response = client.post(f"/agent/tickets/views/{view.pk}/", {"name": "taken"})
    assert response.status_code == 400
    assert "There is already a view named “taken”." in response.content.decode()
    response = client.post(f"/agent/tickets/views/{view.pk}/", {"name": ""})
    assert response.status_code == 400
    assert "Give the view a name." in response.content.decode()
    response = client.post(
        f"/agent/tickets/views/{view.pk}/",
        {"name": "Renamed", "columns": ["updated", "requester", "bogus"]},
    )
    assert response.status_code == 400  # an unknown column is the form's error, not a 500
    client.post(
        f"/agent/tickets/views/{view.pk}/", {"name": "Renamed", "columns": ["updated", "requester"]}
    )
    view.refresh_from_db()
    assert (view.name, view.columns) == ("Renamed", ["requester", "updated"])


def test_reorder_up_and_down_within_a_group(acme):
    a, b, c = (_view(acme, acme.agent, name=n) for n in "ABC")
    shared = _view(acme, None, name="S")
    client = acme.client(acme.agent)
    client.post(f"/agent/tickets/views/{a.pk}/move/", {"direction": "down"})
    client.post(f"/agent/tickets/views/{c.pk}/move/", {"direction": "up"})
    client.post(f"/agent/tickets/views/{b.pk}/move/", {"direction": "up"})  # already first
    client.post(f"/agent/tickets/views/{b.pk}/move/", {"direction": "sideways"})
    body = client.get("/agent/").content.decode()
    assert [name for name, _ in _rail_views(body)] == ["S", "B", "C", "A"]
    with acme.scope():
        saved_view_move(view=shared, offset=1)  # alone in its group: nothing moves
        positions = dict(SavedView.objects.values_list("name", "position"))
    assert positions == {"B": 0, "C": 1, "A": 2, "S": 0}
    manage = client.get("/agent/tickets/views/").content.decode()
    assert 'aria-label="Move S up"' not in manage  # shared: an agent cannot reorder them


def test_delete_asks_without_javascript_then_deletes(acme):
    view = _view(acme, acme.agent, name="Old")
    client = acme.client(acme.agent)
    asking = client.post(f"/agent/tickets/views/{view.pk}/delete/")
    assert asking.status_code == 200
    assert "Delete the view “Old”?" in asking.content.decode()
    with acme.scope():
        assert SavedView.objects.filter(pk=view.pk).exists()
    response = client.post(f"/agent/tickets/views/{view.pk}/delete/", {"confirm": "1"})
    assert response["Location"] == "/agent/tickets/views/"
    with acme.scope():
        assert not SavedView.objects.filter(pk=view.pk).exists()


# -- the Reports link ------------------------------------------------------------------------


def test_reports_link_for_admins_and_team_managers_only(acme, bob):
    with acme.scope():
        tenant_services.team_create(
            organization=acme.org, name="Leads", members=[bob], managers=[bob]
        )
    link = '<a href="/agent/reports/"'
    assert link in acme.client(acme.admin).get("/agent/").content.decode()
    assert link in acme.client(bob).get("/agent/").content.decode()
    assert link not in acme.client(acme.agent).get("/agent/").content.decode()


def test_a_wide_views_count_stops_at_the_cap(acme, monkeypatch):
    monkeypatch.setattr(selectors, "SAVED_VIEW_COUNT_CAP", 2)
    with acme.scope():
        for i in range(3):
            make_ticket(acme.org, email=f"w{i}@x.test")
    _view(acme, acme.agent, name="Wide", query={"view": "all"})
    _view(acme, acme.agent, name="Narrow", query={"view": "all", "q": "#2"})
    body = acme.client(acme.agent).get("/agent/tickets/rail/").content.decode()
    assert 'All open <span class="count">3</span>' in body  # the built-in counts are exact
    assert _rail_views(body) == [("Narrow", "1")]
    assert re.search(r'title="More than 2">2\+</span>', body)


# -- how the rail counts ---------------------------------------------------------------------


def _count_statement(client) -> str:
    with CaptureQueriesContext(connection) as ctx:
        client.get("/agent/tickets/rail/")
    return next(q["sql"] for q in ctx.captured_queries if "SELECT COUNT(*) FROM" in q["sql"])


def test_views_showing_the_same_rows_are_counted_once(acme, bob):
    _varied_tickets(acme, bob)
    team = str(acme.team.pk)
    _view(acme, acme.agent, name="Team", query={"view": "open", "team": team})
    _view(acme, None, name="Team newest", query={"view": "open", "team": team, "sort": "newest"})
    _view(acme, acme.agent, name="Mine", query={"view": "mine"})
    _view(acme, acme.agent, name="Vip", query={"view": "open", "tag": "vip"})
    _view(acme, None, name="Vip again", query={"view": "open", "tag": " vip "})
    client = acme.client(acme.agent)
    statement = _count_statement(client)
    # 5 built-in views, the tenant's one team, one for both "vip" views: the team views and
    # "Mine" show the team's and the built-in view's counts.
    assert statement.count("SELECT COUNT(*) FROM") == 5 + 1 + 1
    shown = dict(_rail_views(client.get("/agent/tickets/rail/").content.decode()))
    with acme.scope():
        vip = selectors.ticket_queryset(
            selectors.TicketFilters(view="open", tag="vip"), acme.agent
        ).count()
        on_team = selectors.ticket_queryset(
            selectors.TicketFilters(view="open", team=acme.team.pk), acme.agent
        ).count()
        mine = selectors.ticket_queryset(selectors.TicketFilters(view="mine"), acme.agent).count()
    assert shown == {
        "Team newest": str(on_team),
        "Vip again": str(vip),
        "Team": str(on_team),
        "Mine": str(mine),
        "Vip": str(vip),
    }
    assert vip == 2  # the two tickets tagged vip and VIP (iexact), both open


def test_compiled_counts_follow_the_data_and_the_clock(acme, django_capture_on_commit_callbacks):
    """The rail reuses a count's SQL across requests, except a count that reads the clock:
    "Recently resolved" (the last 7 days) drops a ticket when its week is over."""
    client = acme.client(acme.agent)
    _view(acme, acme.agent, name="Open", query={"view": "open", "priority": ""})
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        with acme.scope(), django_capture_on_commit_callbacks(execute=True):
            ticket = make_ticket(acme.org)
            resolved = Status.objects.filter(category=StatusCategory.RESOLVED).first()
        body = client.get("/agent/tickets/rail/").content.decode()
        assert _rail_views(body) == [("Open", "1")]
        assert 'Recently resolved <span class="count">0</span>' in body
        with acme.scope(), django_capture_on_commit_callbacks(execute=True):
            ticket_change_status(ticket=ticket, status=resolved)
        body = client.get("/agent/tickets/rail/").content.decode()
        assert _rail_views(body) == [("Open", "0")]  # the same SQL, new data
        assert 'Recently resolved <span class="count">1</span>' in body
    with time_machine.travel(start + timedelta(days=8), tick=False):
        selectors.bump_list_version(acme.org.pk)  # what any change in the tenant does
        body = client.get("/agent/tickets/rail/").content.decode()
    assert "Recently resolved" in body
    assert 'Recently resolved <span class="count">0</span>' in body


def test_compiled_counts_are_per_agent_and_tenant(acme, bob, globex):
    with acme.scope():
        make_ticket(acme.org, assignee=acme.agent)
    with globex.scope():
        make_ticket(globex.org, assignee=globex.agent)
        make_ticket(globex.org, assignee=globex.agent, email="second@x.test")
    for tenant, owner in ((acme, acme.agent), (acme, bob), (globex, globex.agent)):
        _view(tenant, owner, name="Mine", query={"view": "open", "assignee": "me"})
    assert _rail_views(acme.client(acme.agent).get("/agent/tickets/rail/").content.decode()) == [
        ("Mine", "1")
    ]
    assert _rail_views(acme.client(bob).get("/agent/tickets/rail/").content.decode()) == [
        ("Mine", "0")
    ]
    globex_rail = globex.client(globex.agent).get("/agent/tickets/rail/").content.decode()
    assert _rail_views(globex_rail) == [("Mine", "2")]


def test_views_whose_words_differ_by_a_trailing_space_are_counted_apart(acme):
    """ "447" finds any word starting with it, "447 " the word 447 only: two counts."""
    with acme.scope():
        make_ticket(acme.org, subject="Invoice 4471 is wrong")
    _view(acme, acme.agent, name="Prefix", query={"view": "all", "q": "447"})
    _view(acme, acme.agent, name="Word", query={"view": "all", "q": "447 "})
    shown = dict(_rail_views(acme.client(acme.agent).get("/agent/tickets/rail/").content.decode()))
    assert shown == {"Prefix": "1", "Word": "0"}
