"""The check of a rule's or a macro's actions before they are saved: their shape (the tables
of automations.schema), that the statuses, priorities, teams and agents they name exist in this
tenant (one query per kind of id, whatever the number of actions), that their templates
compile and render in the sandbox (as canned responses are checked), their addresses and tags.
Messages name the action by its number, for the form to show beside its row."""

from collections.abc import Callable, Sequence
from typing import TypeGuard

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet

from automations.schema import MAX_ACTIONS, ActionType, AssignMode, NotifyTarget
from tenants.models import Membership, Organization, Team
from tickets import placeholders, template_sandbox
from tickets.models import Priority, Status
from tickets.services.tags import MAX_TAGS_AT_ONCE, TagError, tag_names_parse

MAX_COLLABORATORS = 20
MAX_SUBJECT_LENGTH = 300
MAX_TEMPLATE_LENGTH = 20_000


def validate_actions(
    actions: object,
    *,
    organization: Organization,
    allowed: Sequence[str] = tuple(ActionType.values),
) -> list[str]:
    """What is wrong with a list of actions, as messages a person understands ("Action 2:
    the status you picked no longer exists."); [] when it may be saved. Checks the shape of
    each action, that the statuses, priorities, teams and agents it names exist in this
    tenant, that its templates compile and render in the sandbox, its addresses and tags."""
    if not isinstance(actions, list):
        return ["The actions are not a list."]
    errors = [] if len(actions) <= MAX_ACTIONS else [f"A rule takes at most {MAX_ACTIONS} actions."]
    refs = _References()
    per_action = [_check(action, allowed, refs) for action in actions]
    for n, missing in refs.missing(organization).items():
        per_action[n - 1].extend(missing)
    for n, messages in enumerate(per_action, start=1):
        errors += [f"Action {n}: {message}" for message in messages]
    return errors


class _References:
    """The ids the actions name, by kind and action number: checked in one query per kind."""

    LABELS = {"status": "status", "priority": "priority", "team": "team", "user": "agent"}
    PICK = {"status": "a status", "priority": "a priority", "team": "a team", "user": "an agent"}

    def __init__(self) -> None:
        self.wanted: dict[str, dict[int, list[int]]] = {k: {} for k in self.LABELS}
        self.number = 0

    def want(self, kind: str, value: int) -> None:
        self.wanted[kind].setdefault(value, []).append(self.number)

    def missing(self, organization: Organization) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for kind, ids in self.wanted.items():
            if not ids:
                continue
            existing = set(_existing_ids(kind, organization, list(ids)))
            for value, numbers in ids.items():
                if value not in existing:
                    for n in numbers:
                        what = self.LABELS[kind]
                        found.setdefault(n, []).append(f"the {what} you picked no longer exists.")
        return found


def _existing_ids(kind: str, organization: Organization, ids: list[int]) -> list[int]:
    if kind == "user":
        members = Membership.objects.filter(
            organization=organization, user_id__in=ids, user__is_active=True
        )
        return list(members.values_list("user_id", flat=True))
    rows: QuerySet = {"status": Status, "priority": Priority, "team": Team}[kind].objects.all()
    found = rows.filter(organization=organization, pk__in=ids)
    return list(found.values_list("pk", flat=True))


def _check(action: object, allowed: Sequence[str], refs: _References) -> list[str]:
    refs.number += 1
    if not isinstance(action, dict):
        return ["it is not an action."]
    kind = action.get("type")
    if kind not in allowed or kind not in _CHECKS:
        return [f"“{kind}” is not an action that can be used here."]
    return _CHECKS[str(kind)](action, refs)


