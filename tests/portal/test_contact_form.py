"""The public contact form: a ticket by a contact (made or matched), with its files, the intake
form's fields and the acknowledgement; the honeypot, the time-to-submit token and the limit per
client address; the embed's framing; CSRF; two tenants."""

import time

import pytest
import time_machine
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from outbound_mail.kinds import Kind
from outbound_mail.models import OutgoingMessage
from portal import antispam
from portal.models import IntakeField, IntakeForm, PortalSettings, Submission
from portal.selectors import portal_settings
from tickets.models import Attachment, Contact, Ticket
from tickets.services.contacts import contact_get_or_create

ADDRESS = "203.0.113.7"


def token(tenant, seconds_ago: float = 60) -> str:
    """A token as the form would have carried, shown `seconds_ago`."""
    with time_machine.travel(time.time() - seconds_ago, tick=False):
        return antispam.token_issue(tenant.org)


def form_data(tenant, **changes) -> dict:
    data = {
        "name": "Sam Sender",
        "email": "sam@example.test",
        "subject": "The printer is on fire",
        "message": "Smoke everywhere since this morning.",
        "website": "",
        "shown": token(tenant),
    }
    return {**data, **changes}


def post(tenant, data, *, path="/contact/", address=ADDRESS, client=None, **extra):
    client = client or Client(HTTP_HOST=f"{tenant.org.slug}.localhost")
    return client.post(path, data, REMOTE_ADDR=address, **extra)


def tickets_of(tenant) -> list[Ticket]:
    with tenant.scope():
        return list(Ticket.objects.select_related("requester").order_by("id"))


def settings_of(tenant, **changes) -> PortalSettings:
    with tenant.scope():
        found = portal_settings(tenant.org)
        for name, value in changes.items():
            setattr(found, name, value)
        found.save()
        return found


def test_contact_form_shows_its_fields_without_sign_in(acme):
    response = acme.client().get("/contact/")
    assert response.status_code == 200
    for name in ("name", "email", "subject", "message", "attachments", "website", "shown"):
        assert f'name="{name}"' in response.content.decode()
    assert 'tabindex="-1"' in response.content.decode()
    assert '<div class="contact-hp" aria-hidden="true">' in response.content.decode()


