"""The deletion guards automations registers (tenants.deletion_guards): a team, status or
priority that an enabled rule or a shared macro names cannot be deleted, nor an agent they name
removed, until the rules and macros stop naming it; the refusal links to each of them.

Disabled rules do not block (they do not run; their editor flags the missing names), nor do
agents' personal macros (an admin cannot edit those; an action naming a deleted row fails
with a clear detail when applied). Rules are few per tenant, so their JSON is read in Python
rather than searched in SQL, the same on SQLite and PostgreSQL.
"""

from collections import defaultdict

from django.urls import reverse

from automations import schema
from automations.models import Macro, Rule
from tenants import deletion_guards
from tenants.deletion_guards import Blocker

STATUS, PRIORITY, TEAM, USER = "status", "priority", "team", "user"

# condition field -> the kind of row its ids name
_CONDITION_REFS = {
    schema.Field.STATUS: STATUS,
    schema.Field.PRIORITY: PRIORITY,
    schema.Field.TEAM: TEAM,
    schema.Field.ASSIGNEE: USER,
}
# action key -> the kind of row it names
_ACTION_REFS = {"status_id": STATUS, "priority_id": PRIORITY, "team_id": TEAM, "user_id": USER}


def _ints(value) -> set[int]:
    values = value if isinstance(value, list) else [value]
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool)}


def named_in_trigger(trigger: str, options) -> dict[str, set[int]]:
    found: dict[str, set[int]] = defaultdict(set)
    if isinstance(options, dict):
        found[STATUS] |= _ints(options.get("to_status_ids"))
        found[PRIORITY] |= _ints(options.get("to_priority_ids"))
        if trigger == "hours_in_status":
            found[STATUS] |= _ints(options.get("status_id"))
    return found


def named_in_conditions(conditions) -> dict[str, set[int]]:
    found: dict[str, set[int]] = defaultdict(set)
    groups = conditions.values() if isinstance(conditions, dict) else []
    for group in groups:
        for condition in group if isinstance(group, list) else []:
            if isinstance(condition, dict) and condition.get("field") in _CONDITION_REFS:
                found[_CONDITION_REFS[condition["field"]]] |= _ints(condition.get("value"))
    return found


def named_in_actions(actions) -> dict[str, set[int]]:
    found: dict[str, set[int]] = defaultdict(set)
    for action in actions if isinstance(actions, list) else []:
        if isinstance(action, dict):
            for key, kind in _ACTION_REFS.items():
                found[kind] |= _ints(action.get(key))
    return found


def rule_names(rule: Rule, kind: str, pk: int) -> bool:
    return any(
        pk in named.get(kind, ())
        for named in (
            named_in_trigger(rule.trigger, rule.trigger_options),
            named_in_conditions(rule.conditions),
            named_in_actions(rule.actions),
        )
    )


def _rule_url(rule: Rule) -> str:
    return reverse("automations:rule", kwargs={"pk": rule.pk})


def _macro_url(macro: Macro) -> str:
    return reverse("macros:shared_edit", kwargs={"pk": macro.pk})


def users_of(kind: str, pk: int) -> list[Blocker]:
    """The enabled rules and the shared macros that name this row, rules first, in order."""
    rules = Rule.objects.filter(enabled=True).only(
        "name", "trigger", "trigger_options", "conditions", "actions"
    )
    macros = Macro.objects.filter(owner__isnull=True).only("name", "actions")
    found = [Blocker(f"Rule “{r.name}”", _rule_url(r)) for r in rules if rule_names(r, kind, pk)]
    found += [
        Blocker(f"Macro “{m.name}”", _macro_url(m))
        for m in macros
        if pk in named_in_actions(m.actions).get(kind, ())
    ]
    return found


def _team(team) -> list[Blocker]:
    return users_of(TEAM, team.pk)


def _status(status) -> list[Blocker]:
    return users_of(STATUS, status.pk)


def _priority(priority) -> list[Blocker]:
    return users_of(PRIORITY, priority.pk)


def _member(membership) -> list[Blocker]:
    return users_of(USER, membership.user_id)


def register() -> None:
    deletion_guards.register("tenants.Team", _team)
    deletion_guards.register("tickets.Status", _status)
    deletion_guards.register("tickets.Priority", _priority)
    deletion_guards.register("tenants.Membership", _member)
