"""The Matcher: every field and operator, the two groups, whole-word and case-insensitive
words (non-ASCII too), patterns and their cut-off, and conditions that do not compile.

The helpers here (`world`, `facts_of`, `cond`) serve the other test_conditions_* modules too."""

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from automations import schema
from automations.conditions import compile_conditions
from automations.facts import TICKET_RELATED, facts_for
from automations.safe_regex import PatternError, compile_pattern
from automations.schema import Field, Op
from tenants import services as tenant_services
from tenants.models import Team, User
from tests.factories import make_ticket
from tickets import events
from tickets.models import Customer, Priority, Status, Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create, customer_domain_add
from tickets.services.tags import ticket_tags_add
from tickets.services.tickets import (
    collaborator_add,
    ticket_assign,
    ticket_change_status,
    ticket_change_team,
)

NOW = datetime(2026, 5, 22, 8, 0, tzinfo=UTC)  # a Friday, 10:00 in Berlin


def cond(field: str, op: str, value=None) -> dict:
    condition = {"field": field, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


def facts_of(ticket: Ticket, event: events.DomainEvent | None = None, now: datetime = NOW):
    loaded = Ticket.objects.select_related(*TICKET_RELATED).get(pk=ticket.pk)
    return facts_for(ticket=loaded, event=event, now=now)


def holds(conditions, facts) -> bool:
    return compile_conditions(conditions, name="Rule").matches(facts)


def all_of(*conditions) -> dict:
    return {"all": list(conditions), "any": []}


@dataclass
class World:
    """acme's rows by name, and two tickets that differ in every field."""

    status: dict[str, Status]
    priority: dict[str, Priority]
    support: Team
    billing: Team
    agent: User
    northwind: Customer
    plain: Ticket  # New, Normal, no team, unassigned, no customer, email, no tags
    rich: Ticket  # Open, High, Billing, the agent, Northwind, agent source, tags, collaborator


@pytest.fixture
def world(in_acme) -> World:
    org = in_acme.org
    billing = tenant_services.team_create(organization=org, name="Billing", members=[])
    customer_domain_add(organization=org, domain="nw.test", customer_name="Northwind")
    plain = make_ticket(org, subject="Printer on fire", email="Carol@Customer.test", source="email")
    rich = make_ticket(
        org,
        subject="Invoice question",
        email="jo@nw.test",
        source="agent",
        actor_user=in_acme.agent,
        priority=Priority.objects.get(name="High"),
    )
    ticket_change_status(ticket=rich, status=Status.objects.get(name="Open"))
    ticket_change_team(ticket=rich, team=billing)
    ticket_assign(ticket=rich, assignee=in_acme.agent)
    ticket_tags_add(ticket=rich, names=["VIP", "Refund"])
    collaborator_add(ticket=rich, contact=contact_get_or_create(organization=org, email="x@y.test"))
    return World(
        status={s.name: s for s in Status.objects.all()},
        priority={p.name: p for p in Priority.objects.all()},
        support=in_acme.team,
        billing=billing,
        agent=in_acme.agent,
        northwind=Customer.objects.get(name="Northwind"),
        plain=plain,
        rich=rich,
    )


def both(world: World, conditions) -> tuple[bool, bool]:
    """(holds for the plain ticket, holds for the rich one)."""
    return holds(conditions, facts_of(world.plain)), holds(conditions, facts_of(world.rich))


# -- fields and operators --------------------------------------------------------------------


def test_status_is_and_is_not(world):
    open_id, new_id = world.status["Open"].pk, world.status["New"].pk
    assert both(world, all_of(cond(Field.STATUS, Op.IS, [open_id]))) == (False, True)
    assert both(world, all_of(cond(Field.STATUS, Op.IS, [open_id, new_id]))) == (True, True)
    assert both(world, all_of(cond(Field.STATUS, Op.IS_NOT, [open_id]))) == (True, False)


def test_status_category(world):
    assert both(world, all_of(cond(Field.STATUS_CATEGORY, Op.IS, ["new"]))) == (True, False)
    assert both(world, all_of(cond(Field.STATUS_CATEGORY, Op.IS_NOT, ["new", "pending"]))) == (
        False,
        True,
    )


def test_priority_is_at_least_at_most_by_rank(world):
    high, normal, urgent = (world.priority[n].pk for n in ("High", "Normal", "Urgent"))
    assert both(world, all_of(cond(Field.PRIORITY, Op.IS, [high]))) == (False, True)
    assert both(world, all_of(cond(Field.PRIORITY, Op.IS_NOT, [high]))) == (True, False)
    assert both(world, all_of(cond(Field.PRIORITY, Op.AT_LEAST, [normal]))) == (True, True)
    assert both(world, all_of(cond(Field.PRIORITY, Op.AT_LEAST, [high]))) == (False, True)
    assert both(world, all_of(cond(Field.PRIORITY, Op.AT_LEAST, [urgent]))) == (False, False)
    assert both(world, all_of(cond(Field.PRIORITY, Op.AT_MOST, [normal]))) == (True, False)
    # A priority that no longer exists (or is another tenant's) is neither above nor below.
    assert both(world, all_of(cond(Field.PRIORITY, Op.AT_MOST, [999_999]))) == (False, False)


@pytest.mark.parametrize("field", [Field.TEAM, Field.ASSIGNEE, Field.CUSTOMER])
def test_references_is_is_not_set_not_set(world, field):
    value = {
        Field.TEAM: world.billing.pk,
        Field.ASSIGNEE: world.agent.pk,
        Field.CUSTOMER: world.northwind.pk,
    }
    wanted = [value[field]]
    assert both(world, all_of(cond(field, Op.IS, wanted))) == (False, True)
    assert both(world, all_of(cond(field, Op.IS_NOT, wanted))) == (True, False)
    assert both(world, all_of(cond(field, Op.IS_SET))) == (False, True)
    assert both(world, all_of(cond(field, Op.IS_NOT_SET))) == (True, False)
    assert both(world, all_of(cond(field, Op.IS_NOT, [123_456]))) == (True, True)


def test_source(world):
    assert both(world, all_of(cond(Field.SOURCE, Op.IS, ["email", "portal"]))) == (True, False)
    assert both(world, all_of(cond(Field.SOURCE, Op.IS_NOT, ["email"]))) == (False, True)


def test_requester_email_and_domain_ignore_case(world):
    assert both(world, all_of(cond(Field.REQUESTER_EMAIL, Op.IS, ["CAROL@customer.TEST"]))) == (
        True,
        False,
    )
    assert both(world, all_of(cond(Field.REQUESTER_EMAIL, Op.IS_NOT, ["carol@customer.test"]))) == (
        False,
        True,
    )
    assert both(world, all_of(cond(Field.REQUESTER_DOMAIN, Op.IS, ["@NW.test"]))) == (False, True)
    assert both(world, all_of(cond(Field.REQUESTER_DOMAIN, Op.IS_NOT, ["nw.test"]))) == (
        True,
        False,
    )
    # The whole domain: a subdomain or a longer name is another domain.
    assert both(world, all_of(cond(Field.REQUESTER_DOMAIN, Op.IS, ["w.test", "mail.nw.test"]))) == (
        False,
        False,
    )


def test_tags_any_all_none_ignore_case(world):
    assert both(world, all_of(cond(Field.TAGS, Op.HAS_ANY, ["vip", "spam"]))) == (False, True)
    assert both(world, all_of(cond(Field.TAGS, Op.HAS_ALL, ["refund", "VIP"]))) == (False, True)
    assert both(world, all_of(cond(Field.TAGS, Op.HAS_ALL, ["refund", "spam"]))) == (False, False)
    assert both(world, all_of(cond(Field.TAGS, Op.HAS_NONE, ["Vip"]))) == (True, False)


def test_collaborators(world):
    assert both(world, all_of(cond(Field.COLLABORATORS, Op.IS_SET))) == (False, True)
    assert both(world, all_of(cond(Field.COLLABORATORS, Op.IS_NOT_SET))) == (True, False)


def test_actor_is_and_is_not(world):
    by_customer = events.DomainEvent(
        events.COMMENT_ADDED,
        world.plain.organization_id,
        world.plain.pk,
        None,
        {"by_contact": True},
    )
    facts = facts_of(world.plain, by_customer)
    assert facts.actor == "customer"
    assert holds(all_of(cond(Field.ACTOR, Op.IS, ["customer", "agent"])), facts) is True
    assert holds(all_of(cond(Field.ACTOR, Op.IS, ["automation"])), facts) is False
    assert holds(all_of(cond(Field.ACTOR, Op.IS_NOT, ["customer"])), facts) is False


# -- groups ----------------------------------------------------------------------------------


def test_all_needs_every_condition_and_any_needs_one(world):
    vip = cond(Field.TAGS, Op.HAS_ANY, ["vip"])
    is_new = cond(Field.STATUS_CATEGORY, Op.IS, ["new"])
    by_mail = cond(Field.SOURCE, Op.IS, ["email"])
    assert both(world, {"all": [vip, is_new]}) == (False, False)
    assert both(world, {"any": [vip, is_new]}) == (True, True)
    assert both(world, {"all": [by_mail], "any": [vip, is_new]}) == (True, False)
    assert both(world, {"all": [], "any": []}) == (True, True)
    assert both(world, {}) == (True, True)


# -- words -----------------------------------------------------------------------------------


def subject(world, text: str, words: list[str], op=Op.CONTAINS_ANY) -> bool:
    Ticket.objects.filter(pk=world.plain.pk).update(subject=text)
    return holds(all_of(cond(Field.SUBJECT, op, words)), facts_of(world.plain))


@pytest.mark.parametrize(
    ("text", "words", "expected"),
    [
        ("Billing question", ["billing"], True),
        ("BILLING question", ["Billing"], True),
        ("Billing question", ["bill"], False),  # whole words only
        ("Rebilling", ["billing"], False),
        ("billing_team", ["billing"], False),  # "_" joins words
        ("re: billing!", ["billing"], True),
        ("credit   card declined", ["credit card"], True),  # a phrase across any spaces
        ("credit cards", ["credit card"], False),
        ("card credit", ["credit card"], False),
        ("New E-Mail address", ["e-mail"], True),
        ("New e-mails", ["e-mail"], False),
        ("I love C++.", ["c++"], True),
        ("I love C++x", ["c++"], False),
        ("#urgent please", ["#urgent"], True),
        ("", ["billing"], False),
        ("one two three", ["four", "two"], True),
        ("one two three", ["four", "three one"], False),
        ("two billing team", ["billing", "billing team"], True),
    ],
)
def test_words_whole_and_case_insensitive(world, text, words, expected):
    assert subject(world, text, words) is expected
    assert subject(world, text, words, op=Op.CONTAINS_NONE) is (not expected)


@pytest.mark.parametrize(
    ("text", "words", "expected"),
    [
        ("STRASSE gesperrt", ["Straße"], True),  # full case folding: ß is ss
        ("Die GRÖSSE passt nicht", ["größe"], True),
        ("L'ÉCOLE est fermée", ["école"], True),
        ("L'E\u0301COLE est fermée", ["école"], True),  # decomposed É is É
        ("L'ecole est fermée", ["école"], False),  # an accent is part of the letter
        ("Счёт не пришёл", ["СЧЁТ"], True),
        ("ΟΔΟΣ κλειστή", ["οδος"], True),  # final sigma folds like any sigma
        ("हिन्दी भाषा में", ["हिन्दी"], True),
        ("हिन्दी भाषा में", ["ह"], False),  # a vowel sign belongs to its word
        ("\uff55\uff52\uff47\uff45\uff4e\uff54 please", ["urgent"], True),  # full-width
        ("Facture impayée à régler", ["impayée à"], True),
        ("Facture impayée", ["impayé"], False),
    ],
)
def test_words_beyond_ascii(world, text, words, expected):
    assert subject(world, text, words) is expected


def test_words_past_the_scanned_length_are_not_read(world):
    event = comment_event(world.plain, "x " * (schema.MAX_TEXT_SCANNED // 2) + "billing")
    facts = facts_of(world.plain, event)
    assert holds(all_of(cond(Field.COMMENT_TEXT, Op.CONTAINS_ANY, ["billing"])), facts) is False
    assert holds(all_of(cond(Field.COMMENT_TEXT, Op.CONTAINS_ANY, ["x"])), facts) is True


def comment_event(ticket: Ticket, text: str, **data) -> events.DomainEvent:
    comment = comment_create(ticket=ticket, body_text=text, author_contact=ticket.requester)
    return events.DomainEvent(
        events.COMMENT_ADDED,
        ticket.organization_id,
        ticket.pk,
        None,
        {"comment_id": comment.pk, "public": True, "by_contact": True, **data},
    )


def test_comment_text_words_only_for_comment_events(world):
    words = all_of(cond(Field.COMMENT_TEXT, Op.CONTAINS_ANY, ["refund"]))
    none = all_of(cond(Field.COMMENT_TEXT, Op.CONTAINS_NONE, ["refund"]))
    event = comment_event(world.plain, "Please REFUND me.")
    assert holds(words, facts_of(world.plain, event)) is True
    assert holds(none, facts_of(world.plain, event)) is False
    assigned = events.DomainEvent(events.ASSIGNED, world.plain.organization_id, world.plain.pk)
    assert facts_of(world.plain, assigned).comment_text == ""
    assert holds(words, facts_of(world.plain, assigned)) is False
    assert holds(none, facts_of(world.plain, assigned)) is True


# -- patterns --------------------------------------------------------------------------------


def test_patterns_match_case_insensitively(world):
    Ticket.objects.filter(pk=world.plain.pk).update(subject="Order #A-1234 missing")
    facts = facts_of(world.plain)
    assert holds(all_of(cond(Field.SUBJECT, Op.MATCHES, r"order #a-\d{4}\b")), facts) is True
    assert holds(all_of(cond(Field.SUBJECT, Op.MATCHES, r"^missing")), facts) is False
    assert holds(all_of(cond(Field.SUBJECT, Op.NOT_MATCHES, r"\d{5}")), facts) is True
    assert holds(all_of(cond(Field.SUBJECT, Op.NOT_MATCHES, r"MISSING$")), facts) is False


@pytest.mark.parametrize("op", [Op.MATCHES, Op.NOT_MATCHES])
def test_a_catastrophic_pattern_is_cut_off_and_does_not_hold(world, op):
    event = comment_event(world.plain, "a" * 5000 + "b")
    facts = facts_of(world.plain, event)
    matcher = compile_conditions(all_of(cond(Field.COMMENT_TEXT, op, r"(a+)+$")), name="Backtrack")
    # Uncut, this search runs for ever; the note shows the time limit ended it.
    assert matcher.matches(facts) is False
    assert facts.notes == [
        "The pattern “(a+)+$” on the new comment's text in “Backtrack” took too long; "
        "the condition counts as not holding."
    ]


def test_the_patterns_of_many_rules_share_one_time_budget_per_event(world):
    """Twenty rules with a pattern built to backtrack: each search stops at its limit, and
    once the event's budget is spent the rest are not tried, so the event costs about a
    quarter second, not twenty times the limit."""
    event = comment_event(world.plain, "a" * 5000 + "b")
    facts = facts_of(world.plain, event)
    rules = [
        compile_conditions(all_of(cond(Field.COMMENT_TEXT, Op.MATCHES, rf"(a+)+${'x?' * n}")))
        for n in range(20)
    ]
    assert [rule.matches(facts) for rule in rules] == [False] * 20
    timed_out = [n for n in facts.notes if "took too long" in n]
    skipped = [n for n in facts.notes if "was not tried" in n]
    assert (len(timed_out) >= 1, len(timed_out) + len(skipped)) == (True, 20)
    assert facts.notes[-1] == (
        "The pattern “(a+)+$x?x?x?x?x?x?x?x?x?x?x?x?x?x?x?x?x?x?x?” on the new comment's text "
        "was not tried: the patterns ran out of time on this event; the condition counts as not "
        "holding."
    )
    # A fast pattern on the next event has its own budget.
    fresh = facts_of(world.plain, event)
    quick = compile_conditions(all_of(cond(Field.COMMENT_TEXT, Op.MATCHES, "^a+b$")))
    assert quick.matches(fresh) is True


def test_pattern_length_limit():
    compile_pattern("a" * schema.MAX_PATTERN_LENGTH)
    with pytest.raises(PatternError) as refused:
        compile_pattern("a" * (schema.MAX_PATTERN_LENGTH + 1))
    assert refused.value.message == (
        "A regular expression may have at most 300 characters (this one has 301)."
    )


@pytest.mark.parametrize(
    "pattern",
    [
        "a{4294967294}",  # the compiler itself runs for minutes on these
        "((a{1000}){1000}){1000}",
        "(a{1000}){1000}",  # 280 MB
        "(((a{10}){10}){11})",
        "{4294967294}",
        "x|(a{2000})",
    ],
)
def test_huge_repeat_counts_are_refused_before_compiling(pattern):
    with pytest.raises(PatternError) as refused:
        compile_pattern(pattern)
    assert refused.value.message == (
        "A repeat count may be at most 1000 (the counts of groups inside each other multiplied)."
    )


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(?x)a {4294967294}", "The flags x (verbose) and V1 are not allowed in a pattern."),
        ("(?V1)[[a]--[b]]", "The flags x (verbose) and V1 are not allowed in a pattern."),
        ("(a{1000})(?#hidden){1000}", "Comments (?#...) are not allowed in a pattern."),
        (
            "[a-z",
            "This is not a valid regular expression: unterminated character set at position 4.",
        ),
        ("", "Enter a regular expression."),
    ],
)
def test_patterns_that_would_hide_a_count_or_do_not_compile(pattern, message):
    with pytest.raises(PatternError) as refused:
        compile_pattern(pattern)
    assert refused.value.message == message


@pytest.mark.parametrize(
    "pattern",
    [r"\d{1000}", r"(a{30}){33}", r"\p{L}{3}", r"[{]{2}", r"(?i)abc", r"(?P<n>x){2}", "a{e<=1}"],
)
def test_ordinary_counts_compile(pattern):
    compile_pattern(pattern)


# -- what does not compile -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "problem"),
    [
        (
            {"all": [cond("mood", Op.IS, ["x"])]},
            "All of these, condition 1: choose what the condition looks at.",
        ),
        (
            {"any": [cond(Field.STATUS, Op.IS_SET)]},
            "Any of these, condition 1: “Status” cannot be compared that way.",
        ),
        ({"all": [cond(Field.SUBJECT, Op.MATCHES, "(")]}, None),
        ({"all": "status is open"}, "All of these: the conditions are malformed."),
        (["status"], "All of these: the conditions are malformed."),
    ],
)
def test_conditions_that_do_not_compile_never_hold(world, conditions, problem):
    matcher = compile_conditions(conditions, name="Broken")
    facts = facts_of(world.plain)
    assert matcher.matches(facts) is False
    assert len(matcher.problems) == 1
    if problem is not None:
        assert matcher.problems == [problem]
    assert facts.notes == matcher.problems


