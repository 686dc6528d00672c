"""Macros: applied from the ticket page (htmx and a plain POST) and to a list selection, as one
transaction (a failing step leaves nothing) and one timeline entry, placeholders filled after
the actions; shared macros for admins, personal ones only their owner sees and edits; another
tenant's macro is a 404; the editor builds the actions from rows, without JSON."""

import html
import re

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automations.models import Macro
from tests.factories import make_ticket
from tickets.models import Comment, Priority, Status, Ticket, TicketEvent
from tickets.services.tickets import ticket_change_team

HTMX = {"HTTP_HX_REQUEST": "true"}


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _status(tenant, name) -> Status:
    with tenant.scope():
        return Status.objects.get(name=name)


def _macro(tenant, name="Refund", *, owner=None, actions=(), reply="", public=True) -> Macro:
    with tenant.scope():
        return Macro.objects.create(
            organization=tenant.org,
            name=name,
            owner=owner,
            actions=list(actions),
            reply_text=reply,
            reply_public=public,
        )


def _refund(tenant, **kwargs) -> Macro:
    with tenant.scope():
        pending = Status.objects.get(name="Pending").pk
        high = Priority.objects.get(name="High").pk
    actions = [
        {"type": "set_status", "status_id": pending},
        {"type": "add_tags", "names": ["refund"]},
        {"type": "set_priority", "priority_id": high},
    ]
    reply = "Hi {{ requester_name }}, your ticket is {{ ticket_status }} now. {{ agent_name }}"
    return _macro(tenant, actions=actions, reply=reply, **kwargs)


def _state(tenant, ticket) -> dict:
    with tenant.scope():
        t = Ticket.objects.select_related("status", "priority").get(pk=ticket.pk)
        return {
            "status": t.status.name,
            "priority": t.priority.name,
            "tags": sorted(t.tags.values_list("name", flat=True)),
            "comments": list(
                Comment.objects.filter(ticket=t)
                .order_by("id")
                .values_list("body_text", "is_public", "author_user_id")
            ),
        }


def _events(tenant, ticket) -> list[TicketEvent]:
    with tenant.scope():
        return list(TicketEvent.objects.filter(ticket=ticket).order_by("id"))


