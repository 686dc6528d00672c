"""Settings -> Automations: the rules list (order, enabled, last run, failures), the editor
(trigger options, condition groups and action rows without JSON, validated against this
tenant), its preview, the run log, and the deletion guards of what rules name. Admins only;
another tenant's rule is a 404; a garbage POST gets messages, never a 500."""

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations import preview, rules_cache
from automations.models import Macro, Rule, RuleRun
from tenants.models import AuditEntry, Membership, Team
from tests.factories import make_ticket
from tickets.models import Collaborator, Priority, Status, StatusCategory
from tickets.services.tickets import ticket_change_status

BASE = "/settings/automations/"


@pytest.fixture
def admin(acme):
    return acme.client(acme.admin)


def _status(org, name="Pending") -> Status:
    return Status.objects.get(organization=org, name=name)


def _priority(org, name="Urgent") -> Priority:
    return Priority.objects.get(organization=org, name=name)


def _rule(org, name="Route billing", *, position=0, **fields) -> Rule:
    values = {
        "trigger": "ticket_created",
        "trigger_options": {"sources": []},
        "conditions": {"all": [], "any": []},
        "actions": [{"type": "add_tags", "names": ["billing"]}],
        **fields,
    }
    return Rule.objects.create(organization=org, name=name, position=position, **values)


def _rows(prefix: str, rows: list[dict]) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        data |= {f"{prefix}-{i}-{key}": value for key, value in row.items()}
    return data


def _post(name="Route billing", *, trigger="ticket_created", all_=(), any_=(), actions=(), **extra):
    data = {"name": name, "trigger": trigger, "enabled": "on", "author": "any"}
    data |= {"visibility": "any", "change": "any"}
    data |= _rows("all", list(all_)) | _rows("any", list(any_)) | _rows("actions", list(actions))
    return data | extra


TAG_BILLING = {"type": "add_tags", "names": "billing"}


def _text(response) -> str:
    return response.content.decode()


# -- access ----------------------------------------------------------------------------------------

PAGES = [BASE, f"{BASE}new/", f"{BASE}runs/"]


@pytest.mark.parametrize("url", PAGES)
def test_automation_pages_are_for_admins_of_this_tenant_only(acme, globex, url):
    assert acme.client(acme.admin).get(url).status_code == 200
    assert acme.client(acme.agent).get(url).status_code == 404
    assert acme.client(globex.admin).get(url).status_code == 404
    assert acme.client().get(url).status_code == 302


def test_automations_page_is_in_the_settings_navigation(acme, admin):
    body = _text(admin.get("/settings/statuses/"))
    assert re.search(r'href="/settings/automations/"[^>]*>Automations</a>', body)


def test_another_tenants_rule_is_404_and_stays_as_it_was(acme, globex, admin):
    with globex.scope():
        theirs = _rule(globex.org, enabled=True)
    url = f"{BASE}{theirs.pk}/"
    assert admin.get(url).status_code == 404
    posts = [url, f"{url}enabled/", f"{url}move/", f"{url}delete/"]
    data = _post("Stolen", actions=[TAG_BILLING]) | {"enabled": "0", "confirm": "1"}
    assert [admin.post(u, data).status_code for u in posts] == [404] * 4
    assert admin.get(f"{BASE}abc/").status_code == 404
    with globex.scope():
        assert Rule.objects.values_list("name", "enabled").get() == ("Route billing", True)


def test_two_tenants_with_the_same_rule_names_see_only_their_own(acme, globex, admin):
    with globex.scope():
        _rule(globex.org, actions=[{"type": "add_tags", "names": ["globex-only"]}])
    with acme.scope():
        _rule(acme.org, actions=[{"type": "add_tags", "names": ["acme-only"]}])
    body = _text(admin.get(BASE))
    assert body.count("Route billing</a>") == 1
    assert "acme-only" in body
    assert "globex-only" not in body


# -- creating and editing --------------------------------------------------------------------------


