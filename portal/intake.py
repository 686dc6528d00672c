"""An intake form's fields on a Django form, and what a valid form answered.

`add_intake_fields(form, intake_form)` (called in a form's `__init__` after super()) adds one
field per IntakeField, named `f_<key>`, in the form's order: its label, help text, required
flag and, for choice fields, its options (a field that maps to the priority or the team offers
the tenant's priorities or teams, by id). `intake_answer(form)`, after `is_valid()`, turns the
cleaned values into an IntakeAnswer: the values as agents see them (Submission.values), the
chosen options the list filters on (SubmittedChoice), the mapped priority and team, and the
files as Uploads for the ticket's first comment. The portal's new-ticket form and the public
contact form both use it."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django import forms

from portal.models import IntakeField, IntakeForm
from tenants.models import Team
from tickets.forms import MultipleFileField
from tickets.models import Priority
from tickets.services.attachments import Upload, safe_filename

PREFIX = "f_"
SHORT_TEXT_MAX = 500
LONG_TEXT_MAX = 10_000
MAX_FILES_PER_FIELD = 10
CHOOSE = "Choose…"
Kind = IntakeField.Kind
CHOICE_KINDS = (Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE)


@dataclass
class IntakeAnswer:
    # One {"key", "label", "kind", "value"} per field, in the form's order (Submission.values).
    values: list[dict] = field(default_factory=list)
    # Each chosen option of a choice field that is stored on the ticket (SubmittedChoice).
    choices: list[tuple[IntakeField, str]] = field(default_factory=list)
    priority: Priority | None = None
    team: Team | None = None
    uploads: list[Upload] = field(default_factory=list)


def field_name(intake_field: IntakeField) -> str:
    return f"{PREFIX}{intake_field.key}"


def add_intake_fields(form: forms.Form, intake_form: IntakeForm | None) -> None:
    """Add the intake form's fields to `form` (nothing for None); one query for the fields."""
    rows = list(intake_form.fields.all()) if intake_form is not None else []
    form.intake_form = intake_form  # type: ignore[attr-defined]  # read by intake_answer
    form.intake_fields = rows  # type: ignore[attr-defined]  # read by intake_answer
    for row in rows:
        form.fields[field_name(row)] = form_field(row)


def form_field(row: IntakeField) -> forms.Field:
    """The Django field for one IntakeField, with messages that say what to do."""
    made = _BUILDERS.get(row.kind, _short_text)(row) if row.maps_to == "" else _mapped(row)
    made.label = row.label
    made.help_text = row.help_text
    made.required = row.required
    # Django's own "This field is required." says nothing about what to do.
    made.error_messages["required"] = _REQUIRED[Kind.SINGLE_CHOICE if row.maps_to else row.kind]
    return made


_REQUIRED: dict[str, str] = {
    Kind.SHORT_TEXT: "Fill in this field.",
    Kind.LONG_TEXT: "Fill in this field.",
    Kind.NUMBER: "Enter a number.",
    Kind.DATE: "Enter a date.",
    Kind.SINGLE_CHOICE: "Pick one of the options.",
    Kind.MULTIPLE_CHOICE: "Pick at least one option.",
    Kind.CHECKBOX: "Tick this box to go on.",
    Kind.EMAIL: "Enter an email address.",
    Kind.FILE: "Choose a file.",
}


def _short_text(row: IntakeField) -> forms.Field:
    return forms.CharField(
        max_length=SHORT_TEXT_MAX,
        error_messages={"max_length": f"Keep it under {SHORT_TEXT_MAX} characters."},
    )


def _long_text(row: IntakeField) -> forms.Field:
    return forms.CharField(
        max_length=LONG_TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"max_length": f"Keep it under {LONG_TEXT_MAX:,} characters."},
    )


def _number(row: IntakeField) -> forms.Field:
    return forms.DecimalField(
        max_digits=20,
        decimal_places=6,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        error_messages={
            "invalid": "Enter a number, like 42 or 3.5.",
            "max_digits": "Enter a number with at most 20 digits.",
            "max_decimal_places": "Enter at most 6 digits after the decimal point.",
            "max_whole_digits": "Enter a number with at most 14 digits before the decimal point.",
        },
    )


def _date(row: IntakeField) -> forms.Field:
    return forms.DateField(
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date like 2025-03-31."},
    )