def test_apply_from_the_ticket_page_with_htmx_is_one_entry_with_placeholders(acme):
    macro = _refund(acme)
    with acme.scope():
        ticket = make_ticket(acme.org)
    before = len(_events(acme, ticket))
    response = acme.client(acme.agent).post(
        f"/agent/tickets/{ticket.number}/macro/", {"macro": macro.pk}, **HTMX
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "ticket-changed"
    assert _messages(response) == [
        "Applied “Refund”: status set to Pending; tagged refund; priority set to High; replied."
    ]
    state = _state(acme, ticket)
    assert (state["status"], state["priority"], state["tags"]) == ("Pending", "High", ["refund"])
    assert state["comments"][1:] == [
        ("Hi Carol, your ticket is Pending now. Acme Agent", True, acme.agent.pk)
    ]
    new = _events(acme, ticket)[before:]
    header = [e for e in new if e.kind == "macro"]
    assert len(header) == 1
    run = header[0].data["via"]["run"]
    # Every row the macro wrote is the agent's and belongs to the one application.
    assert {(e.data.get("via", {}).get("run"), e.actor_user_id) for e in new} == {
        (run, acme.agent.pk)
    }
    assert sorted(e.kind for e in new) == ["comment", "macro", "priority", "status", "tags"]
    assert [r["outcome"] for r in header[0].data["results"]] == ["done"] * 4
    # The answer swaps the main column and (out of band) the sidebar with its timeline entry.
    body = response.content.decode()
    runs = re.findall(r'<li class="run run-macro">(.*?)</details>', body, re.S)
    assert len(runs) == 1
    assert "Acme Agent applied macro “Refund”: status set to Pending; tagged refund" in runs[0]
    assert "<summary>4 changes</summary>" in runs[0]


def test_apply_with_a_plain_post_returns_to_the_ticket(acme):
    macro = _refund(acme)
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = acme.client(acme.agent).post(
        f"/agent/tickets/{ticket.number}/macro/", {"macro": macro.pk}
    )
    assert (response.status_code, response["Location"]) == (302, f"/agent/tickets/{ticket.number}/")
    assert _state(acme, ticket)["status"] == "Pending"
    page = acme.client(acme.agent).get(response["Location"]).content.decode()
    assert page.count('class="run run-macro"') == 1


def test_a_failing_step_rolls_back_every_step_and_emits_nothing(
    acme, django_capture_on_commit_callbacks
):
    with acme.scope():
        pending = Status.objects.get(name="Pending").pk
        gone = Priority.objects.create(organization=acme.org, name="Gone", rank=99)
        gone_id = gone.pk
        gone.delete()
        ticket = make_ticket(acme.org)
    macro = _macro(
        acme,
        actions=[
            {"type": "set_status", "status_id": pending},
            {"type": "mail_requester", "subject": "Hello", "body": "We are on it."},
            {"type": "set_priority", "priority_id": gone_id},
            {"type": "add_tags", "names": ["never"]},
        ],
        reply="Never sent",
    )
    before = (_state(acme, ticket), len(_events(acme, ticket)))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = acme.client(acme.agent).post(
            f"/agent/tickets/{ticket.number}/macro/", {"macro": macro.pk}, **HTMX
        )
    assert response.status_code == 200
    assert _messages(response) == [
        "“Refund” was not applied: The priority to set no longer exists. Nothing was changed."
    ]
    assert (_state(acme, ticket), len(_events(acme, ticket))) == before
    assert callbacks == []  # no domain event (the mail, the status change) survived


def test_nothing_to_change_writes_no_entry(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
        status_id = ticket.status_id
    macro = _macro(acme, actions=[{"type": "set_status", "status_id": status_id}])
    before = len(_events(acme, ticket))
    response = acme.client(acme.agent).post(
        f"/agent/tickets/{ticket.number}/macro/", {"macro": macro.pk}, **HTMX
    )
    assert _messages(response) == ["Nothing to change: the ticket already matched “Refund”."]
    assert len(_events(acme, ticket)) == before


def test_internal_reply_fills_placeholders_after_the_actions(acme):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Invoice twice")
    macro = _macro(
        acme,
        actions=[{"type": "set_team", "team_id": acme.team.pk}],
        reply="#{{ ticket_number }} “{{ ticket_subject }}” is with {{ team_name }}.",
        public=False,
    )
    acme.client(acme.agent).post(f"/agent/tickets/{ticket.number}/macro/", {"macro": macro.pk})
    assert _state(acme, ticket)["comments"][1:] == [
        (f"#{ticket.number} “Invoice twice” is with Support.", False, acme.agent.pk)
    ]


def test_personal_macros_are_seen_and_changed_by_their_owner_only(acme):
    mine = _macro(acme, "Agent's own", owner=acme.agent, actions=[])
    shared = _macro(acme, "Shared one")
    with acme.scope():
        ticket = make_ticket(acme.org)
    url = f"/agent/tickets/{ticket.number}/"
    own_page = acme.client(acme.agent).get(url).content.decode()
    other_page = acme.client(acme.admin).get(url).content.decode()
    assert re.findall(r'<option value="\d+">([^<]+)</option>', _control(own_page)) == [
        "Shared one",
        "Agent's own (yours)",
    ]
    assert re.findall(r'<option value="\d+">([^<]+)</option>', _control(other_page)) == [
        "Shared one"
    ]
    admin = acme.client(acme.admin)
    assert admin.post(f"{url}macro/", {"macro": mine.pk}).status_code == 404
    assert admin.get(f"/agent/macros/{mine.pk}/").status_code == 404
    assert admin.post(f"/agent/macros/{mine.pk}/", {"name": "Taken over"}).status_code == 404
    assert admin.post(f"/agent/macros/{mine.pk}/delete/", {"confirm": "1"}).status_code == 404
    assert "Agent's own" not in admin.get("/agent/macros/").content.decode()
    assert "Agent's own" not in admin.get("/settings/macros/").content.decode()
    # An agent applies a shared macro but never edits one, not even through their own pages.
    agent = acme.client(acme.agent)
    assert agent.get("/settings/macros/").status_code == 404
    assert agent.get(f"/settings/macros/{shared.pk}/").status_code == 404
    assert agent.get(f"/agent/macros/{shared.pk}/").status_code == 404
    assert agent.post(f"/agent/macros/{shared.pk}/delete/", {"confirm": "1"}).status_code == 404
    with acme.scope():
        assert sorted(Macro.objects.values_list("name", flat=True)) == ["Agent's own", "Shared one"]


def _control(page: str) -> str:
    return html.unescape(re.search(r'<form id="macro-apply".*?</form>', page, re.S).group(0))


def test_another_tenants_macro_is_a_404(acme, globex):
    theirs = _macro(globex, "Globex refund", actions=[])
    theirs_personal = _macro(globex, "Globex own", owner=globex.agent)
    with acme.scope():
        ticket = make_ticket(acme.org)
    agent, admin = acme.client(acme.agent), acme.client(acme.admin)
    for pk in (theirs.pk, theirs_personal.pk):
        assert (
            agent.post(f"/agent/tickets/{ticket.number}/macro/", {"macro": pk}).status_code == 404
        )
        assert admin.get(f"/settings/macros/{pk}/").status_code == 404
        assert agent.get(f"/agent/macros/{pk}/").status_code == 404
    bulk = agent.post("/agent/tickets/bulk/macro/", {"macro": theirs.pk, "tickets": "1"})
    assert bulk.status_code == 404
    assert "Globex" not in admin.get("/settings/macros/").content.decode()
    assert len(_events(acme, ticket)) == 1  # only "created"


def test_a_list_selection_applies_to_each_ticket_and_reports_the_one_that_fails(acme):
    macro = _macro(
        acme,
        "Route",
        actions=[{"type": "assign", "mode": "round_robin", "team_id": None}],
        reply="Routed.",
        public=False,
    )
    with acme.scope():
        one, two, no_team, untouched = (make_ticket(acme.org) for _ in range(4))
        for t in (one, two, untouched):
            ticket_change_team(ticket=t, team=acme.team)
    selected = f"{one.number},{two.number},{no_team.number}"
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/macro/",
        {"macro": macro.pk, "tickets": selected, "next": "/agent/?view=all"},
    )
    assert (response.status_code, response["Location"]) == (302, "/agent/?view=all")
    assert _messages(response) == [
        "Applied “Route” to 2 tickets.",
        f"#{no_team.number}: “Route” was not applied: The ticket has no team. "
        "Nothing was changed on it.",
    ]
    with acme.scope():
        assignees = dict(Ticket.objects.values_list("number", "assignee_id"))
        headers = TicketEvent.objects.filter(kind="macro").values_list("ticket__number", flat=True)
        notes = Comment.objects.filter(body_text="Routed.").values_list("ticket__number", flat=True)
    agent = acme.agent.pk
    assert assignees == {
        one.number: agent,
        two.number: agent,
        no_team.number: None,
        untouched.number: None,
    }
    assert sorted(headers) == sorted(notes) == [one.number, two.number]


def test_every_matching_ticket_gets_the_macro_from_the_list(acme):
    macro = _macro(acme, "Tag", actions=[{"type": "add_tags", "names": ["seen"]}])
    with acme.scope():
        tickets = [make_ticket(acme.org, subject=f"Printer {i}") for i in range(3)]
        make_ticket(acme.org, subject="Other")
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/macro/",
        {"macro": macro.pk, "all_matching": "1", "query": "view=all&q=Printer"},
    )
    assert _messages(response) == ["Applied “Tag” to 3 tickets."]
    with acme.scope():
        tagged = Ticket.objects.filter(tags__name="seen").values_list("number", flat=True)
    assert sorted(tagged) == sorted(t.number for t in tickets)