def test_create_rule_from_the_form_saves_the_schema_shapes(
    acme, admin, django_capture_on_commit_callbacks
):
    with acme.scope():
        pending, urgent = _status(acme.org), _priority(acme.org)
        assert rules_cache.rules_for(organization_id=acme.org.pk, trigger="ticket_created") == []
    data = _post(
        trigger="ticket_created",
        sources=["email", "portal"],
        all_=[
            {"field": "subject", "op": "contains_any", "text": "refund, invoice\nbilling"},
            {"field": "status", "op": "is_not", "statuses": [str(pending.pk)]},
            {"field": "collaborators", "op": "is_not_set"},
        ],
        any_=[{"field": "requester_domain", "op": "is", "text": "@Example.com"}],
        actions=[
            {"type": "set_team", "team_id": str(acme.team.pk)},
            {"type": "assign", "mode": "round_robin", "within_team_id": ""},
            {"type": "set_priority", "priority_id": str(urgent.pk)},
            TAG_BILLING,
        ],
        stop_processing="on",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"{BASE}new/", data)
    with acme.scope():
        rule = Rule.objects.get()
        cached = rules_cache.rules_for(organization_id=acme.org.pk, trigger="ticket_created")
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}{rule.pk}/"
    assert (rule.name, rule.enabled, rule.stop_processing, rule.trigger) == (
        "Route billing",
        True,
        True,
        "ticket_created",
    )
    assert rule.trigger_options == {"sources": ["email", "portal"]}
    assert rule.conditions == {
        "all": [
            {"field": "subject", "op": "contains_any", "value": ["refund", "invoice", "billing"]},
            {"field": "status", "op": "is_not", "value": [pending.pk]},
            {"field": "collaborators", "op": "is_not_set"},
        ],
        "any": [{"field": "requester_domain", "op": "is", "value": ["example.com"]}],
    }
    assert rule.actions == [
        {"type": "set_team", "team_id": acme.team.pk},
        {"type": "assign", "mode": "round_robin", "team_id": None},
        {"type": "set_priority", "priority_id": urgent.pk},
        {"type": "add_tags", "names": ["billing"]},
    ]
    # The workers' cache was dropped after commit: the new rule is what they load.
    assert [c.rule.pk for c in cached] == [rule.pk]


def test_edit_page_shows_the_saved_rule_and_saving_it_unchanged_keeps_it(acme, admin):
    with acme.scope():
        pending = _status(acme.org)
        rule = _rule(
            acme.org,
            trigger="hours_in_status",
            trigger_options={"hours": 72, "status_id": pending.pk},
            conditions={
                "all": [{"field": "tags", "op": "has_any", "value": ["vip", "gold"]}],
                "any": [{"field": "assignee", "op": "is", "value": [acme.agent.pk]}],
            },
            actions=[{"type": "mail_requester", "subject": "Still there?", "body": "Hi"}],
        )
    page = _text(admin.get(f"{BASE}{rule.pk}/"))
    assert 'value="vip, gold"' in page
    assert re.search(rf'<option value="{acme.agent.pk}" selected>', page)
    assert re.search(rf'<option value="{pending.pk}" selected>Pending</option>', page)
    assert 'name="hours" value="72"' in page
    assert 'value="Still there?"' in page
    data = _post(
        trigger="hours_in_status",
        hours="72",
        in_status=str(pending.pk),
        all_=[{"field": "tags", "op": "has_any", "text": "vip, gold"}],
        any_=[{"field": "assignee", "op": "is", "agents": [str(acme.agent.pk)]}],
        actions=[{"type": "mail_requester", "subject": "Still there?", "body": "Hi"}],
    )
    assert admin.post(f"{BASE}{rule.pk}/", data).status_code == 302
    with acme.scope():
        saved = Rule.objects.get(pk=rule.pk)
    assert (saved.trigger_options, saved.conditions, saved.actions) == (
        rule.trigger_options,
        rule.conditions,
        rule.actions,
    )


def test_a_row_left_empty_is_left_out_and_one_blank_row_per_group_is_offered(acme, admin):
    data = _post(
        all_=[{"field": "", "op": "is"}, {"field": "subject", "op": "contains_any", "text": "x"}],
        actions=[{"type": ""}, TAG_BILLING],
    )
    assert admin.post(f"{BASE}new/", data).status_code == 302
    with acme.scope():
        rule = Rule.objects.get()
    assert rule.conditions["all"] == [{"field": "subject", "op": "contains_any", "value": ["x"]}]
    assert rule.actions == [{"type": "add_tags", "names": ["billing"]}]
    page = _text(admin.get(f"{BASE}{rule.pk}/"))
    # one saved and one blank row in "all", one blank in "any", one saved and one blank action
    assert re.findall(r'name="(\w+)-TOTAL_FORMS" value="(\d+)"', page) == [
        ("all", "2"),
        ("any", "1"),
        ("actions", "2"),
    ]


