"""The rule editor without JSON (Settings -> Automations): the rule's name and trigger with the
options of that trigger, the "All of these" and "Any of these" groups of condition rows, and
the action rows (the macros' `ActionRowForm`, automations.macro_forms: one form for both).

Every row is a small form: a key select (a condition's field, an action's type) and the
inputs the keys need, each input naming in `data-for` the keys it serves; the page shows a
row only the inputs of its key (static CSS with :has(), like the macro editor; without it every
input shows and the server takes only what the key needs). A row whose key is left empty is
left out, so one blank row per group is always there to fill; static/js/automations.js adds
rows in place and offers only the operators of the chosen field. `RuleEditor` validates the
lot, first each input, then the built JSON through the checks of automations.conditions,
triggers and actions, whose messages land on their row.
"""

import json
import re

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from automations import schema
from automations.action_forms import ActionRows, Choices, capitalized, place_messages, row_initial
from automations.actions import validate_actions
from automations.conditions import GROUPS, condition_problems, validate_conditions
from automations.models import TIME_TRIGGERS, Rule, Trigger
from automations.triggers import MAX_HOURS, validate_trigger
from sla.models import Target
from tickets.models import Customer, StatusCategory, Ticket

F, Op = schema.Field, schema.Op
MAX_TEXT = 4_000

# -- rows ----------------------------------------------------------------------------------------


def value_fields(form: forms.Form, *keys: str) -> list[forms.BoundField]:
    """The row's inputs after its key selects, for the template."""
    return [form[name] for name in form.fields if name not in keys]


def _split(text: str) -> list[str]:
    """'refund, invoice\nbilling' -> ["refund", "invoice", "billing"], each once, in order."""
    found: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or ""):
        value = re.sub(r"\s+", " ", part).strip()
        if value:
            found.setdefault(value.casefold(), value)
    return list(found.values())


# -- conditions ----------------------------------------------------------------------------------

# condition field -> the input of its row that holds its value
VALUE_INPUT: dict[str, str] = {
    F.STATUS: "statuses",
    F.STATUS_CATEGORY: "categories",
    F.PRIORITY: "priorities",
    F.TEAM: "teams",
    F.ASSIGNEE: "agents",
    F.SOURCE: "sources",
    F.CUSTOMER: "customers",
    F.REQUESTER_EMAIL: "text",
    F.REQUESTER_DOMAIN: "text",
    F.TAGS: "text",
    F.SUBJECT: "text",
    F.COMMENT_TEXT: "text",
    F.ACTOR: "actors",
}
TEXT_HELP = (
    "Words or phrases, addresses, domains or tags: separate them with commas. "
    "A pattern: one regular expression."
)
_ID_INPUTS = {"statuses", "priorities", "teams", "agents", "customers"}


def _multi(label: str, *, checkboxes: bool = True, coerce=None) -> forms.Field:
    widget = forms.CheckboxSelectMultiple if checkboxes else forms.SelectMultiple
    if coerce is None:
        return forms.MultipleChoiceField(label=label, required=False, widget=widget)
    return forms.TypedMultipleChoiceField(label=label, required=False, widget=widget, coerce=coerce)


