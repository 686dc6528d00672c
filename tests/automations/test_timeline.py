"""The ticket's timeline groups the rows of one automation run or one macro application under one
entry ("Automation “Route billing”: team set to Billing; …"), nests the rows it changed, says
"by automation" instead of "System" on them, and costs the same queries however many runs."""

import html
import re
import uuid

from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automations.models import Macro
from automations.services.macros import macro_apply
from tenants import services as tenant_services
from tests.factories import make_ticket
from tickets import causes
from tickets.models import Priority, TicketEvent
from tickets.services.tickets import ticket_assign, ticket_change_priority, ticket_change_team
from tickets.timeline_entries import timeline_entries


def _automation_run(ticket, *, rule="Route billing", team, assignee) -> str:
    """What the engine leaves on a ticket for one rule run: the rows its actions wrote inside
    the rule's Cause, then the header row with each action's result."""
    run = uuid.uuid4().hex
    cause = causes.Cause(causes.AUTOMATION, rule, run, origin="evt", depth=1)
    with causes.acting(cause):
        ticket_change_team(ticket=ticket, team=team)
        ticket_assign(ticket=ticket, assignee=assignee)
        TicketEvent.objects.create(
            organization_id=ticket.organization_id,
            ticket=ticket,
            kind=TicketEvent.Kind.AUTOMATION,
            data={
                "rule": rule,
                "event": "ticket.created",
                "outcome": "applied",
                "results": [
                    {"action": "set_team", "outcome": "done", "detail": f"Team set to {team}."},
                    {
                        "action": "assign",
                        "outcome": "done",
                        "detail": f"Assigned to {assignee.display_name} (round-robin).",
                    },
                    {"action": "add_tags", "outcome": "unchanged", "detail": "Already tagged."},
                ],
                "via": cause.stamp(),
            },
        )
    return run


def _timeline(page: str) -> str:
    return re.search(r'<section class="card timeline".*?</section>', page, re.S).group(0)


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_an_automation_run_is_one_entry_with_its_rows_nested(acme):
    with acme.scope():
        billing = tenant_services.team_create(organization=acme.org, name="Billing")
        ticket = make_ticket(acme.org)
        ticket_change_priority(ticket=ticket, priority=Priority.objects.get(name="High"))
        _automation_run(ticket, team=billing, assignee=acme.agent)
    page = acme.client(acme.agent).get(f"/agent/tickets/{ticket.number}/").content.decode()
    top = re.sub(r"<details>.*?</details>", "", _timeline(page), flags=re.S)
    entries = re.findall(r"<li( class=\"run[^\"]*\")?><time", top)
    assert entries == ["", "", ' class="run run-automation"']  # created, priority, the run
    run = re.search(r'<li class="run run-automation">.*?</details>', page, re.S).group(0)
    summary, nested = run.split("<details>")
    assert _text(summary).endswith(
        "Automation “Route billing”: team set to Billing; assigned to Acme Agent (round-robin)"
    )
    rows = [_text(li) for li in re.findall(r"<li><time.*?</li>", nested, re.S)]
    assert [row.split(" ", 3)[3] for row in rows] == [
        "changed team to Billing by automation",
        "changed assignee to Acme Agent by automation",
    ]
    assert "System" not in run


def test_a_macro_is_one_entry_named_after_the_agent(acme):
    with acme.scope():
        ticket = make_ticket(acme.org)
        high = Priority.objects.get(name="High")
        macro = Macro.objects.create(
            organization=acme.org,
            name="Escalate",
            actions=[{"type": "set_priority", "priority_id": high.pk}],
            reply_text="Escalated.",
            reply_public=False,
        )
        macro_apply(macro=macro, ticket=ticket, actor_user=acme.agent)
    page = acme.client(acme.admin).get(f"/agent/tickets/{ticket.number}/").content.decode()
    run = re.search(r'<li class="run run-macro">.*?</details>', page, re.S).group(0)
    summary, nested = run.split("<details>")
    assert _text(summary).endswith(
        "Acme Agent applied macro “Escalate”: priority set to High; added an internal note"
    )
    rows = [_text(li).split(" ", 3)[3] for li in re.findall(r"<li><time.*?</li>", nested, re.S)]
    assert rows == [
        "Acme Agent changed priority from Normal to High",
        "Acme Agent added an internal note",
    ]


def test_entries_keep_timeline_order_and_runs_without_a_header(acme):
    def row(pk, kind="status", run="", name="R", via_kind=causes.AUTOMATION):
        data = {"to": "x"}
        if run:
            data["via"] = {"kind": via_kind, "name": name, "run": run}
        return TicketEvent(pk=pk, kind=kind, data=data)

    events = [
        row(1),
        row(2, run="a"),
        row(3, run="b", name="M", via_kind=causes.MACRO),
        row(4, run="a"),
        row(5, kind="automation", run="a"),
        row(6),
        row(7, kind="macro", run="b", name="M", via_kind=causes.MACRO),
        row(8, run="c", name="Lonely"),
    ]
    shape = [
        (e.event.pk, e.kind, e.name, e.header.pk if e.header else None, [c.pk for c in e.children])
        for e in timeline_entries(events)
    ]
    assert shape == [
        (1, "", "", None, []),
        (5, "automation", "R", 5, [2, 4]),
        (7, "macro", "M", 7, [3]),
        (6, "", "", None, []),
        (8, "automation", "Lonely", None, [8]),
    ]


def _queries(client, url) -> int:
    cache.clear()  # rail counts are cached; measure every page cold
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_ticket_page_costs_the_same_queries_for_one_run_or_many(acme):
    with acme.scope():
        billing = tenant_services.team_create(organization=acme.org, name="Billing")
        second = tenant_services.user_get_or_create(email="ann@acme.test", name="Ann")
        tenant_services.membership_add(organization=acme.org, user=second, role="agent")
        ticket = make_ticket(acme.org)
        _automation_run(ticket, team=billing, assignee=acme.agent)
        macro = Macro.objects.create(
            organization=acme.org, name="Note", actions=[], reply_text="Seen.", reply_public=False
        )
        macro_apply(macro=macro, ticket=ticket, actor_user=acme.agent)
    client = acme.client(acme.agent)
    url = f"/agent/tickets/{ticket.number}/"
    one = _queries(client, url)
    with acme.scope():
        for i in range(15):
            team = acme.team if i % 2 else billing
            _automation_run(
                ticket, rule=f"Rule {i}", team=team, assignee=[acme.agent, second][i % 2]
            )
            macro_apply(macro=macro, ticket=ticket, actor_user=second if i % 2 else acme.agent)
    many = _queries(client, url)
    assert (one, many) == (one, one)
    page = client.get(url).content.decode()
    assert page.count('class="run run-automation"') == 16
    assert page.count('class="run run-macro"') == 16
