"""Every action kind through the ticket services: done (with its TicketEvent marked as the
rule's and its domain event carrying the chain), unchanged (no TicketEvent, no event), failed
for what no longer exists or belongs to another tenant; and the check before saving."""

from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from automations.action_text import describe, names_for
from automations.actions import ActionResult, execute, validate_actions
from automations.facts import facts_for
from tenants import services as tenant_services
from tenants.models import Membership, Team
from tests.factories import make_ticket
from tickets import causes, events
from tickets.models import Collaborator, Comment, Priority, Status, Tag, Ticket, TicketEvent
from tickets.services.comments import comment_create
from tickets.services.tags import ticket_tags_add
from tickets.services.tickets import ticket_assign, ticket_change_team

RUN = causes.Cause(causes.AUTOMATION, "Route billing", "run-1", origin="o-1", depth=1, rule_id=7)
NAMES = [
    events.COMMENT_ADDED,
    events.STATUS_CHANGED,
    events.PRIORITY_CHANGED,
    events.ASSIGNED,
    events.TEAM_CHANGED,
    events.AUTOMATION_MAIL,
    events.AUTOMATION_NOTIFY,
]


@pytest.fixture
def heard():
    received: list[events.DomainEvent] = []
    for name in NAMES:
        events.subscribe(name, received.append)
    yield received
    for name in NAMES:
        events.unsubscribe(name, received.append)


@pytest.fixture
def act(django_capture_on_commit_callbacks):
    """One action as the engine runs it: in a transaction, under the rule's Cause, on the
    locked ticket; what it emitted is delivered after commit. Returns (result, ticket)."""

    def run(ticket, action, *, actor=None, event=None, cause=RUN):
        with (
            django_capture_on_commit_callbacks(execute=True),
            transaction.atomic(),
            causes.acting(cause),
        ):
            locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
            facts = facts_for(ticket=locked, event=event, now=timezone.now()) if event else None
            result = execute(action, ticket=locked, facts=facts, actor_user=actor)
        return result, locked

    return run


@pytest.fixture
def ticket(in_acme):
    return make_ticket(in_acme.org)


def timeline(ticket) -> list[tuple[str, dict]]:
    rows = TicketEvent.objects.filter(ticket=ticket).exclude(kind=TicketEvent.Kind.CREATED)
    return [(e.kind, e.data) for e in rows.order_by("id")]


def status(name):
    return Status.objects.get(name=name)


def member(tenant, email, *, role="agent", **fields):
    user = tenant_services.user_get_or_create(email=email, name=email.split("@")[0].title())
    tenant_services.membership_add(organization=tenant.org, user=user, role=role)
    if fields:
        Membership.objects.filter(user=user).update(**fields)
    return user


def other_tenant_id(globex, model, **filters) -> int:
    with globex.scope():
        return model.objects.get(**filters).pk


def assert_nothing_happened(ticket, heard):
    assert (timeline(ticket), heard) == ([], [])


VIA = {"kind": "automation", "name": "Route billing", "run": "run-1"}


# -- status, priority, team ----------------------------------------------------------------------


def test_set_status_moves_the_ticket_as_the_rule(ticket, act, heard):
    pending = status("Pending")
    result, locked = act(ticket, {"type": "set_status", "status_id": pending.pk})
    assert result == ActionResult("set_status", "done", "Status set to Pending.")
    assert (locked.status_id, locked.status_category) == (pending.pk, "pending")
    assert timeline(ticket) == [
        ("status", {"from": "New", "to": "Pending", "to_category": "pending", "via": VIA})
    ]
    assert [(e.name, e.actor_user_id, e.cause) for e in heard] == [
        (events.STATUS_CHANGED, None, RUN.as_dict())
    ]


def test_set_status_to_the_status_it_has_changes_nothing(ticket, act, heard):
    result, _ = act(ticket, {"type": "set_status", "status_id": status("New").pk})
    assert result == ActionResult("set_status", "unchanged", "The status is already New.")
    assert_nothing_happened(ticket, heard)


