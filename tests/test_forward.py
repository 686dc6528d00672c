"""Forward one message, or the ticket's public conversation, to any addresses: the mail app's
`forward` kind (tickets announces `ticket.forwarded`), an internal timeline entry, and the
address never becomes a collaborator."""

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from outbound_mail.models import OutgoingMessage
from tests.factories import make_ticket
from tickets.models import Attachment, Comment, TicketEvent
from tickets.services.comments import comment_create


@pytest.fixture
def agent_client(acme):
    return acme.client(acme.agent)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _forward(client, ticket, run, **data):
    with run():
        return client.post(f"/agent/tickets/{ticket.number}/forward/", data, HTTP_HX_REQUEST="true")


def _toasts(html: str) -> list[str]:
    import re

    return [t.strip() for t in re.findall(r'<div class="toast[^"]*"[^>]*>(.*?)</div>', html, re.S)]


def _html_part(message) -> str:
    return next(c for c, t in message.alternatives if t == "text/html")


@pytest.fixture
def conversation(acme, agent_client, run):
    """A ticket: the customer's "Help!", an agent's reply with a file, and an internal note."""
    with acme.scope():
        ticket = make_ticket(acme.org)
    with run():
        agent_client.post(
            f"/agent/tickets/{ticket.number}/reply/",
            {
                "body": "Here is the **manual**.",
                "attachments": SimpleUploadedFile(
                    "manual.pdf", b"%PDF-1 manual", "application/pdf"
                ),
            },
            HTTP_HX_REQUEST="true",
        )
        agent_client.post(
            f"/agent/tickets/{ticket.number}/reply/",
            {"body": "Secret: the customer is on probation", "internal": "on"},
            HTTP_HX_REQUEST="true",
        )
    mail.outbox.clear()
    with acme.scope():
        reply = Comment.objects.get(ticket=ticket, body_text="Here is the **manual**.")
    return ticket, reply


def test_forward_one_message_with_its_attachment_and_note(acme, agent_client, run, conversation):
    ticket, reply = conversation
    response = _forward(
        agent_client,
        ticket,
        run,
        to="Vendor@Printers.test",
        note="Can you check **this**?",
        comment=str(reply.pk),
    )
    assert _toasts(response.content.decode()) == ["Forwarded the message to vendor@printers.test."]
    with acme.scope():
        rows = list(
            OutgoingMessage.objects.filter(kind="forward").values_list("to_address", "status")
        )
        attachment = Attachment.objects.get(comment=reply)
    assert rows == [("vendor@printers.test", "sent")]
    [message] = mail.outbox
    assert message.to == ["vendor@printers.test"]
    assert message.subject == f"Fwd: Printer on fire [#{ticket.number}]"
    assert message.body.startswith(
        "Can you check **this**?\n\n"
        f"---------- Forwarded by Acme Agent from ticket #{ticket.number} ----------\n"
    )
    assert "Here is the **manual**." in message.body
    assert "Help!" not in message.body  # one message, not the conversation
    html = _html_part(message)
    assert "Can you check <strong>this</strong>?" in html
    assert "Here is the <strong>manual</strong>." in html
    assert message.attachments == [("manual.pdf", b"%PDF-1 manual", "application/pdf")]
    assert message.extra_headers["Reply-To"] == acme.agent.email
    assert "Auto-Submitted" not in message.extra_headers
    assert attachment.filename == "manual.pdf"


def test_forward_the_conversation_without_internal_notes(acme, agent_client, run, conversation):
    ticket, _ = conversation
    _forward(agent_client, ticket, run, to="a@partner.test, b@partner.test")
    assert sorted(m.to[0] for m in mail.outbox) == ["a@partner.test", "b@partner.test"]
    for message in mail.outbox:
        body = message.body
        assert body.index("Help!") < body.index("Here is the **manual**.")
        assert "From: Carol <carol@customer.test>" in body
        assert "probation" not in body
        assert "probation" not in _html_part(message)
        assert [a[0] for a in message.attachments] == ["manual.pdf"]


