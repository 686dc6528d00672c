"""The time rules' scan (beat, every 2 minutes): which tickets' clocks passed a time rule's hours,
found through the indexed clock columns and each rule's keyset cursor, never by reading every
ticket.

A time rule watches one clock (CLOCKS): created_at, last_customer_message_at,
last_agent_reply_at, or status_changed_at within one status. A run reads, per rule, at most
LIMIT tickets whose clock lies after the rule's cursor (time_cursor_at, time_cursor_id) and at
or before `now - hours`, in (clock, id) order through the clock's index, moves the cursor past
them and queues `automations.run_time_rule` for the ones that qualify (not merged; not done
unless the rule's own status conditions say which statuses) after commit. A rule's first run
starts from the beginning, so tickets already past the threshold fire once. The engine then
runs the rule on each locked ticket (automations.services.run), where the clock must still hold
the value found here: a ticket that left the status and came back has a new clock, a new period
key, and fires again; otherwise the cursor and RuleRun's unique (rule, ticket, origin) keep it
from firing twice.

The queries of a run are one for the rules, one per rule and one for the cursors, however many
tickets there are. The rules are claimed FOR UPDATE SKIP LOCKED, so two scans at once split
them between them.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_scopes import scopes_disabled

from automations import schema
from automations.models import CLOCKS, TIME_TRIGGERS, Rule, Trigger
from tenants.scoping import tenant_scope
from tickets.models import DONE_CATEGORIES, Ticket

logger = logging.getLogger(__name__)

LIMIT = 2000  # tickets read per rule and run; the rest are found by the next run
BATCH = 100  # tickets per run_time_rule task
RUN_TIME_RULE = "automations.run_time_rule"


@dataclass
class ScanResult:
    rules: int = 0  # time rules scanned
    read: int = 0  # tickets read past the cursors
    due: int = 0  # of them, queued to run their rule
    batches: int = 0  # run_time_rule tasks queued


@dataclass(frozen=True)
class _Row:
    id: int
    clock: datetime
    status_id: int
    status_category: str
    merged_into_id: int | None


def automations_time_scan(*, now: datetime | None = None, limit: int = LIMIT) -> ScanResult:
    """Find every tenant's tickets whose time rules are due and queue them (after commit)."""
    now = now or timezone.now()
    result = ScanResult()
    with transaction.atomic():
        # Every tenant's time rules in one query; each rule's tickets are read in its tenant.
        with scopes_disabled():  # reads rules only, and enters each rule's tenant below
            rules = list(
                Rule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("organization")
                .filter(enabled=True, trigger__in=TIME_TRIGGERS)
                .order_by("organization_id", "position", "id")
            )
        moved: list[Rule] = []
        for _, group in groupby(rules, key=lambda r: r.organization_id):
            tenant_rules = list(group)
            with tenant_scope(tenant_rules[0].organization):
                for rule in tenant_rules:
                    if _scan_rule(rule, now, limit, result):
                        moved.append(rule)
        if moved:
            with scopes_disabled():  # the cursors of the rules read above, each in its tenant
                Rule.objects.bulk_update(moved, ["time_cursor_at", "time_cursor_id"])
        result.rules = len(rules)
    return result


def _scan_rule(rule: Rule, now: datetime, limit: int, result: ScanResult) -> bool:
    """Read past the rule's cursor, queue its due tickets; True when the cursor moved."""
    threshold = threshold_of(rule, now)
    if threshold is None:
        return False
    rows = _read(rule, threshold, limit)
    result.read += len(rows)
    due = [row for row in rows if qualifies(rule, row)]
    result.due += len(due)
    result.batches += _queue(rule, due)
    return _advance(rule, rows, threshold, limit)


def threshold_of(rule: Rule, now: datetime) -> datetime | None:
    """`now - hours`: clocks at or before it are due; None for a rule it cannot apply to."""
    options = rule.trigger_options or {}
    hours = options.get("hours")
    if not isinstance(hours, int) or isinstance(hours, bool) or hours < 1:
        return None
    if rule.trigger == Trigger.HOURS_IN_STATUS and not isinstance(options.get("status_id"), int):
        return None
    return now - timedelta(hours=hours)