def test_set_status_fails_for_a_deleted_status_or_another_tenants(ticket, act, heard, globex):
    gone = Status.objects.create(organization=ticket.organization, name="Gone", category="open")
    gone_id = gone.pk
    gone.delete()
    theirs = other_tenant_id(globex, Status, name="Pending")
    for status_id in (gone_id, theirs):
        result, locked = act(ticket, {"type": "set_status", "status_id": status_id})
        assert result == ActionResult("set_status", "failed", "The status to set no longer exists.")
        assert locked.status.name == "New"
    assert_nothing_happened(ticket, heard)


def test_set_priority_done_unchanged_and_failed(ticket, act, heard, globex):
    high = Priority.objects.get(name="High")
    assert act(ticket, {"type": "set_priority", "priority_id": high.pk})[0] == ActionResult(
        "set_priority", "done", "Priority set to High."
    )
    assert [e.name for e in heard] == [events.PRIORITY_CHANGED]
    assert timeline(ticket) == [("priority", {"from": "Normal", "to": "High", "via": VIA})]
    heard.clear()
    again = act(ticket, {"type": "set_priority", "priority_id": high.pk})[0]
    theirs = other_tenant_id(globex, Priority, name="Urgent")
    foreign = act(ticket, {"type": "set_priority", "priority_id": theirs})[0]
    assert (again.outcome, foreign.outcome, foreign.detail) == (
        "unchanged",
        "failed",
        "The priority to set no longer exists.",
    )
    assert (len(timeline(ticket)), heard) == (1, [])


def test_set_team_and_remove_it(ticket, act, heard, in_acme):
    billing = tenant_services.team_create(organization=in_acme.org, name="Billing")
    set_it = act(ticket, {"type": "set_team", "team_id": billing.pk})[0]
    same = act(ticket, {"type": "set_team", "team_id": billing.pk})[0]
    removed = act(ticket, {"type": "set_team", "team_id": None})[0]
    none = act(ticket, {"type": "set_team", "team_id": None})[0]
    assert [(r.outcome, r.detail) for r in (set_it, same, removed, none)] == [
        ("done", "Team set to Billing."),
        ("unchanged", "The team is already Billing."),
        ("done", "Team removed."),
        ("unchanged", "The team is already empty."),
    ]
    assert [e.name for e in heard] == [events.TEAM_CHANGED, events.TEAM_CHANGED]
    assert [k for k, _ in timeline(ticket)] == ["team", "team"]


def test_set_team_fails_for_a_deleted_team_or_another_tenants(ticket, act, heard, globex):
    gone = Team.objects.create(organization=ticket.organization, name="Gone")
    gone_id = gone.pk
    gone.delete()
    for team_id in (gone_id, globex.team.pk):
        result, _ = act(ticket, {"type": "set_team", "team_id": team_id})
        assert result == ActionResult("set_team", "failed", "The team to set no longer exists.")
    assert_nothing_happened(ticket, heard)


# -- assignment ----------------------------------------------------------------------------------


def test_assign_to_an_agent_then_unassign(ticket, act, heard, in_acme):
    results = [
        act(ticket, {"type": "assign", "mode": "user", "user_id": in_acme.agent.pk})[0],
        act(ticket, {"type": "assign", "mode": "user", "user_id": in_acme.agent.pk})[0],
        act(ticket, {"type": "assign", "mode": "unassign"})[0],
        act(ticket, {"type": "assign", "mode": "unassign"})[0],
    ]
    assert [(r.outcome, r.detail) for r in results] == [
        ("done", "Assigned to Acme Agent."),
        ("unchanged", "The ticket is already assigned to Acme Agent."),
        ("done", "Unassigned."),
        ("unchanged", "The ticket is already unassigned."),
    ]
    assert [(e.name, e.data) for e in heard] == [
        (events.ASSIGNED, {"assignee_id": in_acme.agent.pk}),
        (events.ASSIGNED, {"assignee_id": None}),
    ]
    assert timeline(ticket) == [
        ("assignee", {"from": "", "to": "Acme Agent", "via": VIA}),
        ("assignee", {"from": "Acme Agent", "to": "", "via": VIA}),
    ]


