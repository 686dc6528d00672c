"""Action rows without JSON, for the rule editor and the macro editor alike: one row per action,
a type and the few inputs that type needs.

`ActionRowForm` turns one row into the action shape of automations.schema and back; the rows
are a formset with one blank row at the end (no JavaScript needed to add one: save, or "Add
an action"); a row whose type is left empty is dropped. Every id a row names is checked
against this tenant by automations.actions.validate_actions, whose messages
`place_messages` puts on their row.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from django import forms
from django.core.exceptions import ValidationError

from automations import schema
from tenants.models import Team
from tickets.forms import agents_queryset
from tickets.models import Priority, Status
from tickets.recipients import parse_addresses
from tickets.services.tags import TagError, tag_names_parse

MAX_TEXT = 20_000

# Which inputs of a row each action type uses (the page shows only those: static CSS, below).
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "status_id": (schema.ActionType.SET_STATUS,),
    "priority_id": (schema.ActionType.SET_PRIORITY,),
    "team_id": (schema.ActionType.SET_TEAM,),
    "mode": (schema.ActionType.ASSIGN,),
    "user_id": (schema.ActionType.ASSIGN, schema.ActionType.NOTIFY),
    "within_team_id": (schema.ActionType.ASSIGN, schema.ActionType.NOTIFY),
    "target": (schema.ActionType.NOTIFY,),
    "names": (schema.ActionType.ADD_TAGS, schema.ActionType.REMOVE_TAGS),
    "emails": (schema.ActionType.ADD_COLLABORATORS,),
    "subject": (schema.ActionType.MAIL_REQUESTER,),
    "body": (schema.ActionType.ADD_NOTE, schema.ActionType.MAIL_REQUESTER),
    "message": (schema.ActionType.NOTIFY,),
}


@dataclass(frozen=True)
class Choices:
    """The tenant's statuses, priorities, teams and agents, read once for every row."""

    statuses: list[tuple[int, str]]
    priorities: list[tuple[int, str]]
    teams: list[tuple[int, str]]
    agents: list[tuple[int, str]]

    @classmethod
    def load(cls) -> "Choices":
        return cls(
            statuses=list(Status.objects.values_list("pk", "name")),
            priorities=list(Priority.objects.values_list("pk", "name")),
            teams=list(Team.objects.values_list("pk", "name")),
            agents=[(u.pk, u.display_name) for u in agents_queryset()],
        )


def _id_field(label: str) -> forms.TypedChoiceField:
    # Choices are the tenant's rows, set per form from Choices (one read for every row).
    return forms.TypedChoiceField(label=label, required=False, coerce=int, empty_value=None)


class ActionRowForm(forms.Form):
    type = forms.ChoiceField(
        label="Action",
        required=False,
        choices=[("", "(none: leave this row out)"), *schema.ActionType.choices],
    )
    status_id = _id_field("Status")
    priority_id = _id_field("Priority")
    team_id = _id_field("Team")
    mode = forms.ChoiceField(label="Assign", required=False, choices=schema.AssignMode.choices)
    target = forms.ChoiceField(label="Who", required=False, choices=schema.NotifyTarget.choices)
    user_id = _id_field("Agent")
    within_team_id = _id_field("Team")
    names = forms.CharField(
        label="Tags", required=False, max_length=500, help_text="Comma-separated."
    )
    emails = forms.CharField(
        label="Addresses", required=False, max_length=2_000, help_text="Comma-separated."
    )
    subject = forms.CharField(label="Subject", required=False, max_length=300)
    body = forms.CharField(
        label="Text",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Placeholders like {{ requester_name }} are filled in.",
    )
    message = forms.CharField(
        label="Message",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, choices: Choices, **kwargs):
        super().__init__(*args, **kwargs)
        for name, empty, rows in (
            ("status_id", "Choose a status", choices.statuses),
            ("priority_id", "Choose a priority", choices.priorities),
            ("team_id", "No team", choices.teams),
            ("user_id", "Choose an agent", choices.agents),
            ("within_team_id", "The ticket's team", choices.teams),
        ):
            field = cast(forms.ChoiceField, self.fields[name])  # the _id_field inputs
            field.choices = [("", empty), *rows]
        for name, types in FIELD_TYPES.items():
            self.fields[name].widget.attrs["data-for"] = " ".join(types)

    def clean(self):
        data = super().clean() or {}
        kind = data.get("type")
        if kind and not self.errors:
            try:
                data["action"] = _action_of(kind, data)
            except _RowError as error:
                self.add_error(error.field, error.message)
        return data

    @property
    def action(self) -> dict | None:
        """The row as an action, or None when it is left out (or not valid)."""
        return self.cleaned_data.get("action") if self.is_valid() else None