def test_forward_is_an_internal_timeline_entry(acme, agent_client, run, conversation):
    ticket, reply = conversation
    response = _forward(agent_client, ticket, run, to="x@partner.test", comment=str(reply.pk))
    with acme.scope():
        event = TicketEvent.objects.filter(ticket=ticket, kind="forwarded").get()
    assert (event.actor_user, event.data) == (
        acme.agent,
        {"comment_id": reply.pk, "to": ["x@partner.test"]},
    )
    assert "forwarded a message to x@partner.test" in " ".join(response.content.decode().split())


def test_forwarded_address_is_not_a_collaborator(acme, agent_client, run, conversation):
    ticket, _ = conversation
    _forward(agent_client, ticket, run, to="x@partner.test")
    with acme.scope():
        assert list(ticket.collaborators.values_list("email", flat=True)) == []
    mail.outbox.clear()
    with run():
        agent_client.post(
            f"/agent/tickets/{ticket.number}/reply/", {"body": "Later", "send_now": "on"}
        )
    assert [m.to for m in mail.outbox] == [["Carol <carol@customer.test>"]]


@pytest.mark.parametrize(
    ("to", "error"),
    [
        ("", "Forward to whom? Enter an email address."),
        ("not-an-address", "To: “not-an-address” is not an email address."),
        ("ok@x.test, bad@", "To: “bad@” is not an email address."),
        (" , ;", "Forward to whom? Enter an email address."),
    ],
)
def test_forward_bad_address_is_a_clear_message(acme, agent_client, run, conversation, to, error):
    ticket, _ = conversation
    response = _forward(agent_client, ticket, run, to=to)
    assert _toasts(response.content.decode()) == [error]
    assert mail.outbox == []
    with acme.scope():
        assert not TicketEvent.objects.filter(ticket=ticket, kind="forwarded").exists()


def test_forward_a_comment_of_another_ticket_is_404(acme, agent_client, run, conversation):
    _, reply = conversation
    with acme.scope():
        other = make_ticket(acme.org, subject="Other")
    response = _forward(agent_client, other, run, to="x@partner.test", comment=str(reply.pk))
    assert response.status_code == 404
    assert mail.outbox == []


def test_forward_another_tenants_ticket_is_404(acme, globex, run, conversation):
    ticket, reply = conversation
    client = globex.client(globex.agent)
    with globex.scope():
        make_ticket(globex.org)  # globex has a ticket #1 of its own
        theirs = list(Comment.objects.values_list("pk", flat=True))
    response = _forward(client, ticket, run, to="x@partner.test", comment=str(reply.pk))
    assert response.status_code == 404  # acme's comment, from globex's ticket of that number
    response = client.post(
        f"/agent/tickets/{ticket.number + 50}/forward/", {"to": "x@partner.test"}
    )
    assert response.status_code == 404
    assert mail.outbox == []
    with acme.scope():
        assert not TicketEvent.objects.filter(kind="forwarded").exists()
    assert theirs


def test_forward_with_nothing_public_says_so(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
        Comment.objects.filter(ticket=ticket).update(is_public=False)
    response = _forward(agent_client, ticket, run, to="x@partner.test")
    assert _toasts(response.content.decode()) == ["There is no public message to forward yet."]
    assert mail.outbox == []


def test_forward_shows_on_the_ticket_page(acme, agent_client, conversation):
    ticket, reply = conversation
    html = agent_client.get(f"/agent/tickets/{ticket.number}/").content.decode()
    assert f'action="/agent/tickets/{ticket.number}/forward/"' in html
    assert f'class="linklike forward-message" data-comment="{reply.pk}"' in html


def test_forward_of_customer_inline_image_keeps_it_inline(acme, agent_client, run):
    with acme.scope():
        ticket = make_ticket(acme.org)
        from tickets.services.attachments import Upload

        comment = comment_create(
            ticket=ticket,
            body_text="see",
            body_html='<p>see <img src="cid:img1@mail"></p>',
            author_contact=ticket.requester,
            channel=Comment.Channel.EMAIL,
            uploads=[
                Upload("a.png", b"\x89PNG fake", "image/png", content_id="img1@mail", inline=True)
            ],
        )
    _forward(agent_client, ticket, run, to="x@partner.test", comment=str(comment.pk))
    [message] = mail.outbox
    assert 'src="cid:img1@mail"' in _html_part(message)
    [part] = [p for p in message.message().walk() if p.get_content_type() == "image/png"]
    assert part["Content-ID"] == "<img1@mail>"