def test_assign_fails_for_an_agent_of_another_tenant_or_a_deactivated_one(
    ticket, act, heard, in_acme, globex
):
    gone = member(in_acme, "left@acme.test")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    for user in (globex.agent, gone):
        result, locked = act(ticket, {"type": "assign", "mode": "user", "user_id": user.pk})
        assert result == ActionResult(
            "assign", "failed", "The agent to assign is no longer a member of this workspace."
        )
        assert locked.assignee_id is None
    assert_nothing_happened(ticket, heard)


def test_round_robin_within_the_named_team_takes_turns(ticket, act, heard, in_acme):
    ann, bob = member(in_acme, "ann@acme.test"), member(in_acme, "bob@acme.test")
    billing = tenant_services.team_create(
        organization=in_acme.org, name="Billing", members=[ann, bob]
    )
    action = {"type": "assign", "mode": "round_robin", "team_id": billing.pk}
    second = make_ticket(in_acme.org, subject="Second")
    first_result, first = act(ticket, action)
    second_result, _ = act(second, action)
    assert [first_result.detail, second_result.detail] == [
        "Assigned to Ann (round-robin within Billing).",
        "Assigned to Bob (round-robin within Billing).",
    ]
    assert first.assignee_id == ann.pk
    # Already one of the team's: it stays, and the team's turn is not used up.
    again, _ = act(ticket, action)
    assert again == ActionResult(
        "assign", "unchanged", "Already assigned to Ann, a member of Billing."
    )
    third = make_ticket(in_acme.org, subject="Third")
    assert act(third, action)[1].assignee_id == ann.pk
    assert [e.data["assignee_id"] for e in heard] == [ann.pk, bob.pk, ann.pk]


def test_round_robin_within_the_tickets_team_or_none(ticket, act, heard, in_acme):
    action = {"type": "assign", "mode": "round_robin", "team_id": None}
    result, _ = act(ticket, action)
    assert result == ActionResult("assign", "failed", "The ticket has no team.")
    ticket_change_team(ticket=ticket, team=in_acme.team)
    result, locked = act(ticket, action)
    assert (result.detail, locked.assignee_id) == (
        "Assigned to Acme Agent (round-robin within Support).",
        in_acme.agent.pk,
    )


def test_round_robin_fails_when_everyone_is_away(ticket, act, heard, in_acme, globex):
    Membership.objects.filter(user=in_acme.agent).update(is_away=True)
    result, _ = act(ticket, {"type": "assign", "mode": "round_robin", "team_id": in_acme.team.pk})
    assert result == ActionResult(
        "assign", "failed", "Nobody in Support can take it: no member is available."
    )
    theirs = act(ticket, {"type": "assign", "mode": "least_loaded", "team_id": globex.team.pk})[0]
    assert (theirs.outcome, theirs.detail) == (
        "failed",
        "The team to assign within no longer exists.",
    )
    assert_nothing_happened(ticket, heard)


def test_least_loaded_gives_the_ticket_to_the_member_with_fewest_open(ticket, act, in_acme):
    ann = member(in_acme, "ann@acme.test")
    team = tenant_services.team_create(
        organization=in_acme.org, name="Billing", members=[in_acme.agent, ann]
    )
    for i in range(2):
        ticket_assign(ticket=make_ticket(in_acme.org, subject=f"busy {i}"), assignee=in_acme.agent)
    result, locked = act(ticket, {"type": "assign", "mode": "least_loaded", "team_id": team.pk})
    assert (result.detail, locked.assignee_id) == (
        "Assigned to Ann (least-loaded within Billing).",
        ann.pk,
    )


# -- tags and collaborators ----------------------------------------------------------------------


