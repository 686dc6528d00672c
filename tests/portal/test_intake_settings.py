"""Settings -> Portal forms: list, add, edit, reorder and delete forms and their fields, with
clear messages for bad input; agents get a 404, anonymous visitors the sign-in page, and
another tenant's form or field is a 404."""

import re
from html import unescape

import pytest

from portal.models import IntakeField, IntakeForm, Submission
from portal.services.intake import intake_field_save
from tests.factories import make_ticket
from tickets.models import Priority

Kind = IntakeField.Kind


@pytest.fixture
def admin(acme):
    return acme.client(acme.admin)


def _form(tenant, name="Bug report", **extra) -> IntakeForm:
    with tenant.scope():
        return IntakeForm.objects.create(organization=tenant.org, name=name, **extra)


def _field(tenant, intake_form, label="Area", **extra) -> IntakeField:
    spec = {
        "help_text": "",
        "kind": Kind.SHORT_TEXT,
        "required": False,
        "choices": [],
        "maps_to": "",
        **extra,
    }
    with tenant.scope():
        return intake_field_save(intake_form=intake_form, intake_field=None, label=label, **spec)


def _field_errors(response) -> list[str]:
    page = response.content.decode()
    found = re.findall(r'<div class="field-error" role="alert">([^<]+)</div>', page)
    return [unescape(text) for text in found]


def test_the_list_shows_each_form_with_its_field_count(acme, admin):
    billing = _form(acme, "Billing question", enabled=False)
    bugs = _form(acme, "Bug report", position=1)
    _field(acme, bugs, "One")
    _field(acme, bugs, "Two")
    html = admin.get("/settings/portal/forms/").content.decode()
    rows = re.findall(r'<tr id="intake-form-(\d+)".*?</tr>', html, re.S)
    assert rows == [str(billing.pk), str(bugs.pk)]
    bug_row = re.search(rf'<tr id="intake-form-{bugs.pk}".*?</tr>', html, re.S).group(0)
    assert "<td>2</td>" in bug_row
    assert ">On<" in bug_row
    assert ">Off<" in re.search(rf'<tr id="intake-form-{billing.pk}".*?</tr>', html, re.S).group(0)


def test_adding_a_form_with_defaults(acme, admin):
    with acme.scope():
        high = Priority.objects.order_by("-rank").first()
    response = admin.post(
        "/settings/portal/forms/new/",
        {
            "name": "  Billing question ",
            "description": "Invoices and refunds",
            "enabled": "on",
            "default_team": acme.team.pk,
            "default_priority": high.pk,
        },
    )
    with acme.scope():
        saved = IntakeForm.objects.get()
        assert (saved.name, saved.description, saved.enabled) == (
            "Billing question",
            "Invoices and refunds",
            True,
        )
        assert (saved.default_team, saved.default_priority) == (acme.team, high)
    assert response["Location"] == f"/settings/portal/forms/{saved.pk}/"


def test_a_form_with_bad_input_gets_messages_beside_the_fields(acme, globex, admin):
    _form(acme, "Billing")
    response = admin.post(
        "/settings/portal/forms/new/",
        {"name": "billing", "default_team": globex.team.pk, "default_priority": "x"},
    )
    assert response.status_code == 400
    assert _field_errors(response) == [
        "A form with this name exists already.",
        "Pick a team of this helpdesk.",
        "Pick a priority of this helpdesk.",
    ]
    blank = admin.post("/settings/portal/forms/new/", {"name": "   "})
    assert _field_errors(blank) == ["Give the form a name."]
    with acme.scope():
        assert IntakeForm.objects.count() == 1


def test_editing_a_form_keeps_its_fields(acme, admin):
    intake_form = _form(acme, "Bugs", default_team=acme.team)
    _field(acme, intake_form, "Area")
    page = admin.get(f"/settings/portal/forms/{intake_form.pk}/").content.decode()
    assert 'value="Bugs"' in page
    assert 'id="intake-field-' in page
    admin.post(f"/settings/portal/forms/{intake_form.pk}/", {"name": "Bug report"})
    with acme.scope():
        intake_form.refresh_from_db()
        assert (intake_form.name, intake_form.enabled, intake_form.default_team) == (
            "Bug report",
            False,
            None,
        )
        assert intake_form.fields.count() == 1


