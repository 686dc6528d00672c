"""Validation for the settings page: the messages a rule's author reads, for conditions and
for trigger options, with ids of this tenant, of another one (globex), and of nothing."""

import pytest

from automations import schema
from automations.conditions import condition_problems, validate_conditions
from automations.schema import Field, Op
from automations.triggers import MAX_HOURS, validate_trigger
from tenants import services as tenant_services
from tests.automations.test_conditions import cond
from tickets.models import Customer, Priority, Status


@pytest.fixture
def two(acme, globex):
    """Each tenant's rows: a status, a priority, a team, an agent and a customer."""
    rows = {}
    for tenant in (acme, globex):
        with tenant.scope():
            rows[tenant.org.slug] = {
                "status": Status.objects.get(name="Open").pk,
                "priority": Priority.objects.get(name="High").pk,
                "team": tenant.team.pk,
                "agent": tenant.agent.pk,
                "customer": Customer.objects.create(organization=tenant.org, name="Northwind").pk,
            }
    return rows


def check(acme, conditions, **kwargs) -> list[str]:
    with acme.scope():
        return validate_conditions(conditions, organization=acme.org, **kwargs)


def test_conditions_naming_this_tenants_rows_are_fine(acme, two):
    mine = two["acme"]
    conditions = {
        "all": [
            cond(Field.STATUS, Op.IS, [mine["status"]]),
            cond(Field.STATUS_CATEGORY, Op.IS_NOT, ["closed", "resolved"]),
            cond(Field.PRIORITY, Op.AT_LEAST, [mine["priority"]]),
            cond(Field.TEAM, Op.IS_NOT, [mine["team"]]),
            cond(Field.ASSIGNEE, Op.IS, [mine["agent"]]),
            cond(Field.CUSTOMER, Op.IS_SET),
            cond(Field.SOURCE, Op.IS, ["email", "portal"]),
            cond(Field.REQUESTER_EMAIL, Op.IS, ["Jo@NW.test"]),
            cond(Field.REQUESTER_DOMAIN, Op.IS_NOT, ["@nw.test", "münchen.de"]),
            cond(Field.TAGS, Op.HAS_ALL, ["VIP", "Größe"]),
            cond(Field.COLLABORATORS, Op.IS_NOT_SET),
            cond(Field.SUBJECT, Op.CONTAINS_ANY, ["billing", "credit card", "Straße"]),
            cond(Field.BUSINESS_HOURS, Op.OUTSIDE),
            cond(Field.ACTOR, Op.IS, ["customer"]),
        ],
        "any": [
            cond(Field.COMMENT_TEXT, Op.MATCHES, r"\border\s+#\d+"),
            cond(Field.SUBJECT, Op.NOT_MATCHES, "refund"),
        ],
    }
    assert check(acme, conditions) == []
    assert check(acme, {}) == []
    assert check(acme, None) == []


def test_another_tenants_ids_read_as_gone(acme, globex, two):
    theirs = two["globex"]
    conditions = {
        "all": [
            cond(Field.STATUS, Op.IS, [theirs["status"]]),
            cond(Field.PRIORITY, Op.AT_MOST, [theirs["priority"]]),
            cond(Field.TEAM, Op.IS, [two["acme"]["team"], theirs["team"]]),
        ],
        "any": [
            cond(Field.ASSIGNEE, Op.IS_NOT, [theirs["agent"]]),
            cond(Field.CUSTOMER, Op.IS, [theirs["customer"], 987_654]),
        ],
    }
    assert check(acme, conditions) == [
        "All of these, condition 1: the status it names no longer exists.",
        "All of these, condition 2: the priority it names no longer exists.",
        "All of these, condition 3: 1 of the teams it names no longer exists.",
        "Any of these, condition 1: the agent it names is no longer a member here.",
        "Any of these, condition 2: 2 of the customers it names no longer exist.",
    ]
    # For globex its own rows are fine; acme's team and the made-up customer are not.
    with globex.scope():
        assert validate_conditions(conditions, organization=globex.org) == [
            "All of these, condition 3: 1 of the teams it names no longer exists.",
            "Any of these, condition 2: 1 of the customers it names no longer exists.",
        ]