def _read(rule: Rule, threshold: datetime, limit: int) -> list[_Row]:
    field = CLOCKS[rule.trigger]
    tickets = Ticket.objects.filter(**{f"{field}__lte": threshold})
    if rule.trigger == Trigger.HOURS_IN_STATUS:
        tickets = tickets.filter(status_id=rule.trigger_options["status_id"])
    if rule.time_cursor_at is not None:
        # The lower bound alone is what the index range starts from; the OR breaks ties.
        at, after = rule.time_cursor_at, rule.time_cursor_id
        tickets = tickets.filter(**{f"{field}__gte": at}).filter(
            Q(**{f"{field}__gt": at}) | Q(id__gt=after)
        )
    columns = ("id", field, "status_id", "status_category", "merged_into_id")
    return [_Row(*values) for values in tickets.order_by(field, "id").values_list(*columns)[:limit]]


def qualifies(rule: Rule, ticket) -> bool:
    """Whether a ticket (a Ticket or a scanned row) is one the rule may fire on: not merged,
    and in the statuses the rule's "all" conditions name, else not done. The conditions are
    checked in full by the engine on the locked ticket."""
    if ticket.merged_into_id:
        return False
    statuses = _status_conditions(rule.conditions or {})
    if not statuses:
        return ticket.status_category not in DONE_CATEGORIES
    return all(_holds(condition, ticket) for condition in statuses)


def _status_conditions(conditions: dict) -> list[dict]:
    fields = (schema.Field.STATUS, schema.Field.STATUS_CATEGORY)
    return [
        c for c in conditions.get("all") or [] if isinstance(c, dict) and c.get("field") in fields
    ]


def _holds(condition: dict, ticket) -> bool:
    value = condition.get("value")
    if not isinstance(value, list):
        return False  # malformed: the conditions never hold (automations.conditions)
    have = ticket.status_id if condition["field"] == schema.Field.STATUS else ticket.status_category
    inside = have in value
    return inside if condition.get("op") == schema.Op.IS else not inside


def _advance(rule: Rule, rows: list[_Row], threshold: datetime, limit: int) -> bool:
    """Move the cursor past what was read; when the read ended before `limit` every clock up to
    the threshold was seen, so the cursor may move to the threshold (never backwards: a rule
    whose hours grew keeps its place)."""
    cursor = (rule.time_cursor_at, rule.time_cursor_id)
    new = (rows[-1].clock, rows[-1].id) if rows else cursor
    if len(rows) < limit and (new[0] is None or new[0] < threshold):
        new = (threshold, 0)
    if cursor[0] is not None and new <= cursor:
        return False
    rule.time_cursor_at, rule.time_cursor_id = new
    return True


def _queue(rule: Rule, due: list[_Row]) -> int:
    """One run_time_rule task per BATCH tickets, sent once the cursor moved (commit)."""
    batches = [due[i : i + BATCH] for i in range(len(due))[::BATCH]]
    for batch in batches:
        items = [[row.id, row.clock.isoformat()] for row in batch]
        transaction.on_commit(_sender(rule.organization_id, rule.pk, items), robust=True)
    return len(batches)


def _sender(organization_id: int, rule_id: int, items: list):
    def send() -> None:
        task = current_app.tasks[RUN_TIME_RULE]
        task.delay(organization_id=organization_id, rule_id=rule_id, items=items)

    return send


def period_key(rule: Rule, clock: datetime) -> str:
    """The origin of one qualifying period of one rule on a ticket: RuleRun's unique (rule,
    ticket, origin) lets it fire once per clock value. The rule's id keeps the chains of two
    time rules with the same clock apart."""
    return f"time:{rule.pk}:{clock.isoformat()}"


def clock_of(rule: Rule, ticket: Ticket) -> datetime | None:
    """The ticket's value of the rule's clock; None when the rule does not watch it now (the
    ticket left the rule's status)."""
    watched = (rule.trigger_options or {}).get("status_id")
    if rule.trigger == Trigger.HOURS_IN_STATUS and ticket.status_id != watched:
        return None
    return getattr(ticket, CLOCKS[rule.trigger])