def test_add_and_remove_tags(ticket, act, heard):
    ticket_tags_add(ticket=ticket, names=["VIP"])
    added = act(ticket, {"type": "add_tags", "names": ["vip", "billing"]})[0]
    again = act(ticket, {"type": "add_tags", "names": ["billing", "VIP"]})[0]
    removed = act(ticket, {"type": "remove_tags", "names": ["Billing", "nope"]})[0]
    none = act(ticket, {"type": "remove_tags", "names": ["billing"]})[0]
    assert [(r.outcome, r.detail) for r in (added, again, removed, none)] == [
        ("done", "Tagged billing."),
        ("unchanged", "The ticket already has these tags."),
        ("done", "Removed the tag billing."),
        ("unchanged", "The ticket has none of these tags."),
    ]
    assert timeline(ticket)[1:] == [
        ("tags", {"added": ["billing"], "removed": [], "via": VIA}),
        ("tags", {"added": [], "removed": ["billing"], "via": VIA}),
    ]
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["VIP", "billing"]


def test_a_tag_name_past_the_limit_fails(ticket, act):
    result, _ = act(ticket, {"type": "add_tags", "names": ["x" * 51]})
    assert (result.outcome, result.detail) == (
        "failed",
        "A tag is at most 50 characters: “xxxxxxxxxxxxxxxxxxxx…”.",
    )
    assert timeline(ticket) == []


def test_add_collaborators_only_adds_new_people(ticket, act, heard):
    result, _ = act(
        ticket,
        {"type": "add_collaborators", "emails": ["Dan@Partner.test", "carol@customer.test"]},
    )
    again, _ = act(ticket, {"type": "add_collaborators", "emails": ["dan@partner.test"]})
    assert [(r.outcome, r.detail) for r in (result, again)] == [
        ("done", "Added dan@partner.test as a collaborator."),
        ("unchanged", "They already follow the conversation."),
    ]
    assert list(Collaborator.objects.values_list("contact__email", flat=True)) == [
        "dan@partner.test"
    ]
    assert timeline(ticket) == [("collaborator", {"added": "dan@partner.test", "via": VIA})]
    bad, _ = act(ticket, {"type": "add_collaborators", "emails": ["ok@x.test", "not an address"]})
    assert (bad.outcome, bad.detail) == ("failed", "“not an address” is not an email address.")
    assert Collaborator.objects.count() == 1


# -- notes, mail, notices ------------------------------------------------------------------------


def test_add_note_renders_placeholders_into_an_internal_note(ticket, act, heard):
    body = "Hello {{ requester_name }}, #{{ ticket_number }} is {{ ticket_status }}."
    result, _ = act(ticket, {"type": "add_note", "body": body})
    note = Comment.objects.filter(ticket=ticket).last()
    assert result == ActionResult(
        "add_note", "done", "Added an internal note: “Hello Carol, #1 is New.”."
    )
    assert (note.body_text, note.is_public, note.author_user_id, note.channel) == (
        "Hello Carol, #1 is New.",
        False,
        None,
        "system",
    )
    assert [(e.name, e.data["public"], e.cause) for e in heard] == [
        (events.COMMENT_ADDED, False, RUN.as_dict())
    ]
    assert timeline(ticket) == [("comment", {"comment_id": note.pk, "public": False, "via": VIA})]


def test_a_macros_note_is_the_agents_and_knows_them(ticket, act, in_acme):
    macro = causes.Cause(causes.MACRO, "Refund", "run-2")
    act(
        ticket,
        {"type": "add_note", "body": "By {{ agent_name }}"},
        actor=in_acme.agent,
        cause=macro,
    )
    note = Comment.objects.filter(ticket=ticket).last()
    assert (note.body_text, note.author_user_id, note.channel) == (
        "By Acme Agent",
        in_acme.agent.pk,
        "agent",
    )


def test_a_note_empty_once_filled_fails(ticket, act, heard):
    result, _ = act(ticket, {"type": "add_note", "body": "{{ team_name }}"})
    assert result == ActionResult(
        "add_note", "failed", "The note is empty once its placeholders are filled."
    )
    assert_nothing_happened(ticket, heard)