def test_add_row_without_javascript_sends_the_form_back_with_one_more_row(acme, admin):
    data = _post(all_=[{"field": "subject", "op": "contains_any", "text": "x"}]) | {
        "add_row": "all"
    }
    response = admin.post(f"{BASE}new/", data)
    assert response.status_code == 200
    assert 'name="all-TOTAL_FORMS" value="2"' in _text(response)
    assert 'name="all-0-text" value="x"' in _text(response)
    with acme.scope():
        assert Rule.objects.exists() is False


def test_a_time_rule_whose_clock_changed_scans_again_from_the_start(acme, admin):
    with acme.scope():
        rule = _rule(acme.org, trigger="hours_since_created", trigger_options={"hours": 72})
        Rule.objects.filter(pk=rule.pk).update(time_cursor_at=timezone.now(), time_cursor_id=9)
    same = _post("Renamed", trigger="hours_since_created", hours="72", actions=[TAG_BILLING])
    assert admin.post(f"{BASE}{rule.pk}/", same).status_code == 302
    with acme.scope():
        kept = Rule.objects.get(pk=rule.pk)
    assert (kept.name, kept.time_cursor_id, kept.time_cursor_at is None) == ("Renamed", 9, False)
    other = same | {"hours": "48"}
    assert admin.post(f"{BASE}{rule.pk}/", other).status_code == 302
    with acme.scope():
        moved = Rule.objects.get(pk=rule.pk)
    assert (moved.trigger_options, moved.time_cursor_id, moved.time_cursor_at) == (
        {"hours": 48},
        0,
        None,
    )


def test_duplicate_name_is_refused(acme, admin):
    with acme.scope():
        _rule(acme.org)
    response = admin.post(f"{BASE}new/", _post("route BILLING", actions=[TAG_BILLING]))
    assert response.status_code == 400
    assert "There is already a rule named “route BILLING”." in _text(response)


# -- validation ------------------------------------------------------------------------------------


def _field_errors(response) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", e).strip()
        for e in re.findall(r'class="field-error" role="alert">(.*?)</div>', _text(response), re.S)
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"field": "status", "op": "contains_any"}, "Status takes “is”, “is not”."),
        ({"field": "status", "op": "is"}, "Pick at least one of the statuses."),
        ({"field": "subject", "op": "contains_any", "text": " , ,"}, "Write at least one value"),
        ({"field": "subject", "op": "matches", "text": "  "}, "Write the pattern to look for."),
        ({"field": "requester_email", "op": "is", "text": "not-an-address"}, "is not an email"),
        ({"field": "requester_domain", "op": "is", "text": "no domain"}, "is not a domain"),
        ({"field": "priority", "op": "at_least", "priorities": []}, "Pick at least one"),
        ({"field": "nope", "op": "is"}, "Select a valid choice. nope is not one of"),
        ({"field": "status", "op": "is", "statuses": ["x"]}, "Select a valid choice. x is not"),
    ],
)
def test_a_bad_condition_row_gets_its_message_and_nothing_is_saved(acme, admin, row, message):
    response = admin.post(f"{BASE}new/", _post(all_=[row], actions=[TAG_BILLING]))
    assert response.status_code == 400
    assert [e for e in _field_errors(response) if message in e] != []
    with acme.scope():
        assert Rule.objects.exists() is False