def test_the_bulk_bar_offers_the_agents_macros(acme):
    _macro(acme, "Shared one")
    _macro(acme, "Admin's own", owner=acme.admin)
    with acme.scope():
        make_ticket(acme.org)
    page = acme.client(acme.agent).get("/agent/?view=all").content.decode()
    bar = re.search(r'<form id="bulk".*?</form>', page, re.S).group(0)
    assert re.findall(r'<option value="\d+">([^<]+)</option>', bar.split('id="bulk-macro"')[1]) == [
        "Shared one"
    ]
    assert 'formaction="/agent/tickets/bulk/macro/"' in bar


def test_bulk_without_a_macro_or_a_selection_says_what_to_do(acme):
    none = acme.client(acme.agent).post("/agent/tickets/bulk/macro/", {"tickets": "1"})
    assert _messages(none) == ["Choose a macro to apply."]
    macro = _macro(acme)
    nothing = acme.client(acme.agent).post(
        "/agent/tickets/bulk/macro/", {"macro": macro.pk, "tickets": ""}
    )
    assert _messages(nothing) == ["Select at least one ticket; nothing was changed."]


# -- the editor ---------------------------------------------------------------------------------


def _rows(*rows: dict, initial: int = 0) -> dict:
    data = {
        "actions-TOTAL_FORMS": str(len(rows)),
        "actions-INITIAL_FORMS": str(initial),
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "20",
    }
    for i, row in enumerate(rows):
        data.update({f"actions-{i}-{key}": value for key, value in row.items()})
    return data