def test_mail_requester_asks_outbound_mail_to_send_the_rules_text(ticket, act, heard):
    action = {"type": "mail_requester", "subject": "About {{ ticket_subject }}", "body": "Hi"}
    result, _ = act(ticket, action)
    assert result == ActionResult(
        "mail_requester",
        "done",
        "Mail “About {{ ticket_subject }}” queued for the requester (carol@customer.test).",
    )
    assert [(e.name, e.data, e.cause) for e in heard] == [
        (
            events.AUTOMATION_MAIL,
            {
                "rule": "Route billing",
                "kind": "automation",
                "subject": "About {{ ticket_subject }}",
                "body": "Hi",
                "after_automatic": False,
            },
            RUN.as_dict(),
        )
    ]
    assert timeline(ticket) == []  # the header row of the run says it (the engine writes it)


def test_mail_requester_after_an_automatic_message_is_marked_so(ticket, act, heard):
    reply = comment_create(
        ticket=ticket, body_text="I am out of office", author_contact=ticket.requester
    )
    auto_reply = events.DomainEvent(
        events.COMMENT_ADDED,
        ticket.organization_id,
        ticket.pk,
        data={"comment_id": reply.pk, "public": True, "by_contact": True, "auto_generated": True},
    )
    act(ticket, {"type": "mail_requester", "subject": "S", "body": "B"}, event=auto_reply)
    assert [e.data["after_automatic"] for e in heard] == [True]


@pytest.fixture
def people(in_acme):
    """Ann and Bob in Billing (Bob its manager), and the ticket's own team Support."""
    ann, bob = member(in_acme, "ann@acme.test"), member(in_acme, "bob@acme.test")
    billing = tenant_services.team_create(
        organization=in_acme.org, name="Billing", members=[ann, bob], managers=[bob]
    )
    return SimpleNamespace(ann=ann, bob=bob, billing=billing)


@pytest.mark.parametrize(
    ("target", "extra", "expected"),
    [
        ("user", lambda p, t: {"user_id": p.ann.pk}, lambda p, t: [p.ann]),
        ("assignee", lambda p, t: {}, lambda p, t: [t.agent]),
        ("team", lambda p, t: {"team_id": p.billing.pk}, lambda p, t: [p.ann, p.bob]),
        ("team", lambda p, t: {"team_id": None}, lambda p, t: [t.agent]),
        ("team_managers", lambda p, t: {"team_id": p.billing.pk}, lambda p, t: [p.bob]),
    ],
)
def test_notify_names_each_target(ticket, act, heard, in_acme, people, target, extra, expected):
    ticket_assign(ticket=ticket, assignee=in_acme.agent)
    ticket_change_team(ticket=ticket, team=in_acme.team)
    action = {"type": "notify", "target": target, "message": "Look", **extra(people, in_acme)}
    result, _ = act(ticket, action)
    users = expected(people, in_acme)
    assert result == ActionResult(
        "notify", "done", f"Notified {', '.join(u.display_name for u in users)}."
    )
    assert [(e.name, e.data) for e in heard] == [
        (
            events.AUTOMATION_NOTIFY,
            {
                "rule": "Route billing",
                "kind": "automation",
                "user_ids": [u.pk for u in users],
                "message": "Look",
            },
        )
    ]


def test_notify_with_nobody_to_tell_changes_nothing(ticket, act, heard, people):
    no_assignee = act(ticket, {"type": "notify", "target": "assignee", "message": "x"})[0]
    no_team = act(ticket, {"type": "notify", "target": "team_managers", "message": "x"})[0]
    ticket_change_team(ticket=ticket, team=Team.objects.get(name="Support"))
    no_managers = act(ticket, {"type": "notify", "target": "team_managers", "message": "x"})[0]
    assert [(r.outcome, r.detail) for r in (no_assignee, no_team, no_managers)] == [
        ("unchanged", "The ticket has no assignee to notify."),
        ("unchanged", "The ticket has no team."),
        ("unchanged", "Nobody to notify."),
    ]
    assert heard == []


def test_notify_fails_for_a_removed_agent_or_another_tenants_team(ticket, act, heard, globex):
    agent = act(
        ticket, {"type": "notify", "target": "user", "user_id": globex.agent.pk, "message": "x"}
    )[0]
    team = act(
        ticket, {"type": "notify", "target": "team", "team_id": globex.team.pk, "message": "x"}
    )[0]
    assert [(r.outcome, r.detail) for r in (agent, team)] == [
        ("failed", "The agent to notify is no longer a member of this workspace."),
        ("failed", "The team to notify no longer exists."),
    ]
    assert heard == []


