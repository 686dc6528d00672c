"""Which rule trigger a domain event is (`trigger_of`), whether a rule's trigger options
accept the event (`options_match`: the source of a new ticket, who wrote a comment and for
whom, the status or priority changed to, assigned or unassigned, the SLA target), and the
options' validation for the settings page (`validate_trigger`).

Options are in the shapes of automations.schema; a missing or empty option accepts any event,
and a malformed one accepts none (a rule must not fire on what it cannot read).
"""

from collections.abc import Callable
from typing import Any

from automations.conditions import existing_ids, missing_message
from automations.models import TIME_TRIGGERS, Trigger
from automations.schema import Field
from sla.models import Target
from tenants.models import Organization
from tickets import events
from tickets.models import Ticket

EVENT_TRIGGERS: dict[str, str] = {
    events.TICKET_CREATED: Trigger.TICKET_CREATED,
    events.COMMENT_ADDED: Trigger.COMMENT_ADDED,
    events.STATUS_CHANGED: Trigger.STATUS_CHANGED,
    events.PRIORITY_CHANGED: Trigger.PRIORITY_CHANGED,
    events.ASSIGNED: Trigger.ASSIGNED,
    events.SLA_WARNING: Trigger.SLA_WARNING,
    events.SLA_BREACHED: Trigger.SLA_BREACHED,
}
MAX_HOURS = 24 * 365  # a time rule waits at most a year
AUTHORS = ("any", "customer", "agent")
VISIBILITIES = ("any", "public", "internal")
CHANGES = ("any", "assigned", "unassigned")


def trigger_of(event_name: str) -> str | None:
    """The Trigger value of a domain event's name; None for events no rule runs on."""
    return EVENT_TRIGGERS.get(event_name)


def options_match(trigger_options: Any, trigger: str, event: events.DomainEvent | None) -> bool:
    """Whether a rule of `trigger` with these options runs on `event`. A time rule's options
    (hours, status) chose its tickets in the scan already, so they always match here."""
    if trigger in TIME_TRIGGERS:
        return True
    if event is None or trigger_of(event.name) != trigger:
        return False
    options = trigger_options or {}
    if not isinstance(options, dict):
        return False
    check = _CHECKS.get(trigger)
    return check is None or check(options, event)


def _one_of(options: dict, key: str, value: Any) -> bool:
    """A list option: empty or missing accepts anything; else the value must be in it."""
    wanted = options.get(key)
    if wanted is None or wanted == []:
        return True
    return isinstance(wanted, list) and value in wanted


def _created(options: dict, event: events.DomainEvent) -> bool:
    return _one_of(options, "sources", event.data.get("source"))


def _comment(options: dict, event: events.DomainEvent) -> bool:
    by_customer = bool(event.data.get("by_contact"))
    by_agent = event.actor_user_id is not None and not by_customer
    author = options.get("author") or "any"
    if author not in AUTHORS or (author == "customer" and not by_customer):
        return False
    if author == "agent" and not by_agent:
        return False
    visibility = options.get("visibility") or "any"
    if visibility not in VISIBILITIES:
        return False
    public = bool(event.data.get("public"))
    return visibility == "any" or (visibility == "public") == public


def _status(options: dict, event: events.DomainEvent) -> bool:
    return _one_of(options, "to_status_ids", event.data.get("to_id"))


def _priority(options: dict, event: events.DomainEvent) -> bool:
    return _one_of(options, "to_priority_ids", event.data.get("to_id"))


def _assigned(options: dict, event: events.DomainEvent) -> bool:
    change = options.get("change") or "any"
    assigned = event.data.get("assignee_id") is not None
    return change == "any" or (change in CHANGES and (change == "assigned") == assigned)


def _sla(options: dict, event: events.DomainEvent) -> bool:
    return _one_of(options, "targets", event.data.get("target"))