def test_forms_move_up_and_down(acme, admin):
    a, _b, c = (_form(acme, name, position=i) for i, name in enumerate("ABC"))
    admin.post(f"/settings/portal/forms/{c.pk}/move/", {"direction": "up"})
    with acme.scope():
        assert list(IntakeForm.objects.values_list("name", flat=True)) == ["A", "C", "B"]
    admin.post(f"/settings/portal/forms/{a.pk}/move/", {"direction": "down"})
    admin.post(f"/settings/portal/forms/{a.pk}/move/", {"direction": "down"})
    admin.post(f"/settings/portal/forms/{a.pk}/move/", {"direction": "down"})  # last stays last
    with acme.scope():
        assert list(IntakeForm.objects.values_list("name", flat=True)) == ["C", "B", "A"]


def test_deleting_a_form_asks_first_and_keeps_its_tickets_values(acme, admin):
    intake_form = _form(acme)
    with acme.scope():
        ticket = make_ticket(acme.org)
        Submission.objects.create(
            organization=acme.org, ticket=ticket, form=intake_form, form_name="Bug report"
        )
    asking = admin.post(f"/settings/portal/forms/{intake_form.pk}/delete/")
    assert asking.status_code == 200
    assert "Delete the form “Bug report”?" in asking.content.decode()
    with acme.scope():
        assert IntakeForm.objects.exists()
    done = admin.post(f"/settings/portal/forms/{intake_form.pk}/delete/", {"confirm": "1"})
    assert done["Location"] == "/settings/portal/forms/"
    with acme.scope():
        assert not IntakeForm.objects.exists()
        assert Submission.objects.get().form_name == "Bug report"


def test_adding_fields_makes_unique_keys_from_labels(acme, admin):
    intake_form = _form(acme)
    url = f"/settings/portal/forms/{intake_form.pk}/fields/new/"
    for _ in range(2):
        response = admin.post(
            url,
            {
                "label": "Which area?",
                "help_text": "Pick one",
                "kind": Kind.SINGLE_CHOICE,
                "required": "on",
                "choices": "Web\n\n  App  \n",
            },
        )
        assert response["Location"] == f"/settings/portal/forms/{intake_form.pk}/"
    with acme.scope():
        rows = list(
            intake_form.fields.values_list("key", "label", "choices", "required", "position")
        )
    assert rows == [
        ("which_area", "Which area?", ["Web", "App"], True, 0),
        ("which_area_2", "Which area?", ["Web", "App"], True, 1),
    ]


def test_editing_a_field_keeps_its_key(acme, admin):
    intake_form = _form(acme)
    field = _field(acme, intake_form, "Area")
    page = admin.get(f"/settings/portal/forms/{intake_form.pk}/fields/{field.pk}/")
    assert 'value="Area"' in page.content.decode()
    admin.post(
        f"/settings/portal/forms/{intake_form.pk}/fields/{field.pk}/",
        {"label": "Product area", "kind": Kind.LONG_TEXT},
    )
    with acme.scope():
        field.refresh_from_db()
        assert (field.key, field.label, field.kind) == ("area", "Product area", Kind.LONG_TEXT)


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"label": "", "kind": Kind.SHORT_TEXT}, ["Give the field a label."]),
        ({"label": "A", "kind": "nonsense"}, ["Pick a kind."]),
        ({"label": "A", "kind": Kind.SINGLE_CHOICE}, ["Enter the options, one per line."]),
        (
            {"label": "A", "kind": Kind.MULTIPLE_CHOICE, "choices": " \n "},
            ["Enter the options, one per line."],
        ),
        (
            {
                "label": "A",
                "kind": Kind.SINGLE_CHOICE,
                "choices": "\n".join(f"o{i}" for i in range(51)),
            },
            ["At most 50 options (51 given)."],
        ),
        (
            {"label": "A", "kind": Kind.SINGLE_CHOICE, "choices": "ok\n" + "x" * 201},
            [f"Keep each option under 200 characters: “{'x' * 40}…” is 201."],
        ),
        (
            {"label": "A", "kind": Kind.SINGLE_CHOICE, "choices": "Web\nApp\nweb"},
            ["Each option once: “web” is there twice."],
        ),
        (
            {"label": "A", "kind": Kind.SHORT_TEXT, "choices": "Web"},
            ["Only single and multiple choice fields have options."],
        ),
        (
            {"label": "A", "kind": Kind.MULTIPLE_CHOICE, "choices": "Web", "maps_to": "team"},
            ["Only a single-choice field can set the priority or team."],
        ),
        (
            {"label": "A", "kind": Kind.SINGLE_CHOICE, "choices": "Web", "maps_to": "priority"},
            [
                "A field that sets the priority offers the helpdesk's priority list: "
                "leave the options empty."
            ],
        ),
        (
            {"label": "A", "kind": Kind.SINGLE_CHOICE, "maps_to": "owner"},
            ["Pick what the answer does."],
        ),
    ],
)
def test_a_bad_field_gets_a_clear_message(acme, admin, data, errors):
    intake_form = _form(acme)
    response = admin.post(f"/settings/portal/forms/{intake_form.pk}/fields/new/", data)
    assert (response.status_code, _field_errors(response)) == (400, errors)
    with acme.scope():
        assert not intake_form.fields.exists()


