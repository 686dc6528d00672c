"""The portal's New ticket: choosing a form, filling it in (with files), errors beside their
fields with everything typed kept, the ticket it opens (source portal, the contact as
requester, the acknowledgement queued), and what another tenant's or a disabled form gives."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from outbound_mail.kinds import Kind as MailKind
from outbound_mail.models import OutgoingMessage
from portal import auth
from portal.models import IntakeField, IntakeForm, Submission, SubmittedChoice
from tenants.services import team_create
from tickets.models import Attachment, Priority, Ticket

Kind = IntakeField.Kind


def _bug_report(tenant, **extra) -> IntakeForm:
    with tenant.scope():
        intake_form = IntakeForm.objects.create(
            organization=tenant.org,
            name="Bug report",
            description="Something does not work.",
            default_team=tenant.team,
            **extra,
        )
        fields = [
            {
                "key": "area",
                "label": "Area",
                "kind": Kind.SINGLE_CHOICE,
                "required": True,
                "choices": ["Web", "App"],
            },
            {"key": "seen_on", "label": "Seen on", "kind": Kind.DATE},
            {
                "key": "platforms",
                "label": "Platforms",
                "kind": Kind.MULTIPLE_CHOICE,
                "choices": ["iOS", "Android", "Desktop"],
            },
            {"key": "screenshot", "label": "Screenshot", "kind": Kind.FILE},
            {
                "key": "urgency",
                "label": "How urgent?",
                "kind": Kind.SINGLE_CHOICE,
                "maps_to": "priority",
            },
            {"key": "agree", "label": "I may be contacted", "kind": Kind.CHECKBOX},
        ]
        for position, spec in enumerate(fields):
            IntakeField.objects.create(
                organization=tenant.org, form=intake_form, position=position, **spec
            )
    return intake_form


@pytest.fixture
def urgent(acme):
    with acme.scope():
        return Priority.objects.create(organization=acme.org, name="Right now", rank=99)


def test_new_with_no_forms_is_the_plain_form(
    acme, customer, customer_client, django_capture_on_commit_callbacks
):
    page = customer_client.get("/new/")
    html = page.content.decode()
    assert page.status_code == 200
    assert re.findall(r'name="([a-z_]+)"', html.split('class="stack')[1]) == [
        "csrfmiddlewaretoken",
        "subject",
        "message",
        "attachments",
    ]
    with django_capture_on_commit_callbacks(execute=True):
        sent = customer_client.post("/new/", {"subject": "Broken", "message": "It broke."})
    with acme.scope():
        ticket = Ticket.objects.get()
        assert (ticket.subject, ticket.source, ticket.requester_id) == (
            "Broken",
            Ticket.Source.PORTAL,
            customer.pk,
        )
        assert ticket.comments.get().body_text == "It broke."
        assert not Submission.objects.exists()
    assert (sent.status_code, sent["Location"]) == (302, f"/tickets/{ticket.number}/")


def test_new_lists_the_enabled_forms_with_descriptions(acme, customer_client):
    shown = _bug_report(acme)
    with acme.scope():
        IntakeForm.objects.create(organization=acme.org, name="Hidden one", enabled=False)
    html = customer_client.get("/new/").content.decode()
    assert f'href="/new/{shown.pk}/"' in html
    assert "Something does not work." in html
    assert "Hidden one" not in html


def test_a_disabled_or_another_tenants_form_is_404(acme, globex, customer_client):
    theirs = _bug_report(globex)
    with acme.scope():
        off = IntakeForm.objects.create(organization=acme.org, name="Off", enabled=False)
    assert customer_client.get(f"/new/{theirs.pk}/").status_code == 404
    assert customer_client.post(f"/new/{theirs.pk}/", {"subject": "x"}).status_code == 404
    assert customer_client.get(f"/new/{off.pk}/").status_code == 404
    assert customer_client.get("/new/999999/").status_code == 404


def test_nobody_signed_in_goes_to_sign_in(acme):
    intake_form = _bug_report(acme)
    response = acme.client().get(f"/new/{intake_form.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/?next=")


def test_submitting_a_form_with_a_file_opens_the_ticket(
    acme, customer, customer_client, urgent, django_capture_on_commit_callbacks
):
    intake_form = _bug_report(acme)
    data = {
        "subject": "Login fails",
        "message": "I cannot sign in.",
        "f_area": "App",
        "f_seen_on": "2025-03-01",
        "f_platforms": ["iOS", "Desktop"],
        "f_urgency": str(urgent.pk),
        "f_agree": "on",
        "f_screenshot": SimpleUploadedFile("shot.png", b"\x89PNG", "image/png"),
        "attachments": SimpleUploadedFile("log.txt", b"trace", "text/plain"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = customer_client.post(f"/new/{intake_form.pk}/", data)
    with acme.scope():
        ticket = Ticket.objects.select_related("priority", "team").get()
        assert response["Location"] == f"/tickets/{ticket.number}/"
        assert (ticket.source, ticket.requester_id, ticket.priority, ticket.team) == (
            Ticket.Source.PORTAL,
            customer.pk,
            urgent,
            acme.team,
        )
        first = ticket.comments.get()
        assert sorted(
            Attachment.objects.filter(comment=first).values_list("filename", flat=True)
        ) == ["log.txt", "shot.png"]
        assert Submission.objects.get(ticket=ticket).values == [
            {"key": "area", "label": "Area", "kind": "single_choice", "value": "App"},
            {"key": "seen_on", "label": "Seen on", "kind": "date", "value": "2025-03-01"},
            {
                "key": "platforms",
                "label": "Platforms",
                "kind": "multiple_choice",
                "value": ["iOS", "Desktop"],
            },
            {"key": "screenshot", "label": "Screenshot", "kind": "file", "value": "shot.png"},
            {
                "key": "urgency",
                "label": "How urgent?",
                "kind": "single_choice",
                "value": "Right now",
            },
            {"key": "agree", "label": "I may be contacted", "kind": "checkbox", "value": "Yes"},
        ]
        assert sorted(SubmittedChoice.objects.values_list("field__key", "value")) == [
            ("area", "App"),
            ("platforms", "Desktop"),
            ("platforms", "iOS"),
        ]
        acknowledgement = OutgoingMessage.objects.get(kind=MailKind.NEW_TICKET_CONFIRMATION)
        assert (acknowledgement.ticket_id, acknowledgement.to_address) == (
            ticket.pk,
            "customer@acme.test",
        )
    page = customer_client.get(response["Location"])
    assert page.status_code == 200
    assert "Login fails" in page.content.decode()


def test_without_a_mapped_field_the_forms_defaults_apply(acme, customer_client):
    with acme.scope():
        billing = team_create(organization=acme.org, name="Billing", members=[])
        low = Priority.objects.create(organization=acme.org, name="Whenever", rank=0)
        intake_form = IntakeForm.objects.create(
            organization=acme.org, name="Billing", default_team=billing, default_priority=low
        )
    customer_client.post(f"/new/{intake_form.pk}/", {"subject": "Invoice", "message": "Wrong."})
    with acme.scope():
        ticket = Ticket.objects.get()
        assert (ticket.team, ticket.priority) == (billing, low)
        assert Submission.objects.get().form_name == "Billing"


def test_without_defaults_the_tenants_default_priority_applies(acme, customer_client):
    with acme.scope():
        intake_form = IntakeForm.objects.create(organization=acme.org, name="Other")
        default = Priority.objects.get(is_default=True)
    customer_client.post(f"/new/{intake_form.pk}/", {"subject": "Hi", "message": "Hello."})
    with acme.scope():
        ticket = Ticket.objects.get()
        assert (ticket.team, ticket.priority) == (None, default)


def test_errors_sit_beside_their_fields_and_keep_what_was_typed(acme, customer_client, urgent):
    intake_form = _bug_report(acme)
    data = {
        "subject": "Typed subject",
        "message": "Typed <message>",
        "f_area": "Fax",
        "f_seen_on": "yesterday",
        "f_platforms": ["Android"],
        "f_urgency": "424242",
        "attachments": SimpleUploadedFile("log.txt", b"trace"),
    }
    response = customer_client.post(f"/new/{intake_form.pk}/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert 'value="Typed subject"' in html
    assert "Typed &lt;message&gt;</textarea>" in html
    assert re.search(r'value="Android"[^>]*checked', html)
    assert 'value="yesterday"' in html
    errors = dict(re.findall(r'<div class="field-error" id="id_(f_\w+)_error">([^<]+)</div>', html))
    assert errors == {
        "f_area": "Pick one of the options offered.",
        "f_seen_on": "Enter a date like 2025-03-31.",
        "f_urgency": "That priority is not offered any more: pick one from the list.",
    }
    assert 'aria-describedby="id_f_area_error"' in html
    assert "Choose your files again" in html
    with acme.scope():
        assert not Ticket.objects.exists()


def test_a_missing_required_answer_is_named(acme, customer_client):
    intake_form = _bug_report(acme)
    response = customer_client.post(f"/new/{intake_form.pk}/", {"subject": "", "message": ""})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_subject_error">Give your request a subject.' in html
    assert 'id="id_message_error">Describe what you need.' in html
    assert 'id="id_f_area_error">Pick one of the options.' in html
    assert "Choose your files again" not in html


def test_an_agents_preview_reads_the_form_but_cannot_send(acme, customer):
    intake_form = _bug_report(acme)
    client = acme.client(acme.agent)
    session = client.session
    session[auth.PREVIEW_KEY] = {"contact": customer.pk, "org": acme.org.pk}
    session.save()
    page = client.get(f"/new/{intake_form.pk}/")
    assert page.status_code == 200
    assert "This is a preview" in page.content.decode()
    assert '<form method="post" enctype' not in page.content.decode()
    sent = client.post(f"/new/{intake_form.pk}/", {"subject": "x", "message": "y", "f_area": "Web"})
    assert sent.status_code == 403
    with acme.scope():
        assert not Ticket.objects.exists()