# -- malformed actions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"type": "explode"}, ActionResult("explode", "failed", "Unknown action “explode”.")),
        ("set_status", ActionResult("None", "failed", "Unknown action “None”.")),
        (
            {"type": "set_status"},
            ActionResult("set_status", "failed", "This action names no status."),
        ),
        (
            {"type": "set_status", "status_id": True},
            ActionResult("set_status", "failed", "This action names no status."),
        ),
        (
            {"type": "assign", "mode": "dice"},
            ActionResult("assign", "failed", "Unknown way to assign: “dice”."),
        ),
        (
            {"type": "add_tags", "names": "vip"},
            ActionResult("add_tags", "failed", "This action lists no tags."),
        ),
        (
            {"type": "add_note", "body": "  "},
            ActionResult("add_note", "failed", "This action has no note."),
        ),
        (
            {"type": "notify", "target": "all", "message": "x"},
            ActionResult("notify", "failed", "Unknown notice target “all”."),
        ),
    ],
)
def test_a_malformed_action_fails_without_raising(ticket, act, heard, action, expected):
    assert act(ticket, action)[0] == expected
    assert_nothing_happened(ticket, heard)


# -- validation ----------------------------------------------------------------------------------


def every_action(tenant, people):
    return [
        {"type": "set_status", "status_id": status("Pending").pk},
        {"type": "set_priority", "priority_id": Priority.objects.get(name="High").pk},
        {"type": "set_team", "team_id": None},
        {"type": "assign", "mode": "user", "user_id": people.ann.pk},
        {"type": "assign", "mode": "round_robin", "team_id": people.billing.pk},
        {"type": "assign", "mode": "least_loaded", "team_id": None},
        {"type": "assign", "mode": "unassign"},
        {"type": "add_tags", "names": ["vip", "Billing issue"]},
        {"type": "remove_tags", "names": ["spam"]},
        {"type": "add_collaborators", "emails": ["dan@partner.test"]},
        {"type": "add_note", "body": "Routed for {{ requester_name }}"},
        {
            "type": "mail_requester",
            "subject": "Re: {{ ticket_subject }}",
            "body": "Dear {{ recipient_name }}",
        },
        {"type": "notify", "target": "team_managers", "team_id": people.billing.pk, "message": "!"},
        {"type": "notify", "target": "assignee", "message": "{{ ticket_number }}"},
    ]


def test_every_kind_of_valid_action_passes(in_acme, people, django_assert_num_queries):
    actions = every_action(in_acme, people)
    with django_assert_num_queries(4):  # one per kind of id named: statuses, priorities, ...
        assert validate_actions(actions, organization=in_acme.org) == []


def test_ids_of_another_tenant_or_deleted_are_refused(in_acme, globex):
    gone = Team.objects.create(organization=in_acme.org, name="Gone")
    gone_id = gone.pk
    gone.delete()
    actions = [
        {"type": "set_status", "status_id": other_tenant_id(globex, Status, name="Open")},
        {"type": "set_priority", "priority_id": other_tenant_id(globex, Priority, name="Low")},
        {"type": "assign", "mode": "user", "user_id": globex.agent.pk},
        {"type": "notify", "target": "team", "team_id": gone_id, "message": "x"},
        {"type": "set_team", "team_id": in_acme.team.pk},
    ]
    assert validate_actions(actions, organization=in_acme.org) == [
        "Action 1: the status you picked no longer exists.",
        "Action 2: the priority you picked no longer exists.",
        "Action 3: the agent you picked no longer exists.",
        "Action 4: the team you picked no longer exists.",
    ]


