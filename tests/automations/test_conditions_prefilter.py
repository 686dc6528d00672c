"""prefilter_q agrees with the Matcher: every ticket the Matcher accepts passes the SQL, and
for the conditions SQL can decide alone, exactly those pass. Examples per field, then a
hypothesis property over random conditions on a catalogue of varied tickets."""

from dataclasses import dataclass

import pytest
from django_scopes import scopes_disabled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automations.conditions import compile_conditions
from automations.facts import TICKET_RELATED, Facts, facts_for_many
from automations.prefilter import prefilter_q
from automations.schema import Field, Op
from tenants import services as tenant_services
from tests.automations.test_conditions import NOW, cond
from tests.factories import make_ticket
from tickets.models import Customer, Priority, Status, Ticket
from tickets.services.contacts import contact_get_or_create, customer_domain_add
from tickets.services.tags import ticket_tags_add
from tickets.services.tickets import (
    collaborator_add,
    ticket_assign,
    ticket_change_status,
    ticket_change_team,
)

EMAILS = ["carol@customer.test", "jo@nw.test", "ann@contoso.test", "bob@mail.nw.test"]
TAGS = ["vip", "Refund", "late", "Größe"]
SOURCES = ["email", "portal", "agent", "api", "contact_form"]


@dataclass
class Catalogue:
    tickets: list[Ticket]
    facts: list[Facts]
    status_ids: list[int]
    priority_ids: list[int]
    team_ids: list[int]
    user_ids: list[int]
    customer_ids: list[int]
    globex_ticket_ids: list[int]


