"""The macro editor without JSON: a name, the reply (text with placeholders, public or internal)
and the action rows of automations.action_forms; and a macro for the list's selection."""

from typing import cast

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from automations import schema
from automations.action_forms import ActionRows, Choices, place_messages, row_initial
from automations.actions import validate_actions
from automations.models import Macro
from tenants.models import User
from tickets import placeholders, template_sandbox
from tickets.forms import SelectionForm

MAX_NAME = 120
MAX_TEXT = 20_000


class MacroForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME, label="Name")
    reply_text = forms.CharField(
        label="Reply",
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Optional. Markdown; placeholders like {{ requester_name }} are filled in "
        "with the ticket's values after the actions.",
    )
    reply_public = forms.TypedChoiceField(
        label="Send it as",
        choices=[("1", "a public reply (mailed to the requester)"), ("0", "an internal note")],
        coerce=lambda v: v == "1",
        initial="1",
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, owner: User | None, macro: Macro | None, **kwargs):
        self.owner, self.macro = owner, macro
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        taken = Macro.objects.filter(owner=self.owner, name__iexact=name)
        if self.macro is not None:
            taken = taken.exclude(pk=self.macro.pk)
        if taken.exists():
            mine = "You already have" if self.owner else "There is already"
            raise ValidationError(f"{mine} a macro named “{name}”.")
        return name

    def clean_reply_text(self):
        text = self.cleaned_data["reply_text"]
        try:
            placeholders.check_canned(text)
        except template_sandbox.TemplateError as error:
            raise ValidationError(str(error)) from None
        return text


class MacroEditor:
    """The macro form and its action rows, validated together; `values()` is what
    automations.services.macros.macro_save takes."""

    def __init__(self, data=None, *, organization, owner: User | None, macro: Macro | None):
        self.organization, self.owner, self.macro = organization, owner, macro
        initial = (
            {
                "name": macro.name,
                "reply_text": macro.reply_text,
                "reply_public": "1" if macro.reply_public else "0",
            }
            if macro
            else None
        )
        self.form = MacroForm(data, owner=owner, macro=macro, initial=initial)
        self.rows = ActionRows(
            data,
            prefix="actions",
            initial=[row_initial(a) for a in (macro.actions if macro else [])],
            form_kwargs={"choices": Choices.load()},
        )
        self.errors: list[str] = []

    def add_row(self):
        """The same rows and one blank more (the "Add an action" button, without JavaScript)."""
        data = cast(QueryDict, self.form.data).copy()
        key = "actions-TOTAL_FORMS"
        total = int(data.get(key) or 0) if str(data.get(key) or "0").isdigit() else 0
        data[key] = str(min(total + 1, schema.MAX_ACTIONS))
        return MacroEditor(data, organization=self.organization, owner=self.owner, macro=self.macro)

    def is_valid(self) -> bool:
        valid = self.form.is_valid() & self.rows.is_valid()
        self.errors += [str(e) for e in self.rows.non_form_errors()]
        if not valid:
            return False
        self.errors += self._check_actions()
        return not self.errors and not any(row.errors for row in self.rows)

    def _check_actions(self) -> list[str]:
        rows = [row for row in self.rows if row.action]
        messages = validate_actions(
            [row.action for row in rows],
            organization=self.organization,
            allowed=schema.MACRO_ACTION_TYPES,
        )
        return place_messages(rows, messages)

    @property
    def actions(self) -> list[dict]:
        return [row.action for row in self.rows if row.action]

    def values(self) -> dict:
        data = self.form.cleaned_data
        return {
            "name": data["name"],
            "reply_text": data["reply_text"],
            "reply_public": data["reply_public"],
            "actions": self.actions,
        }


class MacroBulkForm(SelectionForm):
    """A macro for the list's selection (the bulk bar's own selection fields)."""

    macro = forms.CharField(max_length=20, error_messages={"required": "Choose a macro to apply."})
