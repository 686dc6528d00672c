"""Forms of Settings -> Portal forms: an intake form's name, description, switch and defaults,
and one field of it (label, help, kind, required, choices one per line, what it maps to)."""

from django import forms

from portal.models import IntakeField, IntakeForm
from tenants.models import Team
from tickets.models import Priority

MAX_CHOICES = 50
MAX_CHOICE_LENGTH = 200
Kind = IntakeField.Kind
CHOICE_KINDS = (Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE)


class IntakeFormForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        help_text="Customers pick a form by its name, e.g. “Billing question”.",
        error_messages={"required": "Give the form a name."},
    )
    description = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown under the name in the list and at the top of the form.",
    )
    enabled = forms.BooleanField(required=False, initial=True, label="Offered in the portal")
    default_team = forms.ModelChoiceField(
        queryset=Team.objects.none(),
        required=False,
        empty_label="No team",
        help_text="Tickets from this form go to this team, unless a field sets the team.",
        error_messages={"invalid_choice": "Pick a team of this helpdesk."},
    )
    default_priority = forms.ModelChoiceField(
        queryset=Priority.objects.none(),
        required=False,
        empty_label="The helpdesk's default priority",
        help_text="Unless a field sets the priority.",
        error_messages={"invalid_choice": "Pick a priority of this helpdesk."},
    )

    def __init__(self, *args, instance: IntakeForm | None = None, **kwargs):
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "description": instance.description,
                "enabled": instance.enabled,
                "default_team": instance.default_team_id,
                "default_priority": instance.default_priority_id,
            }
        super().__init__(*args, **kwargs)
        self.fields["default_team"].queryset = Team.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField
        self.fields["default_priority"].queryset = Priority.objects.all()  # type: ignore[attr-defined]  # a ModelChoiceField

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the form a name.")
        clash = IntakeForm.objects.filter(name__iexact=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise forms.ValidationError("A form with this name exists already.")
        return name


class IntakeFieldForm(forms.Form):
    label = forms.CharField(
        max_length=200,
        help_text="The question customers answer.",
        error_messages={"required": "Give the field a label."},
    )
    help_text = forms.CharField(
        required=False, max_length=500, help_text="Shown under the field (optional)."
    )
    kind = forms.ChoiceField(
        choices=Kind.choices, error_messages={"invalid_choice": "Pick a kind."}
    )
    required = forms.BooleanField(required=False, label="Required")
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=(
            f"For single and multiple choice: one option per line, at most {MAX_CHOICES}, "
            f"each up to {MAX_CHOICE_LENGTH} characters."
        ),
    )
    maps_to = forms.ChoiceField(
        required=False,
        label="The answer",
        choices=IntakeField.MapsTo.choices,
        help_text="A single-choice field may set the ticket's priority or team: it then offers "
        "the helpdesk's priorities or teams and needs no options of its own.",
        error_messages={"invalid_choice": "Pick what the answer does."},
    )

    def __init__(self, *args, intake_form: IntakeForm, instance: IntakeField | None = None, **kw):
        self.intake_form, self.instance = intake_form, instance
        if instance is not None and "initial" not in kw:
            kw["initial"] = {
                "label": instance.label,
                "help_text": instance.help_text,
                "kind": instance.kind,
                "required": instance.required,
                "choices": "\n".join(str(c) for c in instance.choices or []),
                "maps_to": instance.maps_to,
            }
        super().__init__(*args, **kw)

    def clean_label(self) -> str:
        label = self.cleaned_data["label"].strip()
        if not label:
            raise forms.ValidationError("Give the field a label.")
        return label

    def clean_choices(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["choices"].splitlines()]
        options = [line for line in lines if line]
        problems = []
        if len(options) > MAX_CHOICES:
            problems.append(f"At most {MAX_CHOICES} options ({len(options)} given).")
        too_long = [o for o in options if len(o) > MAX_CHOICE_LENGTH]
        if too_long:
            problems.append(
                f"Keep each option under {MAX_CHOICE_LENGTH} characters: "
                f"“{too_long[0][:40]}…” is {len(too_long[0])}."
            )
        twice = _first_repeated(options)
        if twice is not None:
            problems.append(f"Each option once: “{twice}” is there twice.")
        if problems:
            raise forms.ValidationError(problems)
        return options

    def clean(self):
        data = super().clean() or {}
        kind, maps_to, options = data.get("kind"), data.get("maps_to"), data.get("choices")
        if kind is None or maps_to is None or options is None:
            return data  # each has its own message already
        if maps_to and kind != Kind.SINGLE_CHOICE:
            self.add_error("maps_to", "Only a single-choice field can set the priority or team.")
        elif maps_to and options:
            self.add_error(
                "choices",
                f"A field that sets the {maps_to} offers the helpdesk's {maps_to} list: "
                "leave the options empty.",
            )
        elif kind in CHOICE_KINDS and not maps_to and not options:
            self.add_error("choices", "Enter the options, one per line.")
        elif kind not in CHOICE_KINDS and options:
            self.add_error("choices", "Only single and multiple choice fields have options.")
        if maps_to and self._mapped_elsewhere(maps_to):
            self.add_error("maps_to", f"Another field of this form sets the {maps_to} already.")
        return data

    def _mapped_elsewhere(self, maps_to: str) -> bool:
        others = IntakeField.objects.filter(form=self.intake_form, maps_to=maps_to)
        if self.instance is not None:
            others = others.exclude(pk=self.instance.pk)
        return others.exists()


def _first_repeated(options: list[str]) -> str | None:
    """The first option that repeats an earlier one (case aside)."""
    seen: set[str] = set()
    for option in options:
        if option.casefold() in seen:
            return option
        seen.add(option.casefold())
    return None