_CHECKS: dict[str, Callable[[dict, events.DomainEvent], bool]] = {
    Trigger.TICKET_CREATED: _created,
    Trigger.COMMENT_ADDED: _comment,
    Trigger.STATUS_CHANGED: _status,
    Trigger.PRIORITY_CHANGED: _priority,
    Trigger.ASSIGNED: _assigned,
    Trigger.SLA_WARNING: _sla,
    Trigger.SLA_BREACHED: _sla,
}


# -- validation ------------------------------------------------------------------------------

_HOURS = {"hours"}
# trigger -> the options it takes
OPTION_KEYS: dict[str, set[str]] = {
    Trigger.TICKET_CREATED: {"sources"},
    Trigger.COMMENT_ADDED: {"author", "visibility"},
    Trigger.STATUS_CHANGED: {"to_status_ids"},
    Trigger.PRIORITY_CHANGED: {"to_priority_ids"},
    Trigger.ASSIGNED: {"change"},
    Trigger.SLA_WARNING: {"targets"},
    Trigger.SLA_BREACHED: {"targets"},
    Trigger.HOURS_SINCE_CREATED: _HOURS,
    Trigger.HOURS_SINCE_CUSTOMER: _HOURS,
    Trigger.HOURS_SINCE_AGENT: _HOURS,
    Trigger.HOURS_IN_STATUS: {"hours", "status_id"},
}
_CHOICE_LISTS = {
    "sources": (frozenset(Ticket.Source.values), "a source", "sources"),
    "targets": (frozenset(Target.values), "an SLA target", "SLA targets"),
}
_CHOICE_ONES = {"author": AUTHORS, "visibility": VISIBILITIES, "change": CHANGES}
_ID_OPTIONS = {
    "to_status_ids": Field.STATUS,
    "to_priority_ids": Field.PRIORITY,
    "status_id": Field.STATUS,
}


def validate_trigger(trigger: Any, options: Any, *, organization: Organization) -> list[str]:
    """Human messages about the trigger and its options (their shape, the statuses and
    priorities they name, in this tenant); empty when fine."""
    if trigger not in OPTION_KEYS:
        return ["Choose a trigger."]
    options = options or {}
    if not isinstance(options, dict):
        return ["The trigger's options are malformed."]
    label = Trigger(trigger).label
    problems = [
        f"The trigger “{label}” has no option “{key}”."
        for key in sorted(set(options) - OPTION_KEYS[trigger], key=str)
    ]
    for key in sorted(set(options) & OPTION_KEYS[trigger]):
        problems += _option_problems(key, options[key], organization)
    if trigger in TIME_TRIGGERS and "hours" not in options:
        problems.append(f"Enter the hours (1 to {MAX_HOURS}).")
    if trigger == Trigger.HOURS_IN_STATUS and "status_id" not in options:
        problems.append("Choose the status.")
    return problems


def _option_problems(key: str, value: Any, organization: Organization) -> list[str]:
    if key in _CHOICE_LISTS:
        allowed, one, many = _CHOICE_LISTS[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return [f"The {many} are malformed."]
        return [f"“{v}” is not {one}." for v in value if v not in allowed]
    if key in _CHOICE_ONES:
        return [] if value in _CHOICE_ONES[key] else [f"“{value}” is not a choice here."]
    if key == "hours":
        whole = isinstance(value, int) and not isinstance(value, bool)
        return [] if whole and 1 <= value <= MAX_HOURS else [f"Enter the hours (1 to {MAX_HOURS})."]
    return _id_problems(key, value, organization)


def _id_problems(key: str, value: Any, organization: Organization) -> list[str]:
    ids = [value] if key == "status_id" else value
    if not isinstance(ids, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in ids
    ):
        return ["The trigger's statuses or priorities are malformed."]
    field = _ID_OPTIONS[key]
    missing = set(ids) - existing_ids(field, set(ids), organization)
    if not missing:
        return []
    message = missing_message(field, len(missing), len(set(ids)))
    return [f"The trigger: {message}"]
