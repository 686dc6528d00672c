"""portal.intake: every field kind's validation (valid, invalid, required, empty optional),
fields that map to the priority or the team, and what the answer holds."""

from datetime import date

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.datastructures import MultiValueDict

from portal.intake import add_intake_fields, intake_answer
from portal.models import IntakeField, IntakeForm
from tenants.services import team_create
from tickets.models import Priority

Kind = IntakeField.Kind


class _Form(forms.Form):
    def __init__(self, *args, intake_form=None, **kwargs):
        super().__init__(*args, **kwargs)
        add_intake_fields(self, intake_form)


def _intake(org, *specs) -> IntakeForm:
    intake_form = IntakeForm.objects.create(organization=org, name="Bug report")
    for position, spec in enumerate(specs):
        IntakeField.objects.create(
            organization=org, form=intake_form, **{"position": position, **spec}
        )
    return intake_form


def _one(org, **spec) -> IntakeForm:
    return _intake(org, {"key": "x", "label": "The question", **spec})


def _errors(intake_form, data, files=None) -> dict:
    form = _Form(data, MultiValueDict(files or {}), intake_form=intake_form)
    form.is_valid()
    return form.errors


def _value(intake_form, data, files=None):
    form = _Form(data, MultiValueDict(files or {}), intake_form=intake_form)
    assert form.is_valid(), form.errors
    return intake_answer(form).values[0]["value"]


@pytest.mark.parametrize(
    ("spec", "good", "shown", "bad", "message"),
    [
        ({"kind": Kind.SHORT_TEXT}, " Hello ", "Hello", "x" * 501, "Keep it under 500 characters."),
        (
            {"kind": Kind.LONG_TEXT},
            "line one\nline two",
            "line one\nline two",
            "x" * 10_001,
            "Keep it under 10,000 characters.",
        ),
        ({"kind": Kind.NUMBER}, "12.50", "12.5", "twelve", "Enter a number, like 42 or 3.5."),
        ({"kind": Kind.NUMBER}, "100", "100", "NaN", "Enter a number, like 42 or 3.5."),
        (
            {"kind": Kind.DATE},
            "2025-03-31",
            "2025-03-31",
            "2025-02-30",
            "Enter a date like 2025-03-31.",
        ),
        (
            {"kind": Kind.SINGLE_CHOICE, "choices": ["Web", "App"]},
            "App",
            "App",
            "Fax",
            "Pick one of the options offered.",
        ),
        (
            {"kind": Kind.EMAIL},
            "pat@example.com",
            "pat@example.com",
            "pat@",
            "Enter an email address like name@example.com.",
        ),
    ],
)
def test_a_kind_takes_good_input_and_refuses_bad(in_acme, spec, good, shown, bad, message):
    intake_form = _one(in_acme.org, **spec)
    assert _value(intake_form, {"f_x": good}) == shown
    assert _errors(intake_form, {"f_x": bad}) == {"f_x": [message]}


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        (Kind.SHORT_TEXT, {}, "Fill in this field."),
        (Kind.LONG_TEXT, {}, "Fill in this field."),
        (Kind.NUMBER, {}, "Enter a number."),
        (Kind.DATE, {}, "Enter a date."),
        (Kind.SINGLE_CHOICE, {"choices": ["A", "B"]}, "Pick one of the options."),
        (Kind.MULTIPLE_CHOICE, {"choices": ["A", "B"]}, "Pick at least one option."),
        (Kind.CHECKBOX, {}, "Tick this box to go on."),
        (Kind.EMAIL, {}, "Enter an email address."),
        (Kind.FILE, {}, "Choose a file."),
    ],
)
def test_a_required_field_left_empty_says_what_to_do(in_acme, kind, extra, message):
    intake_form = _one(in_acme.org, kind=kind, required=True, **extra)
    assert _errors(intake_form, {}) == {"f_x": [message]}


@pytest.mark.parametrize(
    ("kind", "extra", "shown"),
    [
        (Kind.SHORT_TEXT, {}, ""),
        (Kind.LONG_TEXT, {}, ""),
        (Kind.NUMBER, {}, ""),
        (Kind.DATE, {}, ""),
        (Kind.SINGLE_CHOICE, {"choices": ["A"]}, ""),
        (Kind.MULTIPLE_CHOICE, {"choices": ["A"]}, []),
        (Kind.CHECKBOX, {}, "No"),
        (Kind.EMAIL, {}, ""),
        (Kind.FILE, {}, ""),
    ],
)
def test_an_optional_field_may_stay_empty(in_acme, kind, extra, shown):
    intake_form = _one(in_acme.org, kind=kind, **extra)
    assert _value(intake_form, {}) == shown