def _tickets(tenant, count: int) -> list[Ticket]:
    org = tenant.org
    billing = tenant_services.team_create(organization=org, name="Billing")
    customer_domain_add(organization=org, domain="nw.test", customer_name="Northwind")
    customer_domain_add(organization=org, domain="contoso.test", customer_name="Contoso")
    statuses = list(Status.objects.order_by("position"))
    priorities = list(Priority.objects.order_by("rank"))
    teams = [tenant.team, billing, None]
    people = [tenant.agent, tenant.admin, None]
    made = []
    for i in range(count):
        ticket = make_ticket(
            org,
            subject=f"Ticket {i}",
            email=EMAILS[i % len(EMAILS)],
            source=SOURCES[i % len(SOURCES)],
            priority=priorities[i % len(priorities)],
        )
        ticket_change_status(ticket=ticket, status=statuses[i % len(statuses)])
        ticket_change_team(ticket=ticket, team=teams[i % 3])
        ticket_assign(ticket=ticket, assignee=people[(i // 2) % 3])
        names = [name for n, name in enumerate(TAGS) if (i >> n) & 1]
        if names:
            ticket_tags_add(ticket=ticket, names=[n.upper() if i % 3 else n for n in names])
        if i % 4 == 1:
            other = contact_get_or_create(organization=org, email=f"cc{i}@x.test")
            collaborator_add(ticket=ticket, contact=other)
        made.append(ticket)
    return made


@pytest.fixture
def catalogue(acme, globex) -> Catalogue:
    with globex.scope():
        globex_ids = [t.pk for t in _tickets(globex, 6)]
    with acme.scope():
        made = _tickets(acme, 16)
        loaded = list(
            Ticket.objects.select_related(*TICKET_RELATED).filter(pk__in=[t.pk for t in made])
        )
        facts = facts_for_many(loaded, now=NOW)
        facts[0].lookups.rank(0)  # the ranks loaded while in acme's scope
        return Catalogue(
            tickets=loaded,
            facts=facts,
            status_ids=list(Status.objects.values_list("pk", flat=True)),
            priority_ids=list(Priority.objects.values_list("pk", flat=True)),
            team_ids=sorted({t.team_id for t in loaded if t.team_id}),
            user_ids=[acme.agent.pk, acme.admin.pk],
            customer_ids=list(Customer.objects.values_list("pk", flat=True)),
            globex_ticket_ids=globex_ids,
        )


def by_matcher(catalogue: Catalogue, conditions) -> set[int]:
    matcher = compile_conditions(conditions)
    return {f.ticket.pk for f in catalogue.facts if matcher.matches(f)}


def by_sql(acme, conditions) -> set[int]:
    with acme.scope():
        return set(Ticket.objects.filter(prefilter_q(conditions)).values_list("pk", flat=True))


def agree(acme, catalogue, conditions, *, exact=True) -> set[int]:
    matched, passed = by_matcher(catalogue, conditions), by_sql(acme, conditions)
    assert matched <= passed
    if exact:
        assert matched == passed
    return matched


# -- examples --------------------------------------------------------------------------------


def test_each_sql_field_selects_what_the_matcher_does(acme, catalogue):
    c = catalogue
    examples = [
        cond(Field.STATUS, Op.IS, c.status_ids[:2]),
        cond(Field.STATUS, Op.IS_NOT, c.status_ids[:2]),
        cond(Field.STATUS_CATEGORY, Op.IS, ["open", "pending"]),
        cond(Field.STATUS_CATEGORY, Op.IS_NOT, ["closed"]),
        cond(Field.PRIORITY, Op.IS, c.priority_ids[1:2]),
        cond(Field.PRIORITY, Op.IS_NOT, c.priority_ids[1:2]),
        cond(Field.PRIORITY, Op.AT_LEAST, c.priority_ids[2:3]),
        cond(Field.PRIORITY, Op.AT_MOST, c.priority_ids[1:2]),
        cond(Field.TEAM, Op.IS, c.team_ids[:1]),
        cond(Field.TEAM, Op.IS_NOT, c.team_ids[:1]),
        cond(Field.TEAM, Op.IS_SET),
        cond(Field.TEAM, Op.IS_NOT_SET),
        cond(Field.ASSIGNEE, Op.IS, c.user_ids[:1]),
        cond(Field.ASSIGNEE, Op.IS_NOT, c.user_ids[:1]),
        cond(Field.ASSIGNEE, Op.IS_NOT_SET),
        cond(Field.CUSTOMER, Op.IS, c.customer_ids[:1]),
        cond(Field.CUSTOMER, Op.IS_NOT, c.customer_ids[:1]),
        cond(Field.CUSTOMER, Op.IS_SET),
        cond(Field.SOURCE, Op.IS, ["email", "api"]),
        cond(Field.SOURCE, Op.IS_NOT, ["email"]),
        cond(Field.REQUESTER_EMAIL, Op.IS, ["JO@nw.test"]),
        cond(Field.REQUESTER_EMAIL, Op.IS_NOT, ["jo@nw.test", "Ann@Contoso.test"]),
        cond(Field.REQUESTER_DOMAIN, Op.IS, ["NW.test"]),
        cond(Field.REQUESTER_DOMAIN, Op.IS_NOT, ["@nw.test"]),
        cond(Field.TAGS, Op.HAS_ANY, ["VIP", "late"]),
        cond(Field.TAGS, Op.HAS_ALL, ["vip", "refund"]),
        cond(Field.TAGS, Op.HAS_NONE, ["Refund"]),
        cond(Field.COLLABORATORS, Op.IS_SET),
        cond(Field.COLLABORATORS, Op.IS_NOT_SET),
    ]
    for example in examples:  # each one tells the tickets apart
        assert 0 < len(agree(acme, c, {"all": [example]})) < len(c.tickets), example
    gone = cond(Field.PRIORITY, Op.AT_LEAST, [999_999])
    assert agree(acme, c, {"all": [gone]}) == set()


def test_the_any_group_narrows_only_when_sql_knows_each_of_its_conditions(acme, catalogue):
    vip = cond(Field.TAGS, Op.HAS_ANY, ["vip"])
    by_mail = cond(Field.SOURCE, Op.IS, ["email"])
    words = cond(Field.SUBJECT, Op.CONTAINS_ANY, ["ticket"])
    agree(acme, catalogue, {"any": [vip, by_mail]})
    assert by_sql(acme, {"any": [vip, words]}) == {t.pk for t in catalogue.tickets}
    agree(acme, catalogue, {"all": [by_mail], "any": [vip, words]}, exact=False)


def test_what_only_the_matcher_knows_is_left_to_it(acme, catalogue):
    everyone = {t.pk for t in catalogue.tickets}
    for condition in [
        cond(Field.SUBJECT, Op.CONTAINS_ANY, ["ticket"]),
        cond(Field.COMMENT_TEXT, Op.MATCHES, "x+"),
        cond(Field.BUSINESS_HOURS, Op.OUTSIDE),
        cond(Field.ACTOR, Op.IS, ["customer"]),
        cond(Field.TAGS, Op.HAS_ANY, ["größe", "vip"]),  # SQLite folds only ASCII
        cond(Field.STATUS, Op.IS, ["not an id"]),  # malformed: the Matcher refuses it
    ]:
        assert by_sql(acme, {"all": [condition]}) == everyone
        agree(acme, catalogue, {"all": [condition]}, exact=False)
    assert by_sql(acme, ["not", "conditions"]) == everyone
    agree(acme, catalogue, {"all": [cond(Field.TAGS, Op.HAS_ALL, ["größe", "vip"])]}, exact=False)


def test_across_tenants_each_ticket_is_compared_within_its_own(acme, catalogue):
    """The scan may filter outside a tenant scope: the subqueries stay on each ticket's own
    tenant, so acme's priority ids and tag names select no globex ticket."""
    high = catalogue.priority_ids[2]
    conditions = {
        "all": [
            cond(Field.PRIORITY, Op.AT_LEAST, [high]),
            cond(Field.TAGS, Op.HAS_NONE, ["zzz"]),
            cond(Field.COLLABORATORS, Op.IS_NOT_SET),
        ]
    }
    with scopes_disabled():  # a test reading both tenants' tickets on purpose
        passed = set(Ticket.objects.filter(prefilter_q(conditions)).values_list("pk", flat=True))
    assert passed == by_matcher(catalogue, conditions)
    assert passed.isdisjoint(catalogue.globex_ticket_ids)


# -- the property ----------------------------------------------------------------------------


def conditions_of(catalogue: Catalogue):
    """Random conditions over the catalogue's ids and values (some unknown ids too), and
    whether SQL decides all of them alone."""
    c = catalogue
    unknown = st.just(987_654)
    ids = {
        Field.STATUS: st.sampled_from(c.status_ids) | unknown,
        Field.PRIORITY: st.sampled_from(c.priority_ids) | unknown,
        Field.TEAM: st.sampled_from(c.team_ids) | unknown,
        Field.ASSIGNEE: st.sampled_from(c.user_ids) | unknown,
        Field.CUSTOMER: st.sampled_from(c.customer_ids) | unknown,
    }
    some = lambda s: st.lists(s, min_size=1, max_size=3)  # noqa: E731
    cased = lambda s: s.flatmap(lambda v: st.sampled_from([v, v.upper(), v.title()]))  # noqa: E731
    choices = {
        Field.STATUS_CATEGORY: st.sampled_from(["new", "open", "pending", "resolved", "closed"]),
        Field.SOURCE: st.sampled_from(SOURCES),
        Field.ACTOR: st.sampled_from(["customer", "agent", "system"]),
        Field.REQUESTER_EMAIL: cased(st.sampled_from(EMAILS)),
        Field.REQUESTER_DOMAIN: cased(st.sampled_from(["nw.test", "contoso.test", "x.test"])),
        Field.TAGS: cased(st.sampled_from(TAGS[:3])),
    }

    @st.composite
    def one(draw):
        field = draw(st.sampled_from([*ids, *choices, Field.COLLABORATORS, Field.SUBJECT]))
        op = draw(st.sampled_from(_OPS[field]))
        if op in (Op.IS_SET, Op.IS_NOT_SET):
            return cond(field, op)
        if field == Field.SUBJECT:
            return cond(field, op, draw(some(st.sampled_from(["ticket", "3", "1", "nope"]))))
        if op in (Op.AT_LEAST, Op.AT_MOST):
            return cond(field, op, [draw(ids[field])])
        return cond(field, op, draw(some(ids[field] if field in ids else choices[field])))

    return st.fixed_dictionaries(
        {"all": st.lists(one(), max_size=3), "any": st.lists(one(), max_size=3)}
    )


_OPS = {
    Field.STATUS: [Op.IS, Op.IS_NOT],
    Field.STATUS_CATEGORY: [Op.IS, Op.IS_NOT],
    Field.PRIORITY: [Op.IS, Op.IS_NOT, Op.AT_LEAST, Op.AT_MOST],
    Field.TEAM: [Op.IS, Op.IS_NOT, Op.IS_SET, Op.IS_NOT_SET],
    Field.ASSIGNEE: [Op.IS, Op.IS_NOT, Op.IS_SET, Op.IS_NOT_SET],
    Field.CUSTOMER: [Op.IS, Op.IS_NOT, Op.IS_SET, Op.IS_NOT_SET],
    Field.SOURCE: [Op.IS, Op.IS_NOT],
    Field.ACTOR: [Op.IS, Op.IS_NOT],
    Field.REQUESTER_EMAIL: [Op.IS, Op.IS_NOT],
    Field.REQUESTER_DOMAIN: [Op.IS, Op.IS_NOT],
    Field.TAGS: [Op.HAS_ANY, Op.HAS_ALL, Op.HAS_NONE],
    Field.COLLABORATORS: [Op.IS_SET, Op.IS_NOT_SET],
    Field.SUBJECT: [Op.CONTAINS_ANY, Op.CONTAINS_NONE],
}
_MATCHER_ONLY = {Field.ACTOR, Field.SUBJECT}


def test_prefilter_agrees_with_the_matcher_on_random_conditions(acme, catalogue):
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(conditions_of(catalogue))
    def prop(conditions):
        rows = conditions["all"] + conditions["any"]
        exact = not any(row["field"] in _MATCHER_ONLY for row in rows)
        agree(acme, catalogue, conditions, exact=exact)

    prop()
