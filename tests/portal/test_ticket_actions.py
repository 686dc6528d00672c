"""What a contact posts on a ticket in the portal: a reply (a customer comment exactly like one
by mail: reopens, notifies the agents, names the contact), close and reopen; bad input gets
messages, an agent's preview changes nothing, CSRF is checked."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from outbound_mail.models import Notification, OutgoingMessage
from portal import auth
from portal.models import CompanyAccess
from portal.services.tickets import closing_status, reopening_status
from tests.portal.conftest import make_contact, portal_client
from tickets.models import Attachment, Comment, Customer, Status, Ticket, TicketEvent
from tickets.services.tickets import ticket_assign, ticket_change_status, ticket_create


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """`with run(): ...` runs what the block queues after commit (events, tasks), as live."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _ticket(tenant, contact, subject="Printer on fire") -> Ticket:
    with tenant.scope():
        return ticket_create(
            organization=tenant.org, subject=subject, requester=contact, body_text="Help!"
        )


def _status(tenant, ticket, name) -> None:
    with tenant.scope():
        ticket_change_status(
            ticket=ticket, status=Status.objects.get(name=name), actor_user=tenant.agent
        )


def _fresh(tenant, ticket) -> Ticket:
    with tenant.scope():
        return Ticket.objects.select_related("status").get(pk=ticket.pk)


def _toasts(response) -> list[str]:
    html = response.content.decode()
    return [t.strip() for t in re.findall(r'<div class="toast[^"]*"[^>]*>(.*?)</div>', html, re.S)]


# -- reply -------------------------------------------------------------------------------------


def test_reply_on_a_resolved_ticket_reopens_and_notifies(acme, customer, customer_client, run):
    ticket = _ticket(acme, customer)
    with acme.scope():
        ticket_assign(ticket=ticket, assignee=acme.agent, actor_user=acme.admin)
    _status(acme, ticket, "Resolved")
    with run():
        response = customer_client.post(
            f"/tickets/{ticket.number}/reply/", {"body": "It broke again."}, follow=True
        )
    assert _toasts(response) == ["Reply sent. The ticket is open again."]
    with acme.scope():
        comment = Comment.objects.filter(ticket=ticket).latest("id")
        assert (
            comment.body_text,
            comment.is_public,
            comment.author_contact_id,
            comment.author_user_id,
            comment.channel,
        ) == ("It broke again.", True, customer.pk, None, Comment.Channel.PORTAL)
        fresh = Ticket.objects.select_related("status").get(pk=ticket.pk)
        assert (fresh.status.name, fresh.status_category) == ("Open", "open")
        assert fresh.last_customer_message_at == comment.created_at
        events = TicketEvent.objects.filter(ticket=ticket, actor_contact=customer)
        assert sorted(events.values_list("kind", flat=True)) == ["comment", "created", "status"]
        status_event = events.get(kind="status")
        assert (status_event.data["from"], status_event.data["to"]) == ("Resolved", "Open")
        notes = Notification.objects.filter(ticket=ticket, kind="customer_reply")
        assert list(notes.values_list("user_id", "title")) == [
            (acme.agent.pk, f"Casey Customer replied on #{ticket.number}: Printer on fire")
        ]
        mails = OutgoingMessage.objects.filter(ticket=ticket, kind="customer_reply")
        assert list(mails.values_list("to_address", flat=True)) == ["agent@acme.test"]
    page = response.content.decode()
    assert "It broke again." in page
    assert response.redirect_chain == [(f"/tickets/{ticket.number}/#comment-{comment.pk}", 302)]


