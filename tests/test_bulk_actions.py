"""Bulk changes on the ticket list: nothing selected or nothing chosen changes nothing and says
so, the count is the number of tickets that changed, team and tags change in bulk, and "select
all matching" acts on the list's filters, never on another tenant's tickets."""

import pytest
from django.contrib.messages import get_messages

from tests.factories import make_ticket
from tickets.models import Status, Ticket


@pytest.fixture
def agent_client(acme):
    return acme.client(acme.agent)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_bulk_without_selection_changes_nothing_and_says_so(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = agent_client.post(
        "/agent/tickets/bulk/", {"tickets": "", "assignee": str(acme.agent.pk)}
    )
    assert _messages(response) == ["Select at least one ticket; nothing was changed."]
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).assignee_id is None


def test_bulk_without_a_change_chosen_changes_nothing_and_says_so(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org, assignee=acme.agent)
    response = agent_client.post(
        "/agent/tickets/bulk/",
        {"tickets": str(ticket.number), "assignee": "", "status": "", "priority": "", "team": ""},
    )
    assert _messages(response) == ["Choose a change to apply; nothing was changed."]
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).assignee_id == acme.agent.pk


def test_bulk_status_leaves_assignee_alone(acme, agent_client):
    # The bar posts every select; "—" (empty) means "leave as it is", never "unassign".
    with acme.scope():
        ticket = make_ticket(acme.org, assignee=acme.agent)
        closed = Status.objects.get(name="Closed")
    agent_client.post(
        "/agent/tickets/bulk/",
        {"tickets": str(ticket.number), "assignee": "", "status": closed.pk, "team": ""},
    )
    with acme.scope():
        row = Ticket.objects.get(pk=ticket.pk)
    assert (row.assignee_id, row.status_category) == (acme.agent.pk, "closed")


def test_bulk_count_is_the_tickets_that_changed(acme, agent_client):
    with acme.scope():
        a = make_ticket(acme.org, assignee=acme.agent)
        b = make_ticket(acme.org)
        c = make_ticket(acme.org)
    response = agent_client.post(
        "/agent/tickets/bulk/",
        {"tickets": f"{a.number},{b.number},{c.number}", "assignee": str(acme.agent.pk)},
    )
    assert _messages(response) == ["Updated 2 of 3 selected tickets; 1 already matched."]
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/", {"tickets": f"{a.number}", "assignee": "none"}
    )
    assert _messages(response) == ["Updated 1 ticket."]


def test_bulk_team_change(acme, agent_client):
    with acme.scope():
        a = make_ticket(acme.org)
        b = make_ticket(acme.org)
    response = agent_client.post(
        "/agent/tickets/bulk/", {"tickets": f"{a.number},{b.number}", "team": str(acme.team.pk)}
    )
    assert _messages(response) == ["Updated 2 tickets."]
    with acme.scope():
        assert list(Ticket.objects.order_by("pk").values_list("team_id", flat=True)) == [
            acme.team.pk,
            acme.team.pk,
        ]
    agent_client.post("/agent/tickets/bulk/", {"tickets": f"{a.number}", "team": "none"})
    with acme.scope():
        assert Ticket.objects.get(pk=a.pk).team_id is None


def test_bulk_team_of_another_tenant_is_refused(acme, globex, agent_client):
    with acme.scope():
        a = make_ticket(acme.org)
    response = agent_client.post(
        "/agent/tickets/bulk/", {"tickets": f"{a.number}", "team": str(globex.team.pk)}
    )
    assert _messages(response) == ["Pick a team of this helpdesk."]
    with acme.scope():
        assert Ticket.objects.get(pk=a.pk).team_id is None


def test_bulk_select_all_matching_uses_the_filters(acme, globex, agent_client):
    with acme.scope():
        for _ in range(3):
            make_ticket(acme.org, subject="Printer jam")
        other = make_ticket(acme.org, subject="Invoice")
    with globex.scope():
        foreign = make_ticket(globex.org, subject="Printer jam")
    response = agent_client.post(
        "/agent/tickets/bulk/",
        {
            "tickets": "1",
            "all_matching": "1",
            "query": "view=all&q=printer",
            "team": str(acme.team.pk),
        },
    )
    assert _messages(response) == ["Updated 3 tickets."]
    with acme.scope():
        teams = dict(Ticket.objects.values_list("number", "team_id"))
    assert teams == {1: acme.team.pk, 2: acme.team.pk, 3: acme.team.pk, other.number: None}
    with globex.scope():
        assert Ticket.objects.get(pk=foreign.pk).team_id is None


def test_list_has_select_all_checkbox(acme, agent_client):
    with acme.scope():
        make_ticket(acme.org)
    body = agent_client.get("/agent/").content.decode()
    assert 'id="select-all"' in body
    assert 'name="all_matching"' in body


def test_bulk_on_tickets_that_are_not_here_says_so(acme, globex, agent_client):
    with globex.scope():
        foreign = make_ticket(globex.org)
    response = agent_client.post(
        "/agent/tickets/bulk/", {"tickets": str(foreign.number), "team": str(acme.team.pk)}
    )
    assert _messages(response) == ["No tickets matched; nothing was changed."]
    response = acme.client(acme.agent).post(
        "/agent/tickets/bulk/",
        {"all_matching": "1", "query": "view=all&q=nothing-like-this", "team": "none"},
    )
    assert _messages(response) == ["No tickets matched; nothing was changed."]
    with globex.scope():
        assert Ticket.objects.get(pk=foreign.pk).team_id is None


def test_bulk_bad_values_are_messages_not_errors(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org)
    response = agent_client.post(
        "/agent/tickets/bulk/",
        {"tickets": f"{ticket.number},abc,,-1", "assignee": "xyz", "status": "999999"},
    )
    assert response.status_code == 302
    assert sorted(_messages(response)) == [
        "Pick an agent of this helpdesk.",
        "Select a valid choice. That choice is not one of the available choices.",
    ]
    with acme.scope():
        assert Ticket.objects.get(pk=ticket.pk).assignee_id is None