class ConditionRowForm(forms.Form):
    field = forms.ChoiceField(
        label="Field",
        required=False,
        choices=[("", "(none: leave this row out)"), *F.choices],
    )
    op = forms.ChoiceField(label="Comparison", required=False, choices=Op.choices)
    statuses = _multi("Statuses", coerce=int)
    categories = _multi("Status categories")
    priorities = _multi("Priorities", coerce=int)
    teams = _multi("Teams", coerce=int)
    agents = _multi("Agents", checkboxes=False, coerce=int)
    sources = _multi("Sources")
    customers = _multi("Customers", checkboxes=False, coerce=int)
    actors = _multi("Made by")
    text = forms.CharField(label="Value", required=False, max_length=MAX_TEXT, help_text=TEXT_HELP)

    def __init__(self, *args, choices: Choices, customers: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        options = {
            "statuses": choices.statuses,
            "categories": StatusCategory.choices,
            "priorities": choices.priorities,
            "teams": choices.teams,
            "agents": choices.agents,
            "sources": Ticket.Source.choices,
            "customers": customers,
            "actors": schema.ACTOR_CHOICES,
        }
        for name, values in options.items():
            self.fields[name].choices = values  # type: ignore[attr-defined]  # a ChoiceField
        for name in {*VALUE_INPUT.values()}:
            fields = [f for f, input_name in VALUE_INPUT.items() if input_name == name]
            self.fields[name].widget.attrs["data-for"] = " ".join(fields)
        self.fields["field"].widget.attrs["class"] = "condition-key"
        self.fields["op"].widget.attrs["class"] = "condition-op"

    def value_fields(self) -> list[forms.BoundField]:
        return value_fields(self, "field", "op")

    def clean(self):
        data = super().clean() or {}
        field, op = data.get("field"), data.get("op")
        if not field or self.errors:
            return data
        ops = schema.CONDITION_OPS[field]
        if op not in ops:
            labels = ", ".join(f"“{Op(o).label}”" for o in ops)
            self.add_error("op", f"{F(field).label} takes {labels}.")
            return data
        try:
            data["condition"] = self._condition(field, op, data)
        except ValidationError as error:
            self.add_error(VALUE_INPUT.get(field), error)
        return data

    def _condition(self, field: str, op: str, data: dict) -> dict:
        if op in schema.NO_VALUE_OPS:
            return {"field": field, "op": op}
        name = VALUE_INPUT[field]
        if op in schema.PATTERN_OPS:
            value: object = data.get("text", "").strip()
            if not value:
                raise ValidationError("Write the pattern to look for.")
        elif name == "text":
            value = _text_values(field, data.get("text", ""))
        else:
            value = sorted(data.get(name) or [])
            if not value:
                raise ValidationError(f"Pick at least one of the {name}.")
            if field == F.PRIORITY and op in (Op.AT_LEAST, Op.AT_MOST) and len(value) != 1:
                raise ValidationError("Pick the one priority to compare with.")
        return {"field": field, "op": op, "value": value}

    @property
    def condition(self) -> dict | None:
        """The row as a condition, or None when it is left out (or not valid)."""
        return self.cleaned_data.get("condition") if self.is_valid() else None


def _text_values(field: str, text: str) -> list[str]:
    """Comma-separated values, stored as compared: addresses and domains in lower case (each
    is checked by automations.conditions, with the rest of the condition)."""
    values = _split(text)
    if not values:
        raise ValidationError("Write at least one value, separated by commas.")
    if field == F.REQUESTER_EMAIL:
        return [v.lower() for v in values]
    if field == F.REQUESTER_DOMAIN:
        return [v.lower().removeprefix("@") for v in values]
    return values


def condition_initial(condition: dict) -> dict:
    """A saved condition as the inputs of its row (the inverse of ConditionRowForm)."""
    field, value = condition.get("field", ""), condition.get("value")
    initial = {"field": field, "op": condition.get("op", "")}
    name = VALUE_INPUT.get(field)
    if name == "text":
        initial["text"] = ", ".join(value) if isinstance(value, list) else str(value or "")
    elif name is not None and isinstance(value, list):
        initial[name] = value
    return initial


ConditionRows = forms.formset_factory(
    ConditionRowForm,
    extra=1,
    max_num=schema.MAX_CONDITIONS,
    validate_max=True,
    absolute_max=schema.MAX_CONDITIONS,
)


# -- the rule and its trigger --------------------------------------------------------------------

T = Trigger
# trigger option input -> the triggers that take it
OPTION_TRIGGERS: dict[str, tuple[str, ...]] = {
    "sources": (T.TICKET_CREATED,),
    "author": (T.COMMENT_ADDED,),
    "visibility": (T.COMMENT_ADDED,),
    "to_statuses": (T.STATUS_CHANGED,),
    "to_priorities": (T.PRIORITY_CHANGED,),
    "change": (T.ASSIGNED,),
    "targets": (T.SLA_WARNING, T.SLA_BREACHED),
    "hours": TIME_TRIGGERS,
    "in_status": (T.HOURS_IN_STATUS,),
}
ANY_HELP = "None ticked: any."


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120, label="Name")
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    trigger = forms.ChoiceField(label="When", choices=Trigger.choices)
    sources = forms.MultipleChoiceField(
        label="Created from",
        required=False,
        choices=Ticket.Source.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=ANY_HELP,
    )
    author = forms.ChoiceField(
        label="Written by",
        choices=[("any", "anyone"), ("customer", "a customer"), ("agent", "an agent")],
        initial="any",
        required=False,
    )
    visibility = forms.ChoiceField(
        label="Which comments",
        choices=[("any", "public or internal"), ("public", "public"), ("internal", "internal")],
        initial="any",
        required=False,
    )
    to_statuses = _multi("Changed to", coerce=int)
    to_priorities = _multi("Changed to", coerce=int)
    change = forms.ChoiceField(
        label="Which change",
        choices=[
            ("any", "assigned or unassigned"),
            ("assigned", "assigned to someone"),
            ("unassigned", "unassigned"),
        ],
        initial="any",
        required=False,
    )
    targets = _multi("Targets")
    hours = forms.IntegerField(
        label="Hours", required=False, min_value=1, max_value=MAX_HOURS, help_text="At least 1."
    )
    in_status = forms.TypedChoiceField(
        label="In the status", required=False, coerce=int, empty_value=None
    )
    stop_processing = forms.BooleanField(
        required=False, label="When this rule runs, later rules do not run for the event"
    )

    def __init__(self, *args, rule: Rule | None, choices: Choices, **kwargs):
        if rule is not None and "initial" not in kwargs:
            kwargs["initial"] = _rule_initial(rule)
        super().__init__(*args, **kwargs)
        self.rule = rule
        fields = self.fields
        fields["to_statuses"].choices = choices.statuses  # type: ignore[attr-defined]  # a ChoiceField
        fields["to_priorities"].choices = choices.priorities  # type: ignore[attr-defined]  # a ChoiceField
        fields["in_status"].choices = [("", "Choose a status"), *choices.statuses]  # type: ignore[attr-defined]  # a ChoiceField
        fields["targets"].choices = Target.choices  # type: ignore[attr-defined]  # a ChoiceField
        for name in ("to_statuses", "to_priorities", "targets"):
            fields[name].help_text = ANY_HELP
        for name, triggers in OPTION_TRIGGERS.items():
            fields[name].widget.attrs["data-for"] = " ".join(triggers)
        fields["trigger"].widget.attrs["class"] = "trigger-key"

    def option_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in OPTION_TRIGGERS]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        taken = Rule.objects.filter(name__iexact=name)
        if self.rule is not None:
            taken = taken.exclude(pk=self.rule.pk)
        if taken.exists():
            raise ValidationError(f"There is already a rule named “{name}”.")
        return name

    def clean(self):
        data = super().clean() or {}
        trigger = data.get("trigger")
        if trigger in TIME_TRIGGERS and not data.get("hours") and "hours" not in self.errors:
            self.add_error("hours", "Give the number of hours (1 or more).")
        if trigger == T.HOURS_IN_STATUS and not data.get("in_status"):
            self.add_error("in_status", "Choose the status.")
        return data

    def trigger_options(self) -> dict:
        """The options of the chosen trigger, in the shape of automations.schema."""
        data, trigger = self.cleaned_data, self.cleaned_data["trigger"]
        if trigger == T.TICKET_CREATED:
            return {"sources": sorted(data["sources"])}
        if trigger == T.COMMENT_ADDED:
            return {"author": data["author"] or "any", "visibility": data["visibility"] or "any"}
        if trigger == T.STATUS_CHANGED:
            return {"to_status_ids": sorted(data["to_statuses"])}
        if trigger == T.PRIORITY_CHANGED:
            return {"to_priority_ids": sorted(data["to_priorities"])}
        if trigger == T.ASSIGNED:
            return {"change": data["change"] or "any"}
        if trigger in (T.SLA_WARNING, T.SLA_BREACHED):
            return {"targets": sorted(data["targets"])}
        if trigger == T.HOURS_IN_STATUS:
            return {"hours": data["hours"], "status_id": data["in_status"]}
        return {"hours": data["hours"]}