def test_admin_builds_a_shared_macro_from_rows(acme):
    pending = _status(acme, "Pending")
    data = {
        "name": "Waiting on customer",
        "reply_text": "Hi {{ requester_name }}",
        "reply_public": "0",
        **_rows(
            {"type": "set_status", "status_id": str(pending.pk)},
            {"type": "assign", "mode": "round_robin", "within_team_id": str(acme.team.pk)},
            {"type": "add_tags", "names": "waiting, Billing issue"},
            {"type": "notify", "target": "team_managers", "message": "Look at {{ ticket_number }}"},
            {"type": "", "status_id": str(pending.pk)},  # left out
        ),
    }
    response = acme.client(acme.admin).post("/settings/macros/new/", data)
    assert (response.status_code, response["Location"]) == (302, "/settings/macros/")
    with acme.scope():
        macro = Macro.objects.get()
    assert (macro.owner_id, macro.name, macro.reply_text, macro.reply_public) == (
        None,
        "Waiting on customer",
        "Hi {{ requester_name }}",
        False,
    )
    assert macro.actions == [
        {"type": "set_status", "status_id": pending.pk},
        {"type": "assign", "mode": "round_robin", "team_id": acme.team.pk},
        {"type": "add_tags", "names": ["waiting", "Billing issue"]},
        {
            "type": "notify",
            "target": "team_managers",
            "team_id": None,
            "message": "Look at {{ ticket_number }}",
        },
    ]
    listing = acme.client(acme.admin).get("/settings/macros/").content.decode()
    assert "Waiting on customer" in listing
    # Editing shows the saved rows again, and one blank row to add another.
    page = acme.client(acme.admin).get(f"/settings/macros/{macro.pk}/").content.decode()
    assert page.count('<fieldset class="action-row') == 5
    assert f'<option value="{pending.pk}" selected>Pending</option>' in page


def test_an_agent_keeps_personal_macros_of_their_own(acme):
    data = {"name": "My wrap-up", "reply_text": "Thanks!", "reply_public": "1", **_rows()}
    response = acme.client(acme.agent).post("/agent/macros/new/", data)
    assert (response.status_code, response["Location"]) == (302, "/agent/macros/")
    with acme.scope():
        assert list(Macro.objects.values_list("owner_id", "name")) == [
            (acme.agent.pk, "My wrap-up")
        ]
    # The same name is free for someone else's own list, not twice in one list.
    again = acme.client(acme.agent).post("/agent/macros/new/", data)
    assert again.status_code == 400
    assert "You already have a macro named “My wrap-up”." in again.content.decode()
    assert acme.client(acme.admin).post("/agent/macros/new/", data).status_code == 302


def test_the_editor_puts_a_deleted_status_next_to_its_row(acme):
    with acme.scope():
        gone = Status.objects.create(organization=acme.org, name="Gone", category="open")
        gone_id = gone.pk
    data = {
        "name": "Broken",
        "reply_public": "1",
        **_rows(
            {"type": "add_tags", "names": "fine"},
            {"type": "set_status", "status_id": str(gone_id)},
        ),
    }
    with acme.scope():
        gone.delete()
    response = acme.client(acme.admin).post("/settings/macros/new/", data)
    assert response.status_code == 400
    rows = re.findall(r'<fieldset class="action-row( has-error)?">', response.content.decode())
    assert rows == ["", " has-error"]
    assert "Select a valid choice." in response.content.decode()
    with acme.scope():
        assert not Macro.objects.exists()