def test_contact_form_opens_a_ticket_for_a_new_contact(acme, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("smoke.txt", b"a log of smoke", content_type="text/plain")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(acme, form_data(acme, attachments=[upload]))
    assert (response.status_code, response["Location"]) == (302, "/contact/thanks/")
    [ticket] = tickets_of(acme)
    assert (ticket.source, ticket.subject) == (Ticket.Source.CONTACT_FORM, "The printer is on fire")
    assert (ticket.requester.email, ticket.requester.name) == ("sam@example.test", "Sam Sender")
    with acme.scope():
        comment = ticket.comments.get()
        assert comment.body_text == "Smoke everywhere since this morning."
        assert (comment.author_contact_id, comment.is_public) == (ticket.requester_id, True)
        [attachment] = Attachment.objects.filter(ticket=ticket)
        assert (attachment.filename, attachment.size) == ("smoke.txt", len(b"a log of smoke"))
        assert attachment.file.read() == b"a log of smoke"
        [ack] = OutgoingMessage.objects.filter(kind=Kind.NEW_TICKET_CONFIRMATION)
        assert (ack.ticket_id, ack.to_address, ack.contact_id) == (
            ticket.pk,
            "sam@example.test",
            ticket.requester_id,
        )


def test_contact_form_matches_an_existing_contact_whatever_the_case(acme):
    with acme.scope():
        known = contact_get_or_create(organization=acme.org, email="sam@example.test", name="Sam")
    response = post(acme, form_data(acme, email="SAM@Example.TEST", name="Someone Else"))
    assert response.status_code == 302
    [ticket] = tickets_of(acme)
    assert ticket.requester_id == known.pk
    with acme.scope():
        assert Contact.objects.count() == 1
        assert Contact.objects.get().name == "Sam"  # an unproven sender renames nobody


def test_thank_you_page_says_nothing_of_the_ticket_and_signs_nobody_in(acme):
    client = Client(HTTP_HOST="acme.localhost")
    response = post(acme, form_data(acme), client=client)
    page = client.get(response["Location"])
    text = page.content.decode()
    assert page.status_code == 200
    assert "we got your message" in text
    assert "A confirmation is on its way to your inbox" in text
    for secret in ("The printer is on fire", "Smoke everywhere", "sam@example.test", "Sam Sender"):
        assert secret not in text
    assert "portal_contact" not in client.session
    assert client.get("/contact/").content.decode().count("The printer is on fire") == 0


def test_contact_form_errors_keep_what_was_typed(acme):
    response = post(acme, form_data(acme, email="not an address", subject=""))
    text = response.content.decode()
    assert response.status_code == 400
    assert "Enter an email address like name@example.com." in text
    assert "Give your message a subject." in text
    assert "Smoke everywhere since this morning." in text
    assert 'value="Sam Sender"' in text
    assert tickets_of(acme) == []


def test_too_many_files_are_refused(acme):
    files = [SimpleUploadedFile(f"f{i}.txt", b"x") for i in range(11)]
    response = post(acme, form_data(acme, attachments=files))
    assert response.status_code == 400
    assert "Attach at most 10 files." in response.content.decode()
    assert tickets_of(acme) == []


# -- the intake form's fields -----------------------------------------------------------------


@pytest.fixture
def intake(acme):
    with acme.scope():
        form = IntakeForm.objects.create(organization=acme.org, name="Bug report")
        IntakeField.objects.create(
            organization=acme.org, form=form, key="version", label="Version", required=True
        )
        IntakeField.objects.create(
            organization=acme.org,
            form=form,
            key="area",
            label="Area",
            kind=IntakeField.Kind.SINGLE_CHOICE,
            choices=["Billing", "Printing"],
            position=1,
        )
    settings_of(acme, contact_form_intake=form)
    return form


def test_intake_fields_appear_when_the_admin_chose_a_form(acme, intake):
    text = acme.client().get("/contact/").content.decode()
    assert 'name="f_version"' in text
    assert 'name="f_area"' in text
    assert text.index('name="message"') < text.index('name="f_version"')
    assert text.index('name="f_area"') < text.index('name="attachments"')


def test_intake_fields_are_validated_and_stored(acme, intake):
    missing = post(acme, form_data(acme, f_area="Printing"))
    assert missing.status_code == 400
    assert tickets_of(acme) == []
    bad_choice = post(acme, form_data(acme, f_version="2.1", f_area="Gardening"))
    assert bad_choice.status_code == 400
    response = post(acme, form_data(acme, f_version="2.1", f_area="Printing"))
    assert response.status_code == 302
    [ticket] = tickets_of(acme)
    with acme.scope():
        submission = Submission.objects.get(ticket=ticket)
        assert (submission.form_id, submission.form_name) == (intake.pk, "Bug report")
        assert [(v["key"], v["value"]) for v in submission.values] == [
            ("version", "2.1"),
            ("area", "Printing"),
        ]


def test_a_disabled_intake_form_adds_nothing(acme, intake):
    with acme.scope():
        IntakeForm.objects.filter(pk=intake.pk).update(enabled=False)
    assert 'name="f_version"' not in acme.client().get("/contact/").content.decode()
    assert post(acme, form_data(acme)).status_code == 302


def test_no_intake_form_no_extra_fields(acme, intake):
    settings_of(acme, contact_form_intake=None)
    assert 'name="f_' not in acme.client().get("/contact/").content.decode()


# -- robots -----------------------------------------------------------------------------------


def test_honeypot_pretends_success_and_creates_nothing(acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(acme, form_data(acme, website="http://spam.example"))
    assert (response.status_code, response["Location"]) == (302, "/contact/thanks/")
    assert tickets_of(acme) == []
    with acme.scope():
        assert (Contact.objects.count(), OutgoingMessage.objects.count()) == (0, 0)


def test_too_fast_is_refused_with_the_text_kept(acme):
    response = post(acme, form_data(acme, shown=token(acme, seconds_ago=1)))
    text = response.content.decode()
    assert response.status_code == 400
    assert antispam.TOO_FAST in text
    assert "Smoke everywhere since this morning." in text
    assert tickets_of(acme) == []
    # The page carries a new token, which goes through once a person's time has passed.
    new = response.context["form"]["shown"].value()
    assert new != form_data(acme)["shown"]
    with time_machine.travel(time.time() + 10, tick=False):
        assert post(acme, form_data(acme, shown=new)).status_code == 302
    assert len(tickets_of(acme)) == 1


@pytest.mark.parametrize(
    ("shown", "message"),
    [
        ("expired", antispam.TOO_OLD),
        ("forged", antispam.BROKEN),
        ("", antispam.BROKEN),
        ("globex", antispam.BROKEN),
    ],
)
def test_old_forged_or_foreign_tokens_are_refused(acme, globex, shown, message):
    made = {
        "expired": lambda: token(acme, seconds_ago=2 * 24 * 60 * 60),
        "forged": lambda: f"{acme.org.pk}:1aBcDe:not-a-signature",
        "": lambda: "",
        "globex": lambda: token(globex),
    }[shown]()
    response = post(acme, form_data(acme, shown=made))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "The printer is on fire" in response.content.decode()
    assert tickets_of(acme) == []


def test_rate_limit_per_client_address(acme, globex):
    for _ in range(antispam.CONTACT_FORM.per_address):
        assert post(acme, form_data(acme)).status_code == 302
    over = post(acme, form_data(acme, subject="One more"))
    assert over.status_code == 429
    assert "Too many messages from your network; please try again in 10 minutes." in (
        over.content.decode()
    )
    assert "One more" in over.content.decode()  # what was typed stays
    assert len(tickets_of(acme)) == 5
    # Another address, and the same address on another tenant, still get through.
    assert post(acme, form_data(acme), address="203.0.113.8").status_code == 302
    assert post(globex, form_data(globex)).status_code == 302
    assert (len(tickets_of(acme)), len(tickets_of(globex))) == (6, 1)
    # The count lives in the cache.
    cache.clear()
    assert post(acme, form_data(acme)).status_code == 302


def test_rate_limit_counts_honeypot_hits(acme):
    for _ in range(antispam.CONTACT_FORM.per_address):
        post(acme, form_data(acme, website="x"))
    assert post(acme, form_data(acme)).status_code == 429
    assert tickets_of(acme) == []


# -- switches, embed, CSRF, tenants -----------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/contact/", "/contact/thanks/", "/contact/embed/", "/contact/embed/thanks/"]
)
def test_disabled_contact_form_is_not_found(acme, path):
    settings_of(acme, contact_form_enabled=False)
    assert acme.client().get(path).status_code == 404
    assert post(acme, form_data(acme), path=path).status_code in (404, 405)
    assert tickets_of(acme) == []


def test_embed_has_no_chrome_and_may_be_framed(acme):
    response = acme.client().get("/contact/embed/")
    text = response.content.decode()
    assert response.status_code == 200
    assert 'name="subject"' in text
    assert "portal-header" not in text
    assert "portal-footer" not in text
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors *" in response["Content-Security-Policy"]
    thanks = acme.client().get("/contact/embed/thanks/")
    assert "X-Frame-Options" not in thanks.headers
    assert "frame-ancestors *" in thanks["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/contact/", "/contact/thanks/", "/settings/portal/", "/login/"])
