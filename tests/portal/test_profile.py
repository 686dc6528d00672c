"""The contact's profile in the portal: name, mail choice (which the outbox honours), and its
form's errors; the portal pages' private caching."""

import pytest

from outbound_mail.kinds import Kind
from outbound_mail.models import OutgoingMessage
from tests.portal.conftest import make_contact, portal_client
from tickets.models import Contact, Status, StatusCategory
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_change_status, ticket_create

pytestmark = pytest.mark.django_db
Sent = OutgoingMessage.Status


def _save(client, name="Casey C.", mail="all"):
    return client.post("/profile/", {"form": "profile", "name": name, "mail": mail})


def _contact(tenant, contact) -> Contact:
    with tenant.scope():
        return Contact.objects.get(pk=contact.pk)


def _customer_mail(tenant, contact) -> list[tuple[str, str, str]]:
    with tenant.scope():
        rows = OutgoingMessage.objects.filter(contact=contact).order_by("id")
        return [(r.kind, r.status, r.last_error) for r in rows]


def test_profile_shows_the_contacts_values_with_labels(acme, customer):
    page = portal_client(acme, customer).get("/profile/")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<label for="id_name">Your name</label>' in html
    assert 'value="Casey Customer"' in html
    assert "<legend>Mail about your requests</legend>" in html
    assert 'value="all" id="id_mail_0" required checked>' in html
    assert '<label for="id_new_password1">New password' in html
    assert "Current password" not in html  # none set yet
    assert page["Cache-Control"] == "private, no-store"


def test_profile_saves_name_and_mail_choice(acme, customer):
    client = portal_client(acme, customer)
    response = _save(client, name="  Casey C.  ", mail="none")
    assert (response.status_code, response["Location"]) == (302, "/profile/")
    contact = _contact(acme, customer)
    assert (contact.name, contact.mail_replies) == ("Casey C.", False)
    assert (
        'value="none" id="id_mail_1" required checked>' in client.get("/profile/").content.decode()
    )
    _save(client, mail="all")
    assert _contact(acme, customer).mail_replies is True


def test_profile_errors_stay_next_to_the_field_and_keep_the_input(acme, customer):
    client = portal_client(acme, customer)
    response = _save(client, name="x" * 201, mail="sometimes")
    assert response.status_code == 400
    form = response.context["profile_form"]
    assert form.errors == {
        "name": ["Ensure this value has at most 200 characters (it has 201)."],
        "mail": ["Select a valid choice. sometimes is not one of the available choices."],
    }
    assert f'value="{"x" * 201}"' in response.content.decode()
    assert _contact(acme, customer).name == "Casey Customer"


def test_profile_of_one_contact_is_never_anothers(acme, globex, customer):
    other = make_contact(acme, "other@acme.test", "Olive")
    _save(portal_client(acme, customer), name="Changed")
    assert _contact(acme, other).name == "Olive"
    # On globex's host the acme session is nobody.
    response = portal_client(acme, customer).get("/profile/", HTTP_HOST="globex.localhost")
    assert response.status_code == 302


def test_no_mail_withholds_reply_and_status_mail_but_not_the_confirmation(acme, customer, run):
    _save(portal_client(acme, customer), mail="none")
    with acme.scope(), run():
        ticket = ticket_create(
            organization=acme.org,
            subject="Printer",
            requester=_contact(acme, customer),
            body_text="It is on fire.",
        )
    with acme.scope(), run():
        comment_create(ticket=ticket, body_text="Put it out.", author_user=acme.agent)
    resolved = _status(acme, StatusCategory.RESOLVED)
    with acme.scope(), run():
        ticket_change_status(ticket=ticket, status=resolved, actor_user=acme.agent)
    withheld = "Not sent: customer@acme.test chose no mail about replies (the portal's profile)."
    assert _customer_mail(acme, customer) == [
        (Kind.NEW_TICKET_CONFIRMATION, Sent.SENT, ""),
        (Kind.AGENT_REPLY, Sent.SUPPRESSED, withheld),
        (Kind.TICKET_RESOLVED, Sent.SUPPRESSED, withheld),
    ]


def test_every_reply_mail_goes_out_by_default(acme, customer, run):
    with acme.scope(), run():
        ticket = ticket_create(
            organization=acme.org, subject="Printer", requester=customer, body_text="Help"
        )
    with acme.scope(), run():
        comment_create(ticket=ticket, body_text="On it.", author_user=acme.agent)
    assert _customer_mail(acme, customer) == [
        (Kind.NEW_TICKET_CONFIRMATION, Sent.SENT, ""),
        (Kind.AGENT_REPLY, Sent.PENDING, ""),  # waits for the debounce, then goes
    ]


def test_no_mail_chosen_while_an_update_waits_stops_it_when_a_change_folds_in(acme, customer, run):
    with acme.scope(), run():
        ticket = ticket_create(
            organization=acme.org, subject="Printer", requester=customer, body_text="Help"
        )
    with acme.scope(), run():
        comment_create(ticket=ticket, body_text="On it.", author_user=acme.agent)
    _save(portal_client(acme, customer), mail="none")  # while the reply waits for the debounce
    with acme.scope(), run():
        ticket_change_status(
            ticket=ticket, status=_status(acme, StatusCategory.RESOLVED), actor_user=acme.agent
        )
    withheld = "Not sent: customer@acme.test chose no mail about replies (the portal's profile)."
    assert _customer_mail(acme, customer) == [
        (Kind.NEW_TICKET_CONFIRMATION, Sent.SENT, ""),
        (Kind.AGENT_REPLY, Sent.SUPPRESSED, withheld),  # the reply with the resolution folded in
    ]


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _status(tenant, category) -> Status:
    with tenant.scope():
        return Status.objects.filter(category=category).order_by("position", "id").first()