def test_priority_at_least_takes_exactly_one_priority(acme, admin):
    with acme.scope():
        ids = [str(p.pk) for p in Priority.objects.all()[:2]]
    row = {"field": "priority", "op": "at_least", "priorities": ids}
    response = admin.post(f"{BASE}new/", _post(all_=[row], actions=[TAG_BILLING]))
    assert response.status_code == 400
    assert "Pick the one priority to compare with." in _field_errors(response)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"trigger": "hours_since_created"}, "Give the number of hours (1 or more)."),
        ({"trigger": "hours_since_agent", "hours": "0"}, "greater than or equal to 1"),
        ({"trigger": "hours_in_status", "hours": "5"}, "Choose the status."),
        ({"trigger": "rm -rf"}, "Select a valid choice. rm -rf is not one of"),
        ({"name": ""}, "This field is required."),
    ],
)
def test_a_bad_trigger_gets_its_message(acme, admin, extra, message):
    response = admin.post(f"{BASE}new/", _post(actions=[TAG_BILLING]) | extra)
    assert response.status_code == 400
    assert [e for e in _field_errors(response) if message in e] != []
    with acme.scope():
        assert Rule.objects.exists() is False


def test_a_rule_needs_an_action(acme, admin):
    response = admin.post(f"{BASE}new/", _post(actions=[{"type": ""}]))
    assert response.status_code == 400
    assert "Give the rule at least one action." in _text(response)


GARBAGE = [
    {},
    {"name": "x"},
    {"name": "x", "trigger": "ticket_created", "all-TOTAL_FORMS": "abc"},
    _post(actions=[TAG_BILLING]) | {"all-TOTAL_FORMS": "100000", "any-INITIAL_FORMS": "-4"},
    _post(actions=[TAG_BILLING]) | {"actions-TOTAL_FORMS": "5000"},
    _post(actions=[{"type": "assign", "mode": "telepathy", "user_id": "me"}]),
    _post(actions=[{"type": "set_status", "status_id": "9" * 30}]),
    _post(actions=[{"type": "add_tags", "names": "x" * 600}]),
    _post(all_=[{"field": "customer", "op": "is", "customers": ["1e9", "-1"]}]),
    _post(all_=[{"field": "subject", "op": "matches", "text": "(" * 5000}]),
    _post(trigger="status_changed", to_statuses=["abc"], in_status="zz", hours="many"),
    _post(actions=[{"type": "nope"}]) | {"add_row": "elsewhere"},
    _post(actions=[TAG_BILLING]) | {"sources": ["pigeon"], "targets": ["everything"]},
]


@pytest.mark.parametrize("data", GARBAGE)
def test_garbage_posts_get_messages_not_errors(acme, admin, data):
    response = admin.post(f"{BASE}new/", data)
    assert response.status_code in (200, 400)
    assert 'role="alert"' in _text(response)
    with acme.scope():
        assert Rule.objects.exists() is False


def test_ids_of_another_tenant_are_refused_in_every_place(acme, globex, admin):
    with globex.scope():
        their_status, their_team = _status(globex.org), globex.team
        their_priority = _priority(globex.org)
    data = _post(
        trigger="status_changed",
        to_statuses=[str(their_status.pk)],
        all_=[{"field": "team", "op": "is", "teams": [str(their_team.pk)]}],
        any_=[{"field": "assignee", "op": "is", "agents": [str(globex.agent.pk)]}],
        actions=[
            {"type": "set_priority", "priority_id": str(their_priority.pk)},
            {"type": "assign", "mode": "user", "user_id": str(globex.agent.pk)},
            {"type": "notify", "target": "team", "within_team_id": str(their_team.pk)},
        ],
    )
    response = admin.post(f"{BASE}new/", data)
    assert response.status_code == 400
    invalid = [e for e in _field_errors(response) if "Select a valid choice" in e]
    assert len(invalid) == 6
    with acme.scope():
        assert Rule.objects.exists() is False


def test_the_editor_names_what_changed_since_a_rule_was_saved(acme, admin):
    with acme.scope():
        gone = Status.objects.create(
            organization=acme.org, name="Waiting", category=StatusCategory.PENDING
        )
        rule = _rule(acme.org, actions=[{"type": "set_status", "status_id": gone.pk}])
        Status.objects.filter(pk=gone.pk).delete()
    page = _text(admin.get(f"{BASE}{rule.pk}/"))
    assert "things this rule names have changed" in page
    assert "Action 1: the status you picked no longer exists." in page


# -- list, order, enabled, delete ------------------------------------------------------------------