def _rule_initial(rule: Rule) -> dict:
    options = rule.trigger_options if isinstance(rule.trigger_options, dict) else {}
    return {
        "name": rule.name,
        "enabled": rule.enabled,
        "trigger": rule.trigger,
        "stop_processing": rule.stop_processing,
        "sources": options.get("sources", []),
        "author": options.get("author", "any"),
        "visibility": options.get("visibility", "any"),
        "to_statuses": options.get("to_status_ids", []),
        "to_priorities": options.get("to_priority_ids", []),
        "change": options.get("change", "any"),
        "targets": options.get("targets", []),
        "hours": options.get("hours"),
        "in_status": options.get("status_id"),
    }


# -- the whole editor ----------------------------------------------------------------------------


class RuleEditor:
    """The rule form, its condition groups and its action rows, validated together; `values()`
    is what automations.settings_services.rule_save takes."""

    def __init__(self, data: QueryDict | None = None, *, organization, rule: Rule | None):
        self.organization, self.rule, self.data = organization, rule, data
        choices = Choices.load()
        customers = list(Customer.objects.order_by("name", "id").values_list("id", "name"))
        self.form = RuleForm(data, rule=rule, choices=choices)
        conditions = (rule.conditions if rule else None) or {}
        # Every row is read, the blank ones too: a row is left out by its empty key, never
        # because it equals what was saved (a formset skips "unchanged" extra rows).
        row_kwargs = {"choices": choices, "customers": customers, "empty_permitted": False}
        self.groups = [
            (
                label,
                ConditionRows(
                    data,
                    prefix=prefix,
                    initial=[condition_initial(c) for c in _group(conditions, prefix)],
                    form_kwargs=row_kwargs,
                ),
            )
            for prefix, label in GROUPS
        ]
        saved_actions = rule.actions if rule and isinstance(rule.actions, list) else []
        self.action_rows = ActionRows(
            data,
            prefix="actions",
            initial=[row_initial(a) for a in saved_actions if isinstance(a, dict)],
            form_kwargs={"choices": choices, "empty_permitted": False},
        )
        self.errors: list[str] = []

    def with_row_added(self, prefix: str) -> "RuleEditor":
        """The same rows and one blank more in one group (the "Add" buttons without JavaScript)."""
        data = self.data.copy() if self.data is not None else QueryDict(mutable=True)
        key = f"{prefix}-TOTAL_FORMS"
        count = str(data.get(key, ""))
        total = int(count) if count.isdigit() else 0
        limit = schema.MAX_ACTIONS if prefix == "actions" else schema.MAX_CONDITIONS
        data[key] = str(min(total + 1, limit))
        return RuleEditor(data, organization=self.organization, rule=self.rule)

    def conditions_valid(self, *, trigger: str | None = None) -> bool:
        """The condition rows alone (what the preview needs), checked for this tenant; with
        `trigger`, also against what its events carry."""
        checked = [rows.is_valid() for _label, rows in self.groups]  # each group, for its messages
        valid = all(checked)
        for _label, rows in self.groups:
            self.errors += [str(e) for e in rows.non_form_errors()]
        if not valid:
            return False
        placed = {rows.prefix: [row for row in rows if row.condition] for _l, rows in self.groups}
        found = condition_problems(self.conditions, organization=self.organization, trigger=trigger)
        for problem in found:
            group_rows = placed.get(problem.group, [])
            if 1 <= problem.position <= len(group_rows):
                group_rows[problem.position - 1].add_error(None, capitalized(problem.message))
            else:
                self.errors.append(capitalized(str(problem)))
        return not found

    def is_valid(self) -> bool:
        form_valid = self.form.is_valid()
        trigger = self.form.cleaned_data["trigger"] if form_valid else None
        conditions_valid = self.conditions_valid(trigger=trigger)
        actions_valid = self.action_rows.is_valid()
        self.errors += [str(e) for e in self.action_rows.non_form_errors()]
        if form_valid:
            trigger, options = self.form.cleaned_data["trigger"], self.form.trigger_options()
            for message in validate_trigger(trigger, options, organization=self.organization):
                self.form.add_error("trigger", message)
        if actions_valid:
            self._check_actions()
        if not self.errors and actions_valid and not self.actions:
            self.errors.append("Give the rule at least one action.")
        return (
            form_valid
            and conditions_valid
            and actions_valid
            and not self.form.errors
            and not self.errors
            and not any(row.errors for row in self.action_rows)
        )

    def _check_actions(self) -> None:
        rows = [row for row in self.action_rows if row.action]
        found = validate_actions([row.action for row in rows], organization=self.organization)
        self.errors += place_messages(rows, found)

    @property
    def conditions(self) -> dict:
        return {
            rows.prefix: [row.condition for row in rows if row.condition]
            for _label, rows in self.groups
        }

    @property
    def actions(self) -> list[dict]:
        return [row.action for row in self.action_rows if row.action]

    def values(self) -> dict:
        data = self.form.cleaned_data
        return {
            "name": data["name"],
            "enabled": data["enabled"],
            "trigger": data["trigger"],
            "trigger_options": self.form.trigger_options(),
            "conditions": self.conditions,
            "actions": self.actions,
            "stop_processing": data["stop_processing"],
        }


