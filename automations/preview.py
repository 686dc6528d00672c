"""The rule editor's preview: "these open tickets match now". SQL narrows the open tickets with
the part of the conditions it can express (automations.prefilter) and, for a time rule, with
its clock; the rule's own Matcher decides over the most recent candidates (a bounded set, so
the count is "at least" when it is reached), and the first matches are shown.

Conditions on the new comment's text and on who made the event describe an event, which a
ticket at rest does not have: they are left out, and the preview says so.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q

from automations import schema
from automations.conditions import compile_conditions
from automations.facts import TICKET_RELATED, facts_for_many
from automations.models import CLOCKS, Trigger
from automations.prefilter import prefilter_q
from tickets.models import UNRESOLVED_CATEGORIES, Ticket

MAX_CANDIDATES = 2_000
SHOWN = 50
EVENT_FIELDS = {
    schema.Field.COMMENT_TEXT: "the new comment's text",
    schema.Field.ACTOR: "who made the event",
}


@dataclass
class Preview:
    tickets: list[Ticket]  # the first SHOWN matches, most recent first
    count: int  # matches among the candidates
    bounded: bool  # the candidates stopped at MAX_CANDIDATES: "at least" `count`
    notes: list[str] = field(default_factory=list)


def _at_rest(conditions: dict) -> tuple[dict, list[str]]:
    """The conditions without those that need an event, and a note for each kind left out."""
    kept: dict[str, list] = {}
    left_out: list[str] = []
    for group in ("all", "any"):
        kept[group] = []
        for condition in conditions.get(group, []):
            what = EVENT_FIELDS.get(condition.get("field"))
            if what is None:
                kept[group].append(condition)
            elif what not in left_out:
                left_out.append(what)
    notes = [
        f"Conditions on {what} are left out: they depend on the event, "
        "which the preview does not have."
        for what in left_out
    ]
    return kept, notes


def _clock_q(trigger: str, options: dict, now: datetime) -> tuple[Q, list[str]]:
    clock = CLOCKS.get(trigger)
    hours = options.get("hours")
    if clock is None or not isinstance(hours, int):
        return Q(), []
    since = Q(**{f"{clock}__lte": now - timedelta(hours=hours)})
    if trigger == Trigger.HOURS_IN_STATUS:
        since &= Q(status_id=options.get("status_id"))
    return since, [f"Only tickets past the rule's {hours} hours are counted."]


def matching_open_tickets(
    *, conditions: dict, trigger: str, trigger_options: dict, now: datetime
) -> Preview:
    """The active tenant's open tickets the conditions match at `now`."""
    kept, notes = _at_rest(conditions)
    clock, clock_notes = _clock_q(trigger, trigger_options, now)
    candidates = list(
        Ticket.objects.filter(status_category__in=UNRESOLVED_CATEGORIES, merged_into__isnull=True)
        .filter(prefilter_q(kept), clock)
        .select_related(*TICKET_RELATED)
        .order_by("-created_at", "-id")[:MAX_CANDIDATES]
    )
    matcher = compile_conditions(kept)
    facts = facts_for_many(candidates, now=now)
    matched = [t for t, f in zip(candidates, facts, strict=True) if matcher.matches(f)]
    return Preview(
        tickets=matched[:SHOWN],
        count=len(matched),
        bounded=len(candidates) == MAX_CANDIDATES,
        notes=notes + clock_notes,
    )