def _single_choice(row: IntakeField) -> forms.Field:
    options = [(c, c) for c in _options(row)]
    return forms.ChoiceField(
        choices=[("", CHOOSE), *options],
        error_messages={"invalid_choice": "Pick one of the options offered."},
    )


def _multiple_choice(row: IntakeField) -> forms.Field:
    return forms.MultipleChoiceField(
        choices=[(c, c) for c in _options(row)],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Pick only options offered here."},
    )


def _checkbox(row: IntakeField) -> forms.Field:
    return forms.BooleanField()


def _email(row: IntakeField) -> forms.Field:
    return forms.EmailField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"invalid": "Enter an email address like name@example.com."},
    )


def _file(row: IntakeField) -> forms.Field:
    return _FileField()


class _FileField(MultipleFileField):
    """The foundation's upload rules (tickets.forms.MultipleFileField: the size limit), and at
    most MAX_FILES_PER_FIELD files."""

    def clean(self, data, initial=None):
        files = super().clean(data, initial)
        if len(files) > MAX_FILES_PER_FIELD:
            raise forms.ValidationError(f"Choose at most {MAX_FILES_PER_FIELD} files.")
        if self.required and not files:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return files


_BUILDERS: dict[str, Callable[[IntakeField], forms.Field]] = {
    Kind.SHORT_TEXT: _short_text,
    Kind.LONG_TEXT: _long_text,
    Kind.NUMBER: _number,
    Kind.DATE: _date,
    Kind.SINGLE_CHOICE: _single_choice,
    Kind.MULTIPLE_CHOICE: _multiple_choice,
    Kind.CHECKBOX: _checkbox,
    Kind.EMAIL: _email,
    Kind.FILE: _file,
}


def _options(row: IntakeField) -> list[str]:
    return [str(c) for c in row.choices] if isinstance(row.choices, list) else []


def _mapped(row: IntakeField) -> forms.Field:
    """A field that sets the priority or the team: the tenant's, by id; a stale id is refused."""
    queryset = Priority.objects.all() if row.maps_to == IntakeField.MapsTo.PRIORITY else None
    noun = "priority" if queryset is not None else "team"
    return forms.ModelChoiceField(
        queryset=queryset if queryset is not None else Team.objects.all(),
        empty_label=CHOOSE,
        error_messages={
            "invalid_choice": f"That {noun} is not offered any more: pick one from the list."
        },
    )


# -- the answer ----------------------------------------------------------------------------------


def intake_answer(form: forms.Form) -> IntakeAnswer:
    """What the intake fields of a valid form hold (call after is_valid())."""
    answer = IntakeAnswer()
    for row in getattr(form, "intake_fields", []):
        value = form.cleaned_data.get(field_name(row))
        answer.values.append(
            {"key": row.key, "label": row.label, "kind": row.kind, "value": _shown(row, value)}
        )
        if row.maps_to == IntakeField.MapsTo.PRIORITY:
            answer.priority = value or None
        elif row.maps_to == IntakeField.MapsTo.TEAM:
            answer.team = value or None
        elif row.kind == Kind.SINGLE_CHOICE and value:
            answer.choices.append((row, value))
        elif row.kind == Kind.MULTIPLE_CHOICE:
            answer.choices.extend((row, chosen) for chosen in value or [])
        elif row.kind == Kind.FILE:
            answer.uploads.extend(_upload(f) for f in value or [])
    return answer


def _shown(row: IntakeField, value) -> str | list[str]:
    """The value as agents read it: dates ISO, a checkbox Yes/No, files their names."""
    if row.maps_to:
        return value.name if value is not None else ""
    if row.kind == Kind.MULTIPLE_CHOICE:
        return [str(v) for v in value or []]
    if row.kind == Kind.CHECKBOX:
        return "Yes" if value else "No"
    if row.kind == Kind.FILE:
        return ", ".join(safe_filename(f.name) for f in value or [])
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _decimal_text(value)
    return "" if value is None else str(value)


def _decimal_text(value: Decimal) -> str:
    """12.50 -> "12.5", 100 -> "100" (never "1E+2")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _upload(f) -> Upload:
    return Upload(filename=f.name, content=f.read(), content_type=f.content_type or "")
