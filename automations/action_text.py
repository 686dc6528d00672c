"""Actions as a sentence ("Set team to Billing", "Assign round-robin within Billing") for the
rules list, the run log and the timeline; the names of what they refer to come from
`names_for`, built once for many actions in a fixed number of queries."""

from collections.abc import Callable, Iterable

from automations.schema import ActionType, AssignMode, NotifyTarget
from tenants.models import Membership, Organization, Team
from tickets.models import Priority, Status

# What names_for returns: kind ("status", "priority", "team", "user") -> id -> name.
Names = dict[str, dict[int, str]]

TICKETS_TEAM = "the ticket's team"
_REF_KEYS = {"status_id": "status", "priority_id": "priority", "team_id": "team", "user_id": "user"}


def names_for(actions_lists: Iterable[list], organization: Organization) -> Names:
    """The names of every status, priority, team and agent these actions name: one query per
    kind that is named at all."""
    wanted: dict[str, set[int]] = {kind: set() for kind in _REF_KEYS.values()}
    for actions in actions_lists:
        for action in actions if isinstance(actions, list) else ():
            if not isinstance(action, dict):
                continue
            for key, kind in _REF_KEYS.items():
                value = action.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    wanted[kind].add(value)
    names: Names = {kind: {} for kind in wanted}
    if wanted["status"]:
        rows = Status.objects.filter(organization=organization, pk__in=wanted["status"])
        names["status"] = dict(rows.values_list("pk", "name"))
    if wanted["priority"]:
        rows_p = Priority.objects.filter(organization=organization, pk__in=wanted["priority"])
        names["priority"] = dict(rows_p.values_list("pk", "name"))
    if wanted["team"]:
        rows_t = Team.objects.filter(organization=organization, pk__in=wanted["team"])
        names["team"] = dict(rows_t.values_list("pk", "name"))
    if wanted["user"]:
        members = Membership.objects.filter(organization=organization, user_id__in=wanted["user"])
        names["user"] = {m.user_id: m.user.display_name for m in members.select_related("user")}
    return names


def describe(action: dict, *, names: Names) -> str:
    """One action as a person reads it; a name that is gone reads "a deleted …"."""
    if not isinstance(action, dict):
        return "An unknown action"
    describer = _DESCRIBERS.get(str(action.get("type")))
    if describer is None:
        return f"An unknown action “{action.get('type')}”"
    return describer(action, names)


def _name(names: Names, kind: str, value: object, deleted: str) -> str:
    if isinstance(value, int) and value in names.get(kind, {}):
        return names[kind][value]
    return deleted


def _team(action: dict, names: Names, *, of_ticket: str) -> str:
    if action.get("team_id") is None:
        return of_ticket
    return _name(names, "team", action.get("team_id"), "a deleted team")


def _quoted(text: object, limit: int = 50) -> str:
    line = " ".join(str(text or "").split())
    return f"“{line if len(line) <= limit else line[: limit - 1] + '…'}”"


def _listed(values: object) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, list) else ""


def _plural(values: object, one: str, many: str) -> str:
    return one if isinstance(values, list) and len(values) == 1 else many


def _set_status(action: dict, names: Names) -> str:
    return f"Set status to {_name(names, 'status', action.get('status_id'), 'a deleted status')}"


def _set_priority(action: dict, names: Names) -> str:
    name = _name(names, "priority", action.get("priority_id"), "a deleted priority")
    return f"Set priority to {name}"


def _set_team(action: dict, names: Names) -> str:
    if action.get("team_id") is None:
        return "Remove the team"
    return f"Set team to {_team(action, names, of_ticket='')}"


def _assign(action: dict, names: Names) -> str:
    mode = action.get("mode")
    if mode == AssignMode.USER:
        return f"Assign to {_name(names, 'user', action.get('user_id'), 'a removed agent')}"
    if mode == AssignMode.UNASSIGN:
        return "Unassign"
    team = _team(action, names, of_ticket=TICKETS_TEAM)
    if mode == AssignMode.ROUND_ROBIN:
        return f"Assign round-robin within {team}"
    if mode == AssignMode.LEAST_LOADED:
        return f"Assign to the least-loaded member of {team}"
    return "Assign"


def _add_tags(action: dict, names: Names) -> str:
    tags = action.get("names")
    return f"Add {_plural(tags, 'tag', 'tags')} {_listed(tags)}"


def _remove_tags(action: dict, names: Names) -> str:
    tags = action.get("names")
    return f"Remove {_plural(tags, 'tag', 'tags')} {_listed(tags)}"


def _add_collaborators(action: dict, names: Names) -> str:
    emails = action.get("emails")
    return f"Add {_plural(emails, 'collaborator', 'collaborators')} {_listed(emails)}"


def _add_note(action: dict, names: Names) -> str:
    return f"Add an internal note: {_quoted(action.get('body'))}"


def _mail_requester(action: dict, names: Names) -> str:
    return f"Mail the requester: {_quoted(action.get('subject'))}"


def _notify(action: dict, names: Names) -> str:
    target = action.get("target")
    if target == NotifyTarget.USER:
        return f"Notify {_name(names, 'user', action.get('user_id'), 'a removed agent')}"
    if target == NotifyTarget.ASSIGNEE:
        return "Notify the assignee"
    if target == NotifyTarget.TEAM:
        return f"Notify everyone in {_team(action, names, of_ticket=TICKETS_TEAM)}"
    if target == NotifyTarget.TEAM_MANAGERS:
        return f"Notify the managers of {_team(action, names, of_ticket=TICKETS_TEAM)}"
    return "Notify"


_DESCRIBERS: dict[str, Callable[[dict, Names], str]] = {
    ActionType.SET_STATUS: _set_status,
    ActionType.SET_PRIORITY: _set_priority,
    ActionType.SET_TEAM: _set_team,
    ActionType.ASSIGN: _assign,
    ActionType.ADD_TAGS: _add_tags,
    ActionType.REMOVE_TAGS: _remove_tags,
    ActionType.ADD_COLLABORATORS: _add_collaborators,
    ActionType.ADD_NOTE: _add_note,
    ActionType.MAIL_REQUESTER: _mail_requester,
    ActionType.NOTIFY: _notify,
}