def test_list_shows_trigger_actions_last_run_and_recent_failures(acme, admin):
    with acme.scope():
        pending = _status(acme.org)
        rule = _rule(
            acme.org,
            trigger="hours_in_status",
            trigger_options={"hours": 72, "status_id": pending.pk},
            actions=[{"type": "set_team", "team_id": acme.team.pk}],
        )
        quiet = _rule(acme.org, name="Quiet", position=1, enabled=False)
        ticket = make_ticket(acme.org)
        now = timezone.now()
        for n, (outcome, age) in enumerate(
            [("failed", 1), ("partial", 2), ("applied", 0), ("failed", 9)]
        ):
            _run(rule, ticket, origin=f"o{n}", outcome=outcome, at=now - timedelta(days=age))
    page = _text(admin.get(BASE))
    row = page.split(f'id="rule-{rule.pk}"')[1].split("</tr>")[0]
    assert "72 hours in “Pending”" in row
    assert "Set team to Support" in row
    assert re.search(r"<time datetime=[^>]+>now</time>", row)
    assert re.search(r'failed=1">2</a>', row)
    quiet_row = page.split(f'id="rule-{quiet.pk}"')[1].split("</tr>")[0]
    assert "never" in quiet_row
    assert ">Enable</button>" in quiet_row


def _run(rule, ticket, *, origin, outcome="applied", at=None, results=None):
    return RuleRun.objects.create(
        organization=rule.organization,
        rule=rule,
        rule_name=rule.name,
        ticket=ticket,
        event="ticket.created",
        origin=origin,
        outcome=outcome,
        results=results or [{"action": "add_tags", "outcome": "done", "detail": "Tagged billing"}],
        created_at=at or timezone.now(),
    )


def _queries(client, url) -> int:
    cache.clear()  # the rail's counts are cached; measure every page cold
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_list_query_count_is_constant(acme, admin):
    def add(n: int, ticket) -> None:
        pending = _status(acme.org)
        rule = _rule(
            acme.org,
            name=f"Rule {n}",
            position=n,
            trigger="status_changed",
            trigger_options={"to_status_ids": [pending.pk]},
            actions=[
                {"type": "set_status", "status_id": pending.pk},
                {"type": "assign", "mode": "user", "user_id": acme.agent.pk},
                {"type": "set_team", "team_id": acme.team.pk},
            ],
        )
        _run(rule, ticket, origin=f"o{n}", outcome="failed")

    with acme.scope():
        ticket = make_ticket(acme.org)
        add(0, ticket)
    one = _queries(admin, BASE)
    with acme.scope():
        for n in range(1, 20):
            add(n, ticket)
    assert _queries(admin, BASE) == one


def test_move_up_and_down_reorders_and_stops_at_the_ends(acme, admin):
    with acme.scope():
        first, _second, third = (_rule(acme.org, name=n, position=i) for i, n in enumerate("ABC"))
    admin.post(f"{BASE}{third.pk}/move/", {"direction": "up"})
    admin.post(f"{BASE}{first.pk}/move/", {"direction": "up"})
    with acme.scope():
        assert list(Rule.objects.values_list("name", flat=True)) == ["A", "C", "B"]
    admin.post(f"{BASE}{first.pk}/move/", {"direction": "down"})
    with acme.scope():
        assert list(Rule.objects.values_list("name", flat=True)) == ["C", "A", "B"]


def test_new_rules_go_last(acme, admin):
    with acme.scope():
        _rule(acme.org, name="First", position=7)
    admin.post(f"{BASE}new/", _post("Second", actions=[TAG_BILLING]))
    with acme.scope():
        assert list(Rule.objects.values_list("name", "position")) == [("First", 7), ("Second", 8)]


def test_enable_and_disable(acme, admin, django_capture_on_commit_callbacks):
    with acme.scope():
        rule = _rule(acme.org)
        assert (
            len(rules_cache.rules_for(organization_id=acme.org.pk, trigger="ticket_created")) == 1
        )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"{BASE}{rule.pk}/enabled/", {"enabled": "0"})
    assert response.status_code == 302
    with acme.scope():
        assert Rule.objects.get(pk=rule.pk).enabled is False
        assert rules_cache.rules_for(organization_id=acme.org.pk, trigger="ticket_created") == []
    assert "Rule “Route billing” disabled." in _text(admin.get(BASE))
    admin.post(f"{BASE}{rule.pk}/enabled/", {"enabled": "1"})
    with acme.scope():
        assert Rule.objects.get(pk=rule.pk).enabled is True