def test_ids_are_checked_in_one_query_per_kind(acme, two, django_assert_num_queries):
    mine = two["acme"]
    conditions = {
        "all": [cond(Field.STATUS, Op.IS, [mine["status"]]) for _ in range(5)],
        "any": [
            cond(Field.TEAM, Op.IS, [mine["team"]]),
            cond(Field.TEAM, Op.IS_NOT, [mine["team"]]),
            cond(Field.ASSIGNEE, Op.IS, [mine["agent"]]),
        ],
    }
    with acme.scope(), django_assert_num_queries(3):
        assert validate_conditions(conditions, organization=acme.org) == []


def test_an_agent_of_no_tenant_or_of_the_other_is_refused(acme, globex, two):
    loner = tenant_services.user_get_or_create(email="loner@x.test")
    conditions = {"all": [cond(Field.ASSIGNEE, Op.IS, [loner.pk, two["globex"]["agent"]])]}
    assert check(acme, conditions) == [
        "All of these, condition 1: 2 of the agents it names are no longer members here."
    ]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"field": "mood", "op": "is", "value": ["x"]}, "choose what the condition looks at."),
        (cond(Field.STATUS, Op.IS_SET), "“Status” cannot be compared that way."),
        (cond(Field.TAGS, Op.IS, ["vip"]), "“Tags” cannot be compared that way."),
        (cond(Field.STATUS, Op.IS), "choose at least one value."),
        (cond(Field.STATUS, Op.IS, []), "choose at least one value."),
        (cond(Field.STATUS, Op.IS, ["1"]), "the values are malformed."),
        (cond(Field.STATUS, Op.IS, [True]), "the values are malformed."),
        (cond(Field.PRIORITY, Op.AT_LEAST, [1, 2]), "choose one priority to compare with."),
        (cond(Field.SOURCE, Op.IS, ["fax"]), "“fax” is not one of the choices."),
        (cond(Field.STATUS_CATEGORY, Op.IS, ["done"]), "“done” is not one of the choices."),
        (cond(Field.ACTOR, Op.IS, ["robot"]), "“robot” is not one of the choices."),
        (cond(Field.REQUESTER_EMAIL, Op.IS, ["jo@"]), "“jo@” is not an email address."),
        (
            cond(Field.REQUESTER_DOMAIN, Op.IS, ["localhost"]),
            "“localhost” is not a domain (like example.com).",
        ),
        (
            cond(Field.TAGS, Op.HAS_ANY, ["a,b"]),
            "“a,b” is not a tag name (at most 50 characters, no commas).",
        ),
        (cond(Field.SUBJECT, Op.CONTAINS_ANY), "enter a word."),
        (cond(Field.SUBJECT, Op.CONTAINS_ANY, ["ok", "  "]), "a word is empty."),
        (
            cond(Field.SUBJECT, Op.CONTAINS_ANY, [f"w{n}" for n in range(schema.MAX_WORDS + 1)]),
            "enter at most 50 words or phrases.",
        ),
        (
            cond(Field.COMMENT_TEXT, Op.CONTAINS_NONE, ["x" * 101]),
            "a word or phrase may have at most 100 characters.",
        ),
        (cond(Field.SUBJECT, Op.MATCHES, ["a"]), "enter a regular expression."),
        (
            cond(Field.SUBJECT, Op.MATCHES, "a" * 301),
            "a regular expression may have at most 300 characters (this one has 301).",
        ),
        (
            cond(Field.COMMENT_TEXT, Op.NOT_MATCHES, "(unclosed"),
            "this is not a valid regular expression: missing ) at position 9.",
        ),
        (
            cond(Field.SUBJECT, Op.MATCHES, "(a{1000}){1000}"),
            "a repeat count may be at most 1000 (the counts of groups inside each other "
            "multiplied).",
        ),
        ("status is open", "the condition is malformed."),
    ],
)
def test_each_kind_of_mistake_has_its_message(acme, condition, message):
    assert check(acme, {"all": [cond(Field.SOURCE, Op.IS, ["email"]), condition]}) == [
        f"All of these, condition 2: {message}"
    ]


def test_shape_and_count_limits(acme):
    assert check(acme, ["status"]) == ["All of these: the conditions are malformed."]
    assert check(acme, {"all": [], "none": []}) == ["All of these: the conditions are malformed."]
    assert check(acme, {"any": {"field": "status"}}) == [
        "Any of these: the conditions are malformed."
    ]
    many = [cond(Field.SOURCE, Op.IS, ["email"])] * (schema.MAX_CONDITIONS + 1)
    assert check(acme, {"all": many}) == ["All of these: a rule may have at most 30 conditions."]