class _RowError(Exception):
    """What one input of a row lacks, for the message beside it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _need(data: dict, field: str, message: str):
    if data.get(field) in (None, ""):
        raise _RowError(field, message)
    return data[field]


def _action_of(kind: str, data: dict) -> dict:
    """The schema shape of one row (see automations.schema)."""
    T = schema.ActionType
    if kind == T.SET_STATUS:
        return {"type": kind, "status_id": _need(data, "status_id", "Choose a status.")}
    if kind == T.SET_PRIORITY:
        return {"type": kind, "priority_id": _need(data, "priority_id", "Choose a priority.")}
    if kind == T.SET_TEAM:
        return {"type": kind, "team_id": data.get("team_id")}
    if kind == T.ASSIGN:
        return _assign_of(data)
    if kind in (T.ADD_TAGS, T.REMOVE_TAGS):
        return {"type": kind, "names": _tags(_need(data, "names", "Name at least one tag."))}
    if kind == T.ADD_COLLABORATORS:
        text = _need(data, "emails", "Give at least one address.")
        try:
            return {"type": kind, "emails": parse_addresses(text, field="Addresses")}
        except ValidationError as error:
            raise _RowError("emails", error.messages[0]) from None
    if kind == T.ADD_NOTE:
        return {"type": kind, "body": _need(data, "body", "Write the note.")}
    if kind == T.MAIL_REQUESTER:
        subject = _need(data, "subject", "Write the mail's subject.")
        return {"type": kind, "subject": subject, "body": _need(data, "body", "Write the mail.")}
    return _notify_of(data)


def _assign_of(data: dict) -> dict:
    mode = data.get("mode") or schema.AssignMode.USER
    if mode == schema.AssignMode.USER:
        return {
            "type": "assign",
            "mode": mode,
            "user_id": _need(data, "user_id", "Choose an agent."),
        }
    if mode == schema.AssignMode.UNASSIGN:
        return {"type": "assign", "mode": mode}
    return {"type": "assign", "mode": mode, "team_id": data.get("within_team_id")}


def _notify_of(data: dict) -> dict:
    target = data.get("target") or schema.NotifyTarget.ASSIGNEE
    message = _need(data, "message", "Write the message.")
    action: dict = {"type": "notify", "target": target, "message": message}
    if target == schema.NotifyTarget.USER:
        action["user_id"] = _need(data, "user_id", "Choose the agent to notify.")
    if target in (schema.NotifyTarget.TEAM, schema.NotifyTarget.TEAM_MANAGERS):
        action["team_id"] = data.get("within_team_id")
    return action


def _tags(text: str) -> list[str]:
    try:
        names = tag_names_parse(text)
    except TagError as error:
        raise _RowError("names", str(error)) from None
    if not names:
        raise _RowError("names", "Name at least one tag.")
    return names


def row_initial(action: dict) -> dict:
    """One saved action as the inputs of its row (the inverse of ActionRowForm)."""
    initial = {"type": action.get("type", "")}
    for key in ("status_id", "priority_id", "mode", "user_id", "target", "subject", "body"):
        if key in action:
            initial[key] = action[key]
    if action.get("type") == schema.ActionType.SET_TEAM:
        initial["team_id"] = action.get("team_id")
    elif "team_id" in action:
        initial["within_team_id"] = action["team_id"]
    if "names" in action:
        initial["names"] = ", ".join(action["names"])
    if "emails" in action:
        initial["emails"] = ", ".join(action["emails"])
    if "message" in action:
        initial["message"] = action["message"]
    return initial


ActionRows = forms.formset_factory(
    ActionRowForm, extra=1, max_num=schema.MAX_ACTIONS, validate_max=True
)


_ROW_MESSAGE = re.compile(r"^Action (\d+)\b[:.]?\s*(.*)$", re.S)


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def place_messages(rows: Sequence[forms.Form], messages: list[str]) -> list[str]:
    """Put each "Action N: ..." message of validate_actions on row N (without its prefix);
    the messages no row takes, returned."""
    unplaced = []
    for message in messages:
        match = _ROW_MESSAGE.match(message)
        index = int(match[1]) - 1 if match else -1
        if match and 0 <= index < len(rows):
            rows[index].add_error(None, capitalized(match[2] or message))
        else:
            unplaced.append(message)
    return unplaced