def test_multiple_choice_takes_a_subset_of_its_options(in_acme):
    intake_form = _one(in_acme.org, kind=Kind.MULTIPLE_CHOICE, choices=["Web", "App", "API"])
    form = _Form({"f_x": ["Web", "API"]}, intake_form=intake_form)
    assert form.is_valid()
    answer = intake_answer(form)
    field = IntakeField.objects.get()
    assert (answer.values[0]["value"], answer.choices) == (
        ["Web", "API"],
        [(field, "Web"), (field, "API")],
    )
    assert _errors(intake_form, {"f_x": ["Web", "Fax"]}) == {
        "f_x": ["Pick only options offered here."]
    }
    assert 'type="checkbox"' in str(form["f_x"])


def test_a_required_checkbox_must_be_ticked_and_shows_yes(in_acme):
    intake_form = _one(in_acme.org, kind=Kind.CHECKBOX, required=True, label="I agree")
    assert _value(intake_form, {"f_x": "on"}) == "Yes"
    assert _errors(intake_form, {"f_x": ""}) == {"f_x": ["Tick this box to go on."]}


def test_a_date_is_a_date_input_and_kept_as_iso(in_acme):
    intake_form = _one(in_acme.org, kind=Kind.DATE)
    form = _Form({"f_x": "2024-02-29"}, intake_form=intake_form)
    assert 'type="date"' in str(form["f_x"])
    assert form.is_valid()
    assert form.cleaned_data["f_x"] == date(2024, 2, 29)
    assert intake_answer(form).values == [
        {"key": "x", "label": "The question", "kind": "date", "value": "2024-02-29"}
    ]
    assert _errors(intake_form, {"f_x": "31/03/2025"}) == {"f_x": ["Enter a date like 2025-03-31."]}


def test_a_file_field_becomes_uploads_named_in_the_values(in_acme, settings):
    intake_form = _one(in_acme.org, kind=Kind.FILE)
    files = {"f_x": [SimpleUploadedFile("shot.png", b"png", "image/png")]}
    form = _Form({}, MultiValueDict(files), intake_form=intake_form)
    assert form.is_valid(), form.errors
    answer = intake_answer(form)
    assert answer.values[0]["value"] == "shot.png"
    assert [(u.filename, u.content, u.content_type) for u in answer.uploads] == [
        ("shot.png", b"png", "image/png")
    ]
    settings.MAX_UPLOAD_SIZE = 2
    big = {"f_x": [SimpleUploadedFile("big.bin", b"xxx")]}
    assert _errors(intake_form, {}, big) == {"f_x": ["big.bin is larger than 0 MB."]}


def test_labels_help_and_order_follow_the_fields(in_acme):
    intake_form = _intake(
        in_acme.org,
        {"key": "second", "label": "Second", "position": 2},
        {"key": "first", "label": "First", "help_text": "Say it", "position": 1},
    )
    form = _Form(intake_form=intake_form)
    assert list(form.fields) == ["f_first", "f_second"]
    assert (form["f_first"].label, form["f_first"].help_text) == ("First", "Say it")
    assert 'aria-describedby="id_f_first_helptext"' in str(form["f_first"])


def test_a_field_mapped_to_the_priority_offers_the_tenants_priorities(in_acme, globex):
    with globex.scope():
        theirs = Priority.objects.first()
    urgent = Priority.objects.create(organization=in_acme.org, name="Right now", rank=99)
    intake_form = _one(in_acme.org, kind=Kind.SINGLE_CHOICE, maps_to="priority")
    form = _Form({"f_x": str(urgent.pk)}, intake_form=intake_form)
    assert form.is_valid()
    answer = intake_answer(form)
    assert (answer.priority, answer.team, answer.choices) == (urgent, None, [])
    assert answer.values[0]["value"] == "Right now"
    assert f'value="{urgent.pk}"' in str(form["f_x"])
    assert f'value="{theirs.pk}"' not in str(form["f_x"])
    stale = {"f_x": ["That priority is not offered any more: pick one from the list."]}
    assert _errors(intake_form, {"f_x": str(theirs.pk)}) == stale
    assert _errors(intake_form, {"f_x": "junk"}) == stale


def test_a_field_mapped_to_the_team_offers_the_tenants_teams(in_acme, globex):
    billing = team_create(organization=in_acme.org, name="Billing", members=[])
    intake_form = _one(in_acme.org, kind=Kind.SINGLE_CHOICE, maps_to="team", required=True)
    form = _Form({"f_x": str(billing.pk)}, intake_form=intake_form)
    assert form.is_valid()
    assert intake_answer(form).team == billing
    assert _errors(intake_form, {"f_x": str(globex.team.pk)}) == {
        "f_x": ["That team is not offered any more: pick one from the list."]
    }
    assert _errors(intake_form, {}) == {"f_x": ["Pick one of the options."]}


def test_no_intake_form_adds_nothing(in_acme):
    form = _Form({}, intake_form=None)
    assert form.is_valid()
    assert list(form.fields) == []
    answer = intake_answer(form)
    assert (answer.values, answer.choices, answer.uploads, answer.priority) == ([], [], [], None)