def test_reply_with_attachments(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    files = [
        SimpleUploadedFile("log.txt", b"line 1\n", "text/plain"),
        SimpleUploadedFile("photo.png", b"\x89PNG fake", "image/png"),
    ]
    response = customer_client.post(
        f"/tickets/{ticket.number}/reply/", {"body": "Files attached", "attachments": files}
    )
    assert response.status_code == 302
    with acme.scope():
        comment = Comment.objects.filter(ticket=ticket).latest("id")
        stored = list(comment.attachments.values_list("filename", "size", "content_type"))
        attachment = comment.attachments.get(filename="log.txt")
    assert stored == [("log.txt", 7, "text/plain"), ("photo.png", 9, "image/png")]
    download = customer_client.get(f"/tickets/{ticket.number}/attachments/{attachment.pk}/")
    assert b"".join(download.streaming_content) == b"line 1\n"


def test_empty_reply_is_a_message_not_a_comment(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    response = customer_client.post(f"/tickets/{ticket.number}/reply/", {"body": "   \n "})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'<div class="field-error" id="body-error" role="alert">Write a message', html)
    assert 'aria-invalid="true" aria-describedby="body-error"' in html
    with acme.scope():
        assert Comment.objects.filter(ticket=ticket).count() == 1


def test_oversized_file_keeps_the_text(acme, customer, customer_client, settings):
    settings.MAX_UPLOAD_SIZE = 1024 * 1024
    ticket = _ticket(acme, customer)
    big = SimpleUploadedFile("big.bin", b"x" * (1024 * 1024 + 1))
    response = customer_client.post(
        f"/tickets/{ticket.number}/reply/",
        {"body": "My long <careful> text", "attachments": big},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "big.bin is larger than 1 MB." in html
    assert "My long &lt;careful&gt; text</textarea>" in html
    with acme.scope():
        assert Comment.objects.filter(ticket=ticket).count() == 1
        assert Attachment.objects.filter(ticket=ticket).count() == 0


def test_too_many_files(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    files = [SimpleUploadedFile(f"{i}.txt", b"x") for i in range(11)]
    response = customer_client.post(
        f"/tickets/{ticket.number}/reply/", {"body": "many", "attachments": files}
    )
    assert response.status_code == 400
    assert "Attach at most 10 files to one reply (11 chosen)." in response.content.decode()


def test_files_are_named_when_the_text_fails(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    response = customer_client.post(
        f"/tickets/{ticket.number}/reply/",
        {"body": "", "attachments": SimpleUploadedFile("a.txt", b"x")},
    )
    assert response.status_code == 400
    assert "Choose your files again: they were not sent." in response.content.decode()


def test_reply_on_another_contacts_ticket_is_a_404(acme, customer, customer_client):
    other = make_contact(acme, "other@x.test", "Other")
    ticket = _ticket(acme, other)
    for action in ("reply", "close", "reopen"):
        response = customer_client.post(f"/tickets/{ticket.number}/{action}/", {"body": "hi"})
        assert response.status_code == 404, action
    with acme.scope():
        assert Comment.objects.filter(ticket=ticket).count() == 1
        assert _fresh(acme, ticket).status.name == "New"


def test_action_urls_opened_by_get_show_the_ticket(acme, customer, customer_client):
    """After signing in again, the sign-in page sends the contact back to the URL their
    expired session posted to: a GET there changes nothing and shows the ticket."""
    ticket = _ticket(acme, customer)
    for action in ("reply", "close", "reopen"):
        response = customer_client.get(f"/tickets/{ticket.number}/{action}/")
        assert (response.status_code, response["Location"]) == (302, f"/tickets/{ticket.number}/")
    assert customer_client.put(f"/tickets/{ticket.number}/close/").status_code == 405
    assert _fresh(acme, ticket).status.name == "New"
    other = make_contact(acme, "other@x.test", "Other")
    theirs = _ticket(acme, other)
    response = customer_client.get(f"/tickets/{theirs.number}/close/", follow=True)
    assert response.status_code == 404


def test_csrf_is_checked(acme, customer):
    ticket = _ticket(acme, customer)
    client = portal_client(acme, customer)
    client.handler.enforce_csrf_checks = True
    for action in ("reply", "close"):
        response = client.post(f"/tickets/{ticket.number}/{action}/", {"body": "forged"})
        assert response.status_code == 403, action
    with acme.scope():
        assert Comment.objects.filter(ticket=ticket).count() == 1
    assert _fresh(acme, ticket).status.name == "New"
    # With the page's token it goes through.
    page = client.get(f"/tickets/{ticket.number}/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        f"/tickets/{ticket.number}/reply/", {"body": "real", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


# -- close and reopen --------------------------------------------------------------------------


def test_close_and_reopen(acme, customer, customer_client):
    ticket = _ticket(acme, customer)
    page = customer_client.get(f"/tickets/{ticket.number}/").content.decode()
    assert f'action="/tickets/{ticket.number}/close/"' in page
    assert "/reopen/" not in page

    response = customer_client.post(f"/tickets/{ticket.number}/close/", follow=True)
    assert _toasts(response) == ["Ticket closed. Reply any time to open it again."]
    closed = _fresh(acme, ticket)
    assert (closed.status.name, closed.status_category) == ("Resolved", "resolved")
    page = response.content.decode()
    assert f'action="/tickets/{ticket.number}/reopen/"' in page
    assert "/close/" not in page
    assert "Replying opens the ticket again." in page
    assert '<span class="chip chip-resolved" id="ticket-status">Solved</span>' in page

    response = customer_client.post(f"/tickets/{ticket.number}/reopen/", follow=True)
    assert _toasts(response) == ["Ticket reopened. Tell us what is still needed below."]
    assert _fresh(acme, ticket).status.name == "Open"
    with acme.scope():
        events = TicketEvent.objects.filter(ticket=ticket, kind="status").order_by("id")
        assert [(e.actor_contact_id, e.actor_user_id, e.data["to"]) for e in events] == [
            (customer.pk, None, "Resolved"),
            (customer.pk, None, "Open"),
        ]


def test_close_on_a_closed_ticket_changes_nothing(acme, customer, customer_client):
    """A stale "close" button never moves a Closed ticket back to Resolved."""
    ticket = _ticket(acme, customer)
    _status(acme, ticket, "Closed")
    response = customer_client.post(f"/tickets/{ticket.number}/close/", follow=True)
    assert _toasts(response) == ["This ticket is already closed."]
    assert _fresh(acme, ticket).status.name == "Closed"
    response = customer_client.post(f"/tickets/{ticket.number}/reopen/", follow=True)
    assert _fresh(acme, ticket).status.name == "Open"
    response = customer_client.post(f"/tickets/{ticket.number}/reopen/", follow=True)
    assert _toasts(response) == ["This ticket is already open."]


def test_closing_and_reopening_statuses_follow_the_tenant(acme):
    with acme.scope():
        Status.objects.create(
            organization=acme.org, name="Answered", category="resolved", position=0
        )
        assert closing_status().name == "Answered"
        Status.objects.filter(category="resolved").update(category="closed")
        assert closing_status().name == "Answered"  # no resolved status: the first closed one
        Status.objects.create(
            organization=acme.org, name="Working", category="open", position=9, is_default=True
        )
        assert reopening_status().name == "Working"
        Status.objects.filter(category="open").update(category="pending")
        assert reopening_status().name == "New"


def test_colleague_with_company_access_may_reply_and_close(acme):
    with acme.scope():
        company = Customer.objects.create(organization=acme.org, name="Initech")
    alice = make_contact(acme, "alice@initech.test", "Alice", customer=company)
    bob = make_contact(acme, "bob@initech.test", "Bob", customer=company)
    ticket = _ticket(acme, alice)
    bob_client = portal_client(acme, bob)
    assert bob_client.post(f"/tickets/{ticket.number}/close/").status_code == 404
    with acme.scope():
        CompanyAccess.objects.create(organization=acme.org, customer=company)
    assert (
        bob_client.post(f"/tickets/{ticket.number}/reply/", {"body": "Me too"}).status_code == 302
    )
    assert bob_client.post(f"/tickets/{ticket.number}/close/").status_code == 302
    with acme.scope():
        reply = Comment.objects.filter(ticket=ticket).latest("id")
        assert (reply.author_contact_id, reply.body_text) == (bob.pk, "Me too")
        assert TicketEvent.objects.get(ticket=ticket, kind="status").actor_contact_id == bob.pk
    assert _fresh(acme, ticket).status.name == "Resolved"
    page = portal_client(acme, alice).get(f"/tickets/{ticket.number}/").content.decode()
    assert "<strong>Bob</strong>" in page


# -- an agent's preview changes nothing --------------------------------------------------------


def test_preview_posts_change_nothing(acme, customer):
    ticket = _ticket(acme, customer)
    client = acme.client(acme.agent)
    session = client.session
    session[auth.PREVIEW_KEY] = {"contact": customer.pk, "org": acme.org.pk}
    session.save()
    for action in ("reply", "close"):
        response = client.post(
            f"/tickets/{ticket.number}/{action}/", {"body": "as the customer"}, follow=True
        )
        assert response.redirect_chain == [(f"/tickets/{ticket.number}/", 302)]
        assert _toasts(response) == [
            "You are viewing the portal as Casey Customer: nothing can be changed from the preview."
        ]
    _status(acme, ticket, "Resolved")
    client.post(f"/tickets/{ticket.number}/reopen/")
    with acme.scope():
        assert Comment.objects.filter(ticket=ticket).count() == 1
        assert not TicketEvent.objects.filter(actor_contact=customer, kind="status").exists()
    assert _fresh(acme, ticket).status.name == "Resolved"


def test_agent_signed_in_but_not_previewing_is_sent_to_sign_in(acme, customer):
    ticket = _ticket(acme, customer)
    response = acme.client(acme.agent).post(f"/tickets/{ticket.number}/reply/", {"body": "x"})
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in/")
    with acme.scope():
        assert Comment.objects.filter(ticket=ticket).count() == 1


def test_globex_preview_key_does_not_work_on_acme(acme, globex, customer):
    """An agent of globex with a preview key naming an acme contact is not an acme agent."""
    client = Client(HTTP_HOST="acme.localhost")
    client.force_login(globex.agent)
    session = client.session
    session[auth.PREVIEW_KEY] = {"contact": customer.pk, "org": acme.org.pk}
    session.save()
    ticket = _ticket(acme, customer)
    assert client.get(f"/tickets/{ticket.number}/").status_code == 302