def test_the_editor_reports_what_a_row_lacks_and_a_bad_template(acme):
    data = {
        "name": "Half done",
        "reply_text": "{% for x in y %}",
        "reply_public": "1",
        **_rows(
            {"type": "set_priority"}, {"type": "add_collaborators", "emails": "not-an-address"}
        ),
    }
    response = acme.client(acme.admin).post("/settings/macros/new/", data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "Choose a priority." in body
    assert "Addresses: “not-an-address” is not an email address." in body
    assert re.search(r'id="id_reply_text".*?field-error', body, re.S)


@pytest.mark.parametrize(
    "garbage",
    [
        {},
        {"name": "x" * 500},
        {"name": "G", "actions-TOTAL_FORMS": "nope"},
        {"name": "G", **_rows({"type": "explode", "status_id": "'; drop"})},
        {"name": "G", **_rows({"type": "assign", "mode": "sideways", "user_id": "-1"})},
        {"name": "G", "reply_public": "maybe", **_rows(*[{"type": "add_note"}] * 30)},
    ],
)
def test_the_editor_never_fails_on_garbage(acme, garbage):
    response = acme.client(acme.admin).post("/settings/macros/new/", garbage)
    assert response.status_code == 400
    with acme.scope():
        assert not Macro.objects.exists()


def test_add_an_action_without_javascript_keeps_the_rows(acme):
    data = {
        "name": "Growing",
        "reply_public": "1",
        "add_row": "1",
        **_rows({"type": "add_tags", "names": "a"}),
    }
    response = acme.client(acme.admin).post("/settings/macros/new/", data)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('<fieldset class="action-row') == 2
    assert 'value="a"' in body
    with acme.scope():
        assert not Macro.objects.exists()


def test_macros_reorder_and_delete_within_their_own_list(acme):
    first, second = _macro(acme, "First"), _macro(acme, "Second")
    with acme.scope():
        Macro.objects.filter(pk=second.pk).update(position=1)
    admin = acme.client(acme.admin)
    admin.post(f"/settings/macros/{second.pk}/move/", {"direction": "up"})
    with acme.scope():
        assert list(Macro.objects.values_list("name", flat=True)) == ["Second", "First"]
    asking = admin.post(f"/settings/macros/{first.pk}/delete/")
    assert asking.status_code == 200  # without JavaScript the page asks first
    admin.post(f"/settings/macros/{first.pk}/delete/", {"confirm": "1"})
    with acme.scope():
        assert list(Macro.objects.values_list("name", flat=True)) == ["Second"]


def _queries(client, url) -> int:
    cache.clear()  # rail counts are cached; measure every page cold
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_macro_lists_cost_the_same_queries_for_one_macro_or_many(acme):
    pending = _status(acme, "Pending")
    steps = [
        {"type": "set_status", "status_id": pending.pk},
        {"type": "set_team", "team_id": acme.team.pk},
        {"type": "assign", "mode": "user", "user_id": acme.agent.pk},
    ]
    _macro(acme, "First", actions=steps)
    _macro(acme, "Mine first", owner=acme.agent, actions=steps)
    admin, agent = acme.client(acme.admin), acme.client(acme.agent)
    one = (_queries(admin, "/settings/macros/"), _queries(agent, "/agent/macros/"))
    for i in range(12):
        _macro(acme, f"Shared {i}", actions=steps)
        _macro(acme, f"Mine {i}", owner=acme.agent, actions=steps)
    many = (_queries(admin, "/settings/macros/"), _queries(agent, "/agent/macros/"))
    assert many == one
    page = agent.get("/agent/macros/").content.decode()
    assert page.count("<li>Assign to Acme Agent</li>") == 13


def test_deleting_your_macro_without_javascript_asks_on_an_agent_page(acme):
    mine = _macro(acme, "Mine", owner=acme.agent)
    response = acme.client(acme.agent).post(f"/agent/macros/{mine.pk}/delete/")
    page = response.content.decode()
    assert (response.status_code, "Delete the macro “Mine”?" in page) == (200, True)
    assert 'href="/settings/' not in page  # no settings navigation an agent cannot open
    with acme.scope():
        assert Macro.objects.filter(pk=mine.pk).exists() is True