def test_delete_asks_first_then_deletes(acme, admin):
    with acme.scope():
        rule = _rule(acme.org)
    asking = admin.post(f"{BASE}{rule.pk}/delete/")
    assert asking.status_code == 200
    assert "Delete the rule “Route billing”?" in _text(asking)
    with acme.scope():
        assert Rule.objects.exists() is True
    assert admin.post(f"{BASE}{rule.pk}/delete/", {"confirm": "1"}).status_code == 302
    with acme.scope():
        assert Rule.objects.exists() is False


def test_saving_a_rule_is_in_the_audit_log(acme, admin):
    admin.post(f"{BASE}new/", _post(actions=[TAG_BILLING]))
    admin.post(f"{BASE}new/", _post("", actions=[TAG_BILLING]))  # refused: not recorded
    with acme.scope():
        entries = list(AuditEntry.objects.filter(action=AuditEntry.SETTINGS_CHANGE))
    assert [e.target for e in entries] == ["automations:rule_new"]


# -- preview ---------------------------------------------------------------------------------------


def _preview(admin, **post):
    return admin.post(f"{BASE}new/", _post(actions=[TAG_BILLING], **post) | {"preview": "1"})


def _previewed(response) -> list[int]:
    section = _text(response).split('id="preview"')[1]
    return [int(n) for n in re.findall(r'href="/agent/tickets/(\d+)/"', section)]


def test_preview_lists_the_open_tickets_that_match_now(acme, globex, admin):
    with globex.scope():
        make_ticket(globex.org, subject="Refund please")
    with acme.scope():
        a = make_ticket(acme.org, subject="Refund please")
        b = make_ticket(acme.org, subject="Where is my REFUND?", email="dan@other.test")
        make_ticket(acme.org, subject="Printer on fire")
        done = make_ticket(acme.org, subject="Refund done")
        ticket_change_status(ticket=done, status=_status(acme.org, "Resolved"))
    response = _preview(admin, all_=[{"field": "subject", "op": "contains_any", "text": "refund"}])
    assert response.status_code == 200
    assert _previewed(response) == [b.number, a.number]
    assert "2 open tickets match now" in _text(response)
    with acme.scope():
        assert Rule.objects.exists() is False  # a preview saves nothing


def test_preview_notes_conditions_it_cannot_judge(acme, admin):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Hello")
    response = _preview(
        admin,
        all_=[
            {"field": "comment_text", "op": "contains_any", "text": "refund"},
            {"field": "actor", "op": "is", "actors": ["customer"]},
        ],
    )
    assert _previewed(response) == [ticket.number]
    assert "Conditions on the new comment&#x27;s text are left out" in _text(response)
    assert "Conditions on who made the event are left out" in _text(response)


def test_preview_of_a_time_rule_counts_only_tickets_past_its_hours(acme, admin):
    with acme.scope():
        old = make_ticket(acme.org, subject="Old", created_at=timezone.now() - timedelta(hours=80))
        make_ticket(acme.org, subject="New")
    response = _preview(admin, trigger="hours_since_created", hours="72")
    assert _previewed(response) == [old.number]
    assert "1 open ticket matches now" in _text(response)


def test_preview_says_at_least_when_the_candidates_are_bounded(acme, admin, monkeypatch):
    monkeypatch.setattr(preview, "MAX_CANDIDATES", 3)
    with acme.scope():
        for n in range(5):
            make_ticket(acme.org, subject=f"Refund {n}")
    response = _preview(admin, all_=[{"field": "subject", "op": "contains_any", "text": "refund"}])
    assert len(_previewed(response)) == 3
    assert "At least 3 open tickets match now" in _text(response)


def test_preview_query_count_does_not_grow_with_the_tickets(acme, admin):
    row = {"field": "subject", "op": "contains_any", "text": "refund"}
    with acme.scope():
        make_ticket(acme.org, subject="Refund 0")
    cache.clear()
    with CaptureQueriesContext(connection) as one:
        _preview(admin, all_=[row])
    with acme.scope():
        for n in range(1, 30):
            ticket = make_ticket(acme.org, subject=f"Refund {n}", email=f"c{n}@x.test")
            Collaborator.objects.create(
                organization=acme.org, ticket=ticket, contact=ticket.requester
            )
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        response = _preview(admin, all_=[row])
    assert len(_previewed(response)) == 30
    assert len(many.captured_queries) == len(one.captured_queries)