def is_id(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _need_ref(action: dict, key: str, kind: str, refs: _References, *, optional=False) -> list:
    value = action.get(key)
    if optional and value is None:
        return []
    if not is_id(value):
        return [f"pick {_References.PICK[kind]}."]
    refs.want(kind, value)
    return []


def _check_set_team(action: dict, refs: _References) -> list[str]:
    if "team_id" not in action:
        return ["pick a team (or no team)."]
    return _need_ref(action, "team_id", "team", refs, optional=True)


def _check_assign(action: dict, refs: _References) -> list[str]:
    mode = action.get("mode")
    if mode == AssignMode.USER:
        return _need_ref(action, "user_id", "user", refs)
    if mode in (AssignMode.ROUND_ROBIN, AssignMode.LEAST_LOADED):
        return _need_ref(action, "team_id", "team", refs, optional=True)
    if mode == AssignMode.UNASSIGN:
        return []
    return ["pick how to assign."]


def _check_tags(action: dict, refs: _References) -> list[str]:
    names = action.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return ["name at least one tag."]
    errors = []
    for name in names:
        try:
            if len(tag_names_parse(name)) != 1:
                errors.append(f"“{name}” is not one tag name (no commas).")
        except TagError as exc:
            errors.append(str(exc))
    if len(names) > MAX_TAGS_AT_ONCE:
        errors.append(f"at most {MAX_TAGS_AT_ONCE} tags at once.")
    return errors


def _check_collaborators(action: dict, refs: _References) -> list[str]:
    emails = action.get("emails")
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
        return ["give at least one email address."]
    errors = [f"“{e}” is not an email address." for e in emails if not is_email(e.strip())]
    if len(emails) > MAX_COLLABORATORS:
        errors.append(f"at most {MAX_COLLABORATORS} addresses.")
    return errors


def _check_note(action: dict, refs: _References) -> list[str]:
    return _check_template(action.get("body"), "Note", "write the note.")


def _check_mail(action: dict, refs: _References) -> list[str]:
    subject = action.get("subject")
    errors = _check_template(subject, "Subject", "write a subject.", mail=True)
    if isinstance(subject, str) and len(subject) > MAX_SUBJECT_LENGTH:
        errors.append(f"the subject is longer than {MAX_SUBJECT_LENGTH} characters.")
    return errors + _check_template(action.get("body"), "Message", "write the message.", mail=True)


def _check_notify(action: dict, refs: _References) -> list[str]:
    target = action.get("target")
    if target == NotifyTarget.USER:
        errors = _need_ref(action, "user_id", "user", refs)
    elif target in (NotifyTarget.TEAM, NotifyTarget.TEAM_MANAGERS):
        errors = _need_ref(action, "team_id", "team", refs, optional=True)
    elif target == NotifyTarget.ASSIGNEE:
        errors = []
    else:
        errors = ["pick whom to notify."]
    return errors + _check_template(action.get("message"), "Message", "write the message.")


def _check_template(source: object, part: str, empty: str, *, mail: bool = False) -> list[str]:
    """The template compiles and renders with every placeholder filled (as canned responses are
    checked); a mail also knows its recipient's name."""
    if not isinstance(source, str) or not source.strip():
        return [empty]
    if len(source) > MAX_TEMPLATE_LENGTH:
        return [f"{part}: at most {MAX_TEMPLATE_LENGTH} characters."]
    values = placeholders.sample_canned_values()
    if mail:
        values["recipient_name"] = "[recipient_name]"
    try:
        template_sandbox.render_template(source, values, html=False, part=part)
    except template_sandbox.TemplateError as exc:
        return [str(exc)]
    return []


def _ref_check(key: str, kind: str) -> Callable[[dict, _References], list[str]]:
    return lambda action, refs: _need_ref(action, key, kind, refs)


_CHECKS: dict[str, Callable[[dict, _References], list[str]]] = {
    ActionType.SET_STATUS: _ref_check("status_id", "status"),
    ActionType.SET_PRIORITY: _ref_check("priority_id", "priority"),
    ActionType.SET_TEAM: _check_set_team,
    ActionType.ASSIGN: _check_assign,
    ActionType.ADD_TAGS: _check_tags,
    ActionType.REMOVE_TAGS: _check_tags,
    ActionType.ADD_COLLABORATORS: _check_collaborators,
    ActionType.ADD_NOTE: _check_note,
    ActionType.MAIL_REQUESTER: _check_mail,
    ActionType.NOTIFY: _check_notify,
}