def _group(conditions, prefix: str) -> list[dict]:
    group = conditions.get(prefix) if isinstance(conditions, dict) else None
    return [c for c in group if isinstance(c, dict)] if isinstance(group, list) else []


def saved_problems(rule: Rule, *, organization) -> list[str]:
    """What the checks say about a saved rule now (a status it names was deleted since, ...),
    shown above its editor."""
    options = rule.trigger_options if isinstance(rule.trigger_options, dict) else {}
    actions = rule.actions if isinstance(rule.actions, list) else []
    conditions = rule.conditions if isinstance(rule.conditions, dict) else {}
    return [
        *validate_trigger(rule.trigger, options, organization=organization),
        *validate_conditions(conditions, organization=organization, trigger=rule.trigger),
        *validate_actions(actions, organization=organization),
    ]


def condition_ops_json() -> str:
    """field -> its operators, and the operators that take no value, for the page's script."""
    ops = {str(field): [str(op) for op in found] for field, found in schema.CONDITION_OPS.items()}
    return json.dumps({"ops": ops, "no_value": [str(op) for op in schema.NO_VALUE_OPS]})


class RunFilterForm(forms.Form):
    """The run log's filters, in the URL; an unknown rule or page is ignored, not an error."""

    rule = forms.TypedChoiceField(label="Rule", required=False, coerce=int, empty_value=None)
    failed = forms.BooleanField(label="Failures only", required=False)

    def __init__(self, *args, rules: list[Rule], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].choices = [("", "Every rule"), *((r.pk, r.name) for r in rules)]  # type: ignore[attr-defined]  # a ChoiceField

    def values(self) -> tuple[int | None, bool]:
        if not self.is_valid():
            return None, self.data.get("failed") == "1"
        return self.cleaned_data["rule"], self.cleaned_data["failed"]