# -- run log ---------------------------------------------------------------------------------------


def test_run_log_lists_runs_filters_by_rule_and_failures(acme, globex, admin):
    with globex.scope():
        _run(_rule(globex.org, name="Theirs"), make_ticket(globex.org), origin="g")
    with acme.scope():
        ticket = make_ticket(acme.org)
        billing, vip = _rule(acme.org), _rule(acme.org, name="VIP", position=1)
        ok = _run(billing, ticket, origin="a")
        bad = _run(
            vip,
            ticket,
            origin="b",
            outcome="failed",
            results=[{"action": "set_team", "outcome": "failed", "detail": "The team is gone."}],
        )

    def shown(query=""):
        page = _text(admin.get(f"{BASE}runs/{query}"))
        return [int(n) for n in re.findall(r'id="run-(\d+)"', page)]

    assert shown() == [bad.pk, ok.pk]
    assert shown(f"?rule={billing.pk}") == [ok.pk]
    assert shown("?failed=1") == [bad.pk]
    assert shown(f"?rule={vip.pk}&failed=1") == [bad.pk]
    assert shown("?rule=nonsense&page=-3") == [bad.pk, ok.pk]
    page = _text(admin.get(f"{BASE}runs/"))
    assert "The team is gone." in page
    assert "Theirs" not in page


def test_run_log_pages_and_keeps_a_fixed_query_count(acme, admin):
    with acme.scope():
        ticket = make_ticket(acme.org)
        rule = _rule(acme.org)
        _run(rule, ticket, origin="first")
    one = _queries(admin, f"{BASE}runs/")
    with acme.scope():
        start = timezone.now() - timedelta(hours=1)
        for n in range(60):
            other = make_ticket(acme.org, email=f"r{n}@x.test") if n % 10 == 0 else ticket
            _run(rule, other, origin=f"o{n}", at=start + timedelta(seconds=n))
    assert _queries(admin, f"{BASE}runs/") == one
    first = _text(admin.get(f"{BASE}runs/"))
    second = _text(admin.get(f"{BASE}runs/?page=2"))
    assert (first.count('id="run-'), second.count('id="run-')) == (50, 11)
    assert 'href="?page=2" rel="next"' in first
    assert 'href="?page=1" rel="prev"' in second
    assert 'rel="next"' not in second


# -- deletion guards -------------------------------------------------------------------------------


def test_a_team_an_enabled_rule_names_cannot_be_deleted(acme, admin):
    with acme.scope():
        rule = _rule(
            acme.org, actions=[{"type": "assign", "mode": "round_robin", "team_id": acme.team.pk}]
        )
    response = admin.post(f"/settings/teams/{acme.team.pk}/delete/", {"confirm": "1"})
    assert response.status_code == 409
    assert "You can't delete the team “Support” yet" in _text(response)
    assert f'<a href="/settings/automations/{rule.pk}/">Rule “Route billing”</a>' in _text(response)
    with acme.scope():
        assert Team.objects.filter(pk=acme.team.pk).exists() is True
        Rule.objects.filter(pk=rule.pk).update(enabled=False)
    assert (
        admin.post(f"/settings/teams/{acme.team.pk}/delete/", {"confirm": "1"}).status_code == 302
    )
    with acme.scope():
        assert Team.objects.filter(pk=acme.team.pk).exists() is False


def test_a_status_in_a_trigger_or_condition_cannot_be_deleted(acme, admin):
    with acme.scope():
        pending, hold = _status(acme.org), _status(acme.org, "On hold")
        _rule(
            acme.org,
            trigger="hours_in_status",
            trigger_options={"hours": 1, "status_id": pending.pk},
        )
        _rule(
            acme.org,
            name="Held",
            position=1,
            conditions={
                "all": [],
                "any": [{"field": "status", "op": "is_not", "value": [hold.pk]}],
            },
        )
    for status, name in ((pending, "Route billing"), (hold, "Held")):
        response = admin.post(f"/settings/statuses/{status.pk}/delete/", {"confirm": "1"})
        assert response.status_code == 409
        assert f"Rule “{name}”" in _text(response)
    with acme.scope():
        assert Status.objects.filter(pk__in=[pending.pk, hold.pk]).count() == 2