def test_only_one_field_sets_the_priority(acme, admin):
    intake_form = _form(acme)
    _field(acme, intake_form, "Urgency", kind=Kind.SINGLE_CHOICE, maps_to="priority")
    data = {"label": "Again", "kind": Kind.SINGLE_CHOICE, "maps_to": "priority"}
    response = admin.post(f"/settings/portal/forms/{intake_form.pk}/fields/new/", data)
    assert _field_errors(response) == ["Another field of this form sets the priority already."]
    team = {"label": "Team", "kind": Kind.SINGLE_CHOICE, "maps_to": "team"}
    admin.post(f"/settings/portal/forms/{intake_form.pk}/fields/new/", team)
    with acme.scope():
        assert list(intake_form.fields.values_list("maps_to", flat=True)) == ["priority", "team"]


def test_fields_move_and_delete(acme, admin):
    intake_form = _form(acme)
    one, two = _field(acme, intake_form, "One"), _field(acme, intake_form, "Two")
    admin.post(
        f"/settings/portal/forms/{intake_form.pk}/fields/{two.pk}/move/", {"direction": "up"}
    )
    with acme.scope():
        assert list(intake_form.fields.values_list("label", flat=True)) == ["Two", "One"]
    asking = admin.post(f"/settings/portal/forms/{intake_form.pk}/fields/{one.pk}/delete/")
    assert "Delete the field “One” of “Bug report”?" in asking.content.decode()
    admin.post(f"/settings/portal/forms/{intake_form.pk}/fields/{one.pk}/delete/", {"confirm": "1"})
    with acme.scope():
        assert list(intake_form.fields.values_list("label", flat=True)) == ["Two"]


def test_another_tenants_form_and_field_are_404(acme, globex, admin):
    theirs = _form(globex)
    their_field = _field(globex, theirs)
    mine = _form(acme, "Mine")
    base = f"/settings/portal/forms/{theirs.pk}"
    assert admin.get(f"{base}/").status_code == 404
    assert admin.post(f"{base}/", {"name": "Taken over"}).status_code == 404
    assert admin.post(f"{base}/move/", {"direction": "up"}).status_code == 404
    assert admin.post(f"{base}/delete/", {"confirm": "1"}).status_code == 404
    assert admin.get(f"{base}/fields/new/").status_code == 404
    # Their field under my form's address is no field of mine either.
    mine_base = f"/settings/portal/forms/{mine.pk}/fields/{their_field.pk}"
    assert admin.get(f"{mine_base}/").status_code == 404
    assert admin.post(f"{mine_base}/delete/", {"confirm": "1"}).status_code == 404
    assert admin.post(f"{mine_base}/move/", {"direction": "up"}).status_code == 404
    with globex.scope():
        assert IntakeForm.objects.get().name == "Bug report"
        assert IntakeField.objects.count() == 1


def test_a_field_of_another_form_is_404_under_this_one(acme, admin):
    one, other = _form(acme, "One"), _form(acme, "Other")
    field = _field(acme, other)
    assert admin.get(f"/settings/portal/forms/{one.pk}/fields/{field.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("get", "new/"),
        ("post", "new/"),
        ("get", "{form}/"),
        ("post", "{form}/delete/"),
        ("post", "{form}/move/"),
        ("get", "{form}/fields/new/"),
        ("post", "{form}/fields/{field}/delete/"),
    ],
)
def test_agents_get_404_and_visitors_the_sign_in(acme, method, path):
    intake_form = _form(acme)
    field = _field(acme, intake_form)
    url = "/settings/portal/forms/" + path.format(form=intake_form.pk, field=field.pk)
    agent = acme.client(acme.agent)
    assert getattr(agent, method)(url, {"name": "X", "confirm": "1"}).status_code == 404
    anonymous = getattr(acme.client(), method)(url, {"confirm": "1"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/login/")
    with acme.scope():
        assert (IntakeForm.objects.get().name, IntakeField.objects.count()) == ("Bug report", 1)


def test_the_list_is_in_the_settings_navigation(acme, admin):
    html = admin.get("/settings/portal/forms/").content.decode()
    assert (
        'href="/settings/portal/forms/" class="active" aria-current="page">Portal forms</a>' in html
    )