def test_garbage_is_refused_with_messages_not_errors(in_acme):
    actions = [
        "set_status",
        {"type": "launch"},
        {"type": "set_status", "status_id": "3"},
        {"type": "set_team"},
        {"type": "assign", "mode": "user"},
        {"type": "assign", "mode": "random"},
        {"type": "add_tags", "names": ["a, b", "x" * 51]},
        {"type": "remove_tags", "names": []},
        {"type": "add_collaborators", "emails": ["ok@x.test", "nope"]},
        {"type": "add_note", "body": "{% load static %}"},
        {"type": "mail_requester", "subject": "", "body": "{{ x|ljust:'99' }}"},
        {"type": "notify", "target": "everyone", "message": ""},
    ]
    assert validate_actions(actions, organization=in_acme.org) == [
        "Action 1: it is not an action.",
        "Action 2: “launch” is not an action that can be used here.",
        "Action 3: pick a status.",
        "Action 4: pick a team (or no team).",
        "Action 5: pick an agent.",
        "Action 6: pick how to assign.",
        "Action 7: “a, b” is not one tag name (no commas).",
        "Action 7: A tag is at most 50 characters: “xxxxxxxxxxxxxxxxxxxx…”.",
        "Action 8: name at least one tag.",
        "Action 9: “nope” is not an email address.",
        "Action 10: Note: Invalid block tag on line 1: 'load'. Did you forget to register or "
        "load this tag?",
        "Action 11: write a subject.",
        "Action 11: Message: Invalid filter: 'ljust'",
        "Action 12: pick whom to notify.",
        "Action 12: write the message.",
    ]
    assert validate_actions({"type": "x"}, organization=in_acme.org) == [
        "The actions are not a list."
    ]


def test_only_the_allowed_kinds_and_at_most_the_limit(in_acme):
    note = {"type": "add_note", "body": "x"}
    assert validate_actions([note], organization=in_acme.org, allowed=["set_status"]) == [
        "Action 1: “add_note” is not an action that can be used here."
    ]
    assert validate_actions([note] * 21, organization=in_acme.org) == [
        "A rule takes at most 20 actions."
    ]


def test_a_macro_never_notifies_the_agent_applying_it(ticket, act, heard, in_acme):
    macro = causes.Cause(causes.MACRO, "Escalate", "run-3")
    action = {"type": "notify", "target": "user", "user_id": in_acme.agent.pk, "message": "x"}
    result, _ = act(ticket, action, actor=in_acme.agent, cause=macro)
    assert (result.outcome, result.detail, heard) == ("unchanged", "Nobody to notify.", [])


# -- the actions as sentences --------------------------------------------------------------------


def test_every_action_reads_as_a_sentence(in_acme, people, django_assert_num_queries):
    actions = every_action(in_acme, people)
    with django_assert_num_queries(4):  # statuses, priorities, teams, agents: once each
        names = names_for([actions, actions[:3]], in_acme.org)
    assert [describe(a, names=names) for a in actions] == [
        "Set status to Pending",
        "Set priority to High",
        "Remove the team",
        "Assign to Ann",
        "Assign round-robin within Billing",
        "Assign to the least-loaded member of the ticket's team",
        "Unassign",
        "Add tags vip, Billing issue",
        "Remove tag spam",
        "Add collaborator dan@partner.test",
        "Add an internal note: “Routed for {{ requester_name }}”",
        "Mail the requester: “Re: {{ ticket_subject }}”",
        "Notify the managers of Billing",
        "Notify the assignee",
    ]


def test_what_is_gone_or_another_tenants_reads_as_deleted(in_acme, globex):
    actions = [
        {"type": "set_team", "team_id": globex.team.pk},
        {"type": "assign", "mode": "user", "user_id": globex.agent.pk},
        {"type": "notify", "target": "team", "team_id": None, "message": "x"},
        {"type": "notify", "target": "user", "user_id": in_acme.agent.pk, "message": "x"},
        {"type": "launch"},
        "garbage",
    ]
    names = names_for([actions, "not a list"], in_acme.org)
    assert [describe(a, names=names) for a in actions] == [
        "Set team to a deleted team",
        "Assign to a removed agent",
        "Notify everyone in the ticket's team",
        "Notify Acme Agent",
        "An unknown action “launch”",
        "An unknown action",
    ]