def test_other_pages_keep_refusing_frames(acme, path):
    client = acme.client(acme.admin) if path.startswith("/settings/") else acme.client()
    response = client.get(path)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_embed_submits_and_thanks_inside_the_frame(acme):
    response = post(
        acme, form_data(acme), path="/contact/embed/", HTTP_ORIGIN="http://acme.localhost"
    )
    assert (response.status_code, response["Location"]) == (302, "/contact/embed/thanks/")
    assert [t.source for t in tickets_of(acme)] == [Ticket.Source.CONTACT_FORM]


def test_contact_form_enforces_csrf(acme):
    client = Client(HTTP_HOST="acme.localhost", enforce_csrf_checks=True)
    assert post(acme, form_data(acme), client=client).status_code == 403
    client.get("/contact/")
    csrf = client.cookies["csrftoken"].value
    response = post(acme, form_data(acme, csrfmiddlewaretoken=csrf), client=client)
    assert response.status_code == 302
    assert len(tickets_of(acme)) == 1


def test_embed_refuses_posts_from_other_sites(acme):
    client = Client(HTTP_HOST="acme.localhost", enforce_csrf_checks=True)
    for origin in ("http://evil.example", "http://globex.localhost", ""):
        extra = {"HTTP_ORIGIN": origin} if origin else {}
        response = post(acme, form_data(acme), path="/contact/embed/", client=client, **extra)
        assert response.status_code == 403
    referred = post(
        acme,
        form_data(acme),
        path="/contact/embed/",
        client=client,
        HTTP_REFERER="http://acme.localhost/contact/embed/",
    )
    assert referred.status_code == 302
    assert len(tickets_of(acme)) == 1


def test_each_host_files_into_its_own_tenant(acme, globex, intake):
    text = globex.client().get("/contact/").content.decode()
    assert 'name="f_version"' not in text  # acme's intake form is acme's
    assert post(globex, form_data(globex)).status_code == 302
    assert tickets_of(acme) == []
    [ticket] = tickets_of(globex)
    assert ticket.organization_id == globex.org.pk
    with globex.scope():
        assert Contact.objects.get().email == "sam@example.test"
    with acme.scope():
        assert Contact.objects.count() == 0