def test_comment_text_needs_a_trigger_that_carries_a_comment(acme):
    conditions = {"any": [cond(Field.COMMENT_TEXT, Op.CONTAINS_ANY, ["refund"])]}
    assert check(acme, conditions, trigger="comment_added") == []
    assert check(acme, conditions, trigger="ticket_created") == []
    assert check(acme, conditions, trigger="hours_in_status") == [
        "Any of these, condition 1: the new comment's text is empty unless the trigger is "
        "“Comment added” or “Ticket created”."
    ]


def test_problems_name_their_row_for_the_editor(acme, two):
    conditions = {
        "all": [cond(Field.SOURCE, Op.IS, ["email"]), cond(Field.SOURCE, Op.IS, ["fax"])],
        "any": [cond(Field.STATUS, Op.IS, [two["globex"]["status"]])],
    }
    with acme.scope():
        problems = condition_problems(conditions, organization=acme.org)
    assert [(p.group, p.position, p.message) for p in problems] == [
        ("all", 2, "“fax” is not one of the choices."),
        ("any", 1, "the status it names no longer exists."),
    ]


# -- trigger options -------------------------------------------------------------------------


def trigger(acme, name, options) -> list[str]:
    with acme.scope():
        return validate_trigger(name, options, organization=acme.org)


def test_every_triggers_options_validate(acme, two):
    mine = two["acme"]
    fine = {
        "ticket_created": {"sources": ["email", "api"]},
        "comment_added": {"author": "customer", "visibility": "public"},
        "status_changed": {"to_status_ids": [mine["status"]]},
        "priority_changed": {"to_priority_ids": [mine["priority"]]},
        "assigned": {"change": "unassigned"},
        "sla_warning": {"targets": ["first_response", "resolution"]},
        "sla_breached": {"targets": []},
        "hours_since_created": {"hours": 1},
        "hours_since_customer": {"hours": 48},
        "hours_since_agent": {"hours": MAX_HOURS},
        "hours_in_status": {"hours": 72, "status_id": mine["status"]},
    }
    assert {name: trigger(acme, name, options) for name, options in fine.items()} == {
        name: [] for name in fine
    }
    assert trigger(acme, "comment_added", {}) == []
    assert trigger(acme, "ticket_created", None) == []


@pytest.mark.parametrize(
    ("name", "options", "messages"),
    [
        ("fax_received", {}, ["Choose a trigger."]),
        ("ticket_created", ["email"], ["The trigger's options are malformed."]),
        ("ticket_created", {"sources": ["fax"]}, ["“fax” is not a source."]),
        ("ticket_created", {"sources": "email"}, ["The sources are malformed."]),
        ("ticket_created", {"hours": 3}, ["The trigger “Ticket created” has no option “hours”."]),
        ("comment_added", {"author": "robot"}, ["“robot” is not a choice here."]),
        ("comment_added", {"visibility": "secret"}, ["“secret” is not a choice here."]),
        ("assigned", {"change": "maybe"}, ["“maybe” is not a choice here."]),
        ("sla_breached", {"targets": ["lunch"]}, ["“lunch” is not an SLA target."]),
        ("hours_since_created", {}, ["Enter the hours (1 to 8760)."]),
        ("hours_since_created", {"hours": 0}, ["Enter the hours (1 to 8760)."]),
        ("hours_since_agent", {"hours": "72"}, ["Enter the hours (1 to 8760)."]),
        ("hours_since_agent", {"hours": MAX_HOURS + 1}, ["Enter the hours (1 to 8760)."]),
        ("hours_in_status", {"hours": 72}, ["Choose the status."]),
        (
            "status_changed",
            {"to_status_ids": ["open"]},
            ["The trigger's statuses or priorities are malformed."],
        ),
    ],
)
def test_trigger_mistakes(acme, name, options, messages):
    assert trigger(acme, name, options) == messages


def test_trigger_options_naming_another_tenants_rows(acme, two):
    theirs = two["globex"]
    assert trigger(acme, "status_changed", {"to_status_ids": [theirs["status"]]}) == [
        "The trigger: the status it names no longer exists."
    ]
    assert trigger(
        acme, "priority_changed", {"to_priority_ids": [two["acme"]["priority"], theirs["priority"]]}
    ) == ["The trigger: 1 of the priorities it names no longer exists."]
    assert trigger(acme, "hours_in_status", {"hours": 72, "status_id": theirs["status"]}) == [
        "The trigger: the status it names no longer exists."
    ]
