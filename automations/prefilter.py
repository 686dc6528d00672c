"""What SQL can decide of a rule's conditions (automations.conditions), as a filter on Ticket
that narrows the tickets the preview hands to the Matcher: every ticket the Matcher accepts
passes it; it may pass more, and the Matcher still decides."""

from functools import reduce
from operator import and_, or_
from typing import Any

from django.db.models import Exists, OuterRef, Q, Subquery

from automations.conditions import ConditionError, compile_one, condition_rows
from automations.schema import Field, Op
from tickets.models import Collaborator, Priority, TicketTag


def prefilter_q(conditions: Any) -> Q:
    """What SQL can decide of the conditions, as a filter on Ticket: every ticket the Matcher
    accepts passes it (it may pass more; the Matcher still decides). The "all" group's
    column conditions (status and its category, priority, team, assignee, source, customer,
    requester's email and domain, tags, collaborators), and the "any" group when SQL can say
    something of each of its conditions. Tag names other than ASCII are left to the Matcher
    (SQLite folds only ASCII case). Subqueries go through the base manager but stay on the
    ticket's own rows (OuterRef), so it runs in a tenant scope or in a scan across tenants."""
    rows, shape = condition_rows(conditions)
    if shape:
        return Q()
    narrowed = Q()
    for group, _, condition in rows:
        q = _sql(condition) if group == "all" else None
        if q is not None:
            narrowed &= q
    alternatives = [_sql(condition) for group, _, condition in rows if group == "any"]
    known = [q for q in alternatives if q is not None]
    if alternatives and len(known) == len(alternatives):
        narrowed &= reduce(or_, known)
    return narrowed


_SQL_COLUMNS = {
    Field.STATUS: "status_id",
    Field.STATUS_CATEGORY: "status_category",
    Field.PRIORITY: "priority_id",
    Field.TEAM: "team_id",
    Field.ASSIGNEE: "assignee_id",
    Field.SOURCE: "source",
    Field.CUSTOMER: "customer_id",
    Field.REQUESTER_EMAIL: "requester__email",
}


_MATCHER_ONLY = (Field.SUBJECT, Field.COMMENT_TEXT, Field.BUSINESS_HOURS, Field.ACTOR)


def _sql(condition: Any) -> Q | None:
    """The condition as a Q that every ticket it holds for passes, or None (no narrowing):
    the texts, business hours, the actor and malformed conditions are the Matcher's."""
    if not isinstance(condition, dict) or condition.get("field") in _MATCHER_ONLY:
        return None
    try:
        compile_one(condition, "")
    except ConditionError:
        return None
    field, op = condition["field"], condition["op"]
    value: Any = condition.get("value")
    if field in _SQL_COLUMNS and op in (Op.IS, Op.IS_NOT, Op.IS_SET, Op.IS_NOT_SET):
        return _column_q(_SQL_COLUMNS[field], op, _sql_values(field, value))
    if field == Field.PRIORITY:
        return _rank_q(op, value[0])
    if field == Field.REQUESTER_DOMAIN:
        domains = [d.strip().removeprefix("@").lower() for d in value]
        q = reduce(or_, [Q(requester__email__endswith=f"@{d}") for d in domains])
        return q if op == Op.IS else ~q
    if field == Field.TAGS:
        return _tags_q(op, value)
    if field == Field.COLLABORATORS:
        has = Exists(
            Collaborator._base_manager.filter(
                ticket_id=OuterRef("pk"), organization_id=OuterRef("organization_id")
            )
        )
        return Q(has) if op == Op.IS_SET else ~Q(has)
    return None


def _sql_values(field: str, value: Any) -> list:
    if field == Field.REQUESTER_EMAIL:
        return [v.strip().lower() for v in value]  # addresses are stored lower case
    return sorted(value) if value else []


def _column_q(column: str, op: str, values: list) -> Q:
    if op == Op.IS:
        return Q(**{f"{column}__in": values})
    if op == Op.IS_NOT:
        return ~Q(**{f"{column}__in": values})  # Django keeps the NULLs (IS NULL OR NOT IN)
    return Q(**{f"{column}__isnull": op == Op.IS_NOT_SET})


def _rank_q(op: str, other: int) -> Q:
    rank = Subquery(
        Priority._base_manager.filter(pk=other, organization_id=OuterRef("organization_id")).values(
            "rank"
        )[:1]
    )
    return Q(priority__rank__gte=rank) if op == Op.AT_LEAST else Q(priority__rank__lte=rank)


def _tags_q(op: str, value: list[str]) -> Q | None:
    names = [v.strip() for v in value]
    plain = [n for n in names if n.isascii()]

    def having(name: str) -> Exists:
        return Exists(
            TicketTag._base_manager.filter(
                ticket_id=OuterRef("pk"),
                organization_id=OuterRef("organization_id"),
                tag__name__iexact=name,
            )
        )

    if op == Op.HAS_ANY:
        return reduce(or_, [Q(having(n)) for n in names]) if len(plain) == len(names) else None
    if not plain:
        return None
    if op == Op.HAS_ALL:
        return reduce(and_, [Q(having(n)) for n in plain])
    return reduce(and_, [~Q(having(n)) for n in plain])  # HAS_NONE