# -- speed -----------------------------------------------------------------------------------


def test_a_hundred_rules_with_words_and_phrases_all_decide_one_event(world):
    """The benchmark's mix (100 rules, half on the comment's text, phrases among the words)
    decided on one copy of the event's facts; how fast is bench/automations.py's to say."""
    ids = world.status["Open"].pk, world.priority["Normal"].pk, world.billing.pk
    rules = [
        compile_conditions(
            {
                "all": [
                    cond(Field.STATUS_CATEGORY, Op.IS_NOT, ["closed"]),
                    cond(Field.PRIORITY, Op.AT_LEAST, [ids[1]]),
                    cond(Field.COMMENT_TEXT if n % 2 else Field.SUBJECT, Op.CONTAINS_ANY, words(n)),
                ],
                "any": [cond(Field.TEAM, Op.IS, [ids[2]]), cond(Field.TAGS, Op.HAS_ANY, ["vip"])],
            }
        )
        for n in range(100)
    ]
    text = "Hello, my invoice for the last billing period is wrong. " * 40
    event = comment_event(world.rich, text)
    loaded = Ticket.objects.select_related(*TICKET_RELATED).get(pk=world.rich.pk)
    base = facts_for(ticket=loaded, event=event, now=NOW)
    base.priority_rank(ids[1])  # the ranks are asked once per event
    facts = facts_for_copy(base)
    assert sum(rule.matches(facts) for rule in rules) == 100  # its speed: bench/automations.py


def words(n: int) -> list[str]:
    return [f"word{n}", f"other{n}", "billing period", "invoice", f"phrase {n} here"]


def facts_for_copy(facts):
    """The same facts without their folded texts: each event folds its texts once."""
    return replace(facts, notes=[])