def test_a_priority_a_shared_macro_names_cannot_be_deleted(acme, admin):
    with acme.scope():
        low = _priority(acme.org, "Low")
        macro = Macro.objects.create(
            organization=acme.org,
            name="Calm down",
            actions=[{"type": "set_priority", "priority_id": low.pk}],
        )
        Macro.objects.create(
            organization=acme.org,
            name="Mine",
            owner=acme.agent,
            actions=[{"type": "set_priority", "priority_id": low.pk}],
        )
    response = admin.post(f"/settings/priorities/{low.pk}/delete/", {"confirm": "1"})
    assert response.status_code == 409
    assert re.findall(r"<li>(.*?)</li>", _text(response).split('class="blockers"')[1]) == [
        f'<a href="/settings/macros/{macro.pk}/">Macro “Calm down”</a>'
    ]


def test_an_agent_a_rule_names_cannot_be_removed(acme, admin):
    with acme.scope():
        _rule(
            acme.org,
            actions=[
                {"type": "notify", "target": "user", "user_id": acme.agent.pk, "message": "Hi"}
            ],
        )
        membership = Membership.objects.get(user=acme.agent)
    response = admin.post(f"/settings/members/{membership.pk}/remove/", {"confirm": "1"})
    assert response.status_code == 409
    assert "You can't remove Acme Agent (agent@acme.test) yet" in _text(response)
    with acme.scope():
        assert Membership.objects.filter(pk=membership.pk).exists() is True


def test_another_tenants_rules_do_not_guard_this_tenants_rows(acme, globex, admin):
    with globex.scope():
        # Garbage that names acme's team: the guard reads only this tenant's rules.
        _rule(globex.org, actions=[{"type": "set_team", "team_id": acme.team.pk}])
    assert (
        admin.post(f"/settings/teams/{acme.team.pk}/delete/", {"confirm": "1"}).status_code == 302
    )


# -- in a real browser -----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_builds_a_rule_in_the_browser(live_server, acme, browser_page):
    from tests.browser import ARTIFACTS

    base = f"http://acme.localhost:{live_server.url.rsplit(':', 1)[1]}"
    page = browser_page
    page.goto(f"{base}/login/")
    page.fill("#id_username", "admin@acme.test")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    page.goto(f"{base}{BASE}new/")
    page.fill("#id_name", "Route billing")
    page.select_option("#id_trigger", "hours_since_created")
    assert page.locator("#id_hours").is_visible() is True
    page.select_option("#id_trigger", "ticket_created")
    assert page.locator("#id_hours").is_visible() is False
    assert page.locator("#id_all-0-op").is_visible() is False  # no field chosen yet

    page.select_option("#id_all-0-field", "subject")
    assert page.locator("#id_all-0-op").input_value() == "contains_any"  # "is" does not fit
    assert page.locator("#id_all-0-text").is_visible() is True
    assert page.locator("#id_all-0-statuses_0").is_visible() is False
    page.fill("#id_all-0-text", "refund, invoice")
    page.locator("[data-rows=all] [data-add-row]").click()
    page.locator("#id_all-1-field").wait_for()
    assert page.locator("input[name=all-TOTAL_FORMS]").input_value() == "2"
    page.select_option("#id_all-1-field", "collaborators")
    page.select_option("#id_all-1-op", "is_not_set")

    page.select_option("#id_actions-0-type", "add_tags")
    page.fill("#id_actions-0-names", "billing")
    page.screenshot(path=str(ARTIFACTS / "automations-rule-editor.png"), full_page=True)
    page.click("button:text('Save rule')")
    page.locator("h1", has_text="Rule “Route billing”").wait_for()
    with acme.scope():
        rule = Rule.objects.get()
    assert rule.conditions == {
        "all": [
            {"field": "subject", "op": "contains_any", "value": ["refund", "invoice"]},
            {"field": "collaborators", "op": "is_not_set"},
        ],
        "any": [],
    }
    assert rule.actions == [{"type": "add_tags", "names": ["billing"]}]
    page.goto(f"{base}{BASE}")
    page.screenshot(path=str(ARTIFACTS / "automations-rules.png"), full_page=True)
