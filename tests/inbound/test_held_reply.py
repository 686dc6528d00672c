"""The send guard by mail (issue 14): a proven agent's reply whose In-Reply-To and References
answer an older entry than the newest public one not theirs is kept as an internal note marked
"held: a newer reply exists"; nothing reaches the customer; the agent gets a mail whose link
opens a page that shows what came after and sends the reply (made public, so it goes out as
the reply mail). A reply whose references name nothing known keeps today's behaviour."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail as sent_mail
from django.utils import timezone

from outbound_mail.kinds import Kind
from outbound_mail.models import Notification, OutgoingMessage
from outbound_mail.services.sending import outgoing_send_due
from tenants import services as tenant_services
from tenants.models import Membership
from tests.inbound.mails import mail
from tickets import mail_tokens
from tickets.models import Comment, Ticket
from tickets.services.comments import comment_create

HELD = "held: a newer reply exists"


@pytest.fixture
def thread(support, deliver):
    """Carol opens a ticket and writes again; what each agent was mailed about each message."""
    acme, _ = support
    [first] = deliver(mail(body="My invoice is missing."))
    with acme.scope():
        confirmation = OutgoingMessage.objects.get(kind=Kind.NEW_TICKET_CONFIRMATION)
        alert = OutgoingMessage.objects.get(kind=Kind.NEW_TICKET_ALERT, user=acme.agent)
    [second] = deliver(
        mail(
            subject="Re: Printer on fire",
            body="Also, the address on it is wrong.",
            in_reply_to=confirmation.message_id,
            references=[first.message_id, confirmation.message_id],
        )
    )
    with acme.scope():
        later_alert = OutgoingMessage.objects.get(kind=Kind.CUSTOMER_REPLY, user=acme.agent)
    return acme, first, second, alert, later_alert


def _agent_answers(acme, alert, body="Here is your invoice.", subject="Re: New ticket", **kw):
    """The agent answers one of our mails to them from their mail client."""
    return mail(
        sender=acme.agent.email,
        to=kw.pop("to", alert.headers["Reply-To"]),
        subject=subject,
        body=body,
        in_reply_to=kw.pop("in_reply_to", alert.message_id),
        references=kw.pop("references", [alert.message_id]),
        **kw,
    )


def _customer_mail(acme) -> list[tuple[str, str]]:
    """What went, or waits to go, to the customer after the ticket's confirmation."""
    with acme.scope():
        rows = OutgoingMessage.objects.exclude(kind=Kind.NEW_TICKET_CONFIRMATION)
        return list(rows.filter(contact__isnull=False).values_list("kind", "to_address"))


def _held_notices(acme) -> list[OutgoingMessage]:
    with acme.scope():
        return list(OutgoingMessage.objects.filter(kind=Kind.STAFF_REPLY_HELD).order_by("id"))


def _link(text: str) -> str:
    return re.search(r"http://\S+/held/\d+/", text).group(0)


def test_reply_to_an_older_entry_is_held_as_an_internal_note(thread, deliver):
    acme, first, _second, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert))
    held = reply.comment
    assert (held.is_public, held.author_user_id, held.body_text) == (
        False,
        acme.agent.pk,
        "Here is your invoice.",
    )
    assert (held.held_reason, held.held_after) == (HELD, first.comment_id)
    assert reply.reason == (f"staff internal note on #1 by token; {HELD}; sender proven by token")
    assert _customer_mail(acme) == []
    assert [m.to for m in sent_mail.outbox if "Here is your invoice." in m.body] == [
        ["Acme Agent <agent@acme.test>"]
    ]


def test_the_held_entry_says_so_on_the_ticket_page(thread, deliver):
    acme, *_, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert))
    page = acme.client(acme.agent).get("/agent/tickets/1/").content.decode()
    entry = re.search(rf'<li [^>]*id="comment-{reply.comment_id}">.*?</header>', page, re.S)[0]
    assert '<span class="label-held">Held: a newer reply exists</span>' in entry
    assert f'href="/agent/tickets/1/held/{reply.comment_id}/"' in entry
    # Others see the mark, not the link (the page is its author's).
    page = acme.client(acme.admin).get("/agent/tickets/1/").content.decode()
    entry = re.search(rf'<li [^>]*id="comment-{reply.comment_id}">.*?</header>', page, re.S)[0]
    assert "label-held" in entry
    assert "/held/" not in entry


def test_the_agent_is_told_by_mail_with_a_working_link(thread, deliver):
    acme, first, second, alert, _ = thread
    sent_mail.outbox.clear()
    [reply] = deliver(_agent_answers(acme, alert))
    [notice] = _held_notices(acme)
    assert (notice.to_address, notice.user_id, notice.status) == (
        "agent@acme.test",
        acme.agent.pk,
        "sent",
    )
    assert notice.subject == "Your reply was not sent: a newer reply exists [#1]"
    [message] = [m for m in sent_mail.outbox if m.subject == notice.subject]
    assert message.to == ["Acme Agent <agent@acme.test>"]
    text, html = message.body, message.alternatives[0][0]
    url = f"http://acme.localhost:8000/agent/tickets/1/held/{reply.comment_id}/"
    assert _link(text) == url
    assert f'href="{url}"' in html
    assert "Carol" in text
    assert "Also, the address on it is wrong." in text
    assert "Also, the address on it is wrong." in html
    assert text.rstrip().endswith("Your held reply:\nHere is your invoice.")
    # The bell has it too.
    with acme.scope():
        titles = list(
            Notification.objects.filter(user=acme.agent, kind=Kind.STAFF_REPLY_HELD).values_list(
                "title", flat=True
            )
        )
    assert titles == ["Your reply on #1 was held: a newer reply exists"]
    # The link opens the page that shows what came after and the reply.
    response = acme.client(acme.agent).get(urlsplit(url).path)
    page = response.content.decode()
    assert response.status_code == 200
    assert f'id="comment-{second.comment_id}"' in page
    assert f'id="comment-{reply.comment_id}"' in page
    assert f'id="comment-{first.comment_id}"' not in page  # what the mail answered
    assert (
        '<button type="submit" class="primary" id="send-held">Send it to the customer</button>'
        in page
    )


def test_sending_from_the_link_delivers_the_reply(
    thread, deliver, django_capture_on_commit_callbacks
):
    acme, _first, _second, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert))
    client = acme.client(acme.agent)
    path = f"/agent/tickets/1/held/{reply.comment_id}/"
    seen = re.search(r'name="seen_comment" value="(\d+)"', client.get(path).content.decode())[1]
    assert seen == str(reply.comment_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(path, {"seen_comment": seen})
    assert (response.status_code, response["Location"]) == (
        302,
        f"/agent/tickets/1/#comment-{reply.comment_id}",
    )
    with acme.scope():
        comment = Comment.objects.get(pk=reply.comment_id)
        assert (comment.is_public, comment.held_reason, comment.held_after) == (True, "", None)
    assert _customer_mail(acme) == [(Kind.AGENT_REPLY, "carol@customer.test")]
    toasts = re.findall(
        r'<div class="toast[^"]*"[^>]*>([^<]*)</div>',
        client.get("/agent/tickets/1/").content.decode(),
    )
    assert toasts == ["Sending in 2 min. Undo on the reply until then."]
    sent_mail.outbox.clear()
    with acme.scope():
        outgoing_send_due(organization=acme.org, now=timezone.now() + timedelta(minutes=10))
    [delivered] = [m for m in sent_mail.outbox if m.to == ["Carol <carol@customer.test>"]]
    assert "Here is your invoice." in delivered.body
    assert "Here is your invoice." in delivered.alternatives[0][0]
    # Sent once: the link again says so and sends nothing more.
    response = client.post(path, {"seen_comment": seen})
    assert response.status_code == 302
    assert _customer_mail(acme) == [(Kind.AGENT_REPLY, "carol@customer.test")]


def test_sending_from_the_link_is_held_again_when_yet_another_entry_arrived(thread, deliver):
    acme, first, _second, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert))
    client = acme.client(acme.agent)
    path = f"/agent/tickets/1/held/{reply.comment_id}/"
    seen = re.search(r'name="seen_comment" value="(\d+)"', client.get(path).content.decode())[1]
    with acme.scope():
        ticket = Ticket.objects.get(pk=first.ticket_id)
        newest = comment_create(
            ticket=ticket, body_text="Never mind, found it!", author_contact=ticket.requester
        )
    response = client.post(path, {"seen_comment": seen})
    page = response.content.decode()
    assert response.status_code == 409
    assert "Not sent: another entry arrived since this page opened." in page
    assert f'id="comment-{newest.pk}"' in page
    with acme.scope():
        assert Comment.objects.get(pk=reply.comment_id).is_public is False
    assert _customer_mail(acme) == []


@pytest.mark.parametrize("value", ["", "abc", "-3", "9" * 40])
def test_sending_from_the_link_with_a_bad_page_state_is_a_clear_400(thread, deliver, value):
    acme, *_, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert))
    response = acme.client(acme.agent).post(
        f"/agent/tickets/1/held/{reply.comment_id}/", {"seen_comment": value}
    )
    assert response.status_code == 400
    assert "This page&#x27;s state could not be read. Reload the ticket and send again." in (
        response.content.decode()
    )
    assert _customer_mail(acme) == []


def test_the_link_is_its_authors_alone(thread, deliver):
    acme, *_, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert))
    path = f"/agent/tickets/1/held/{reply.comment_id}/"
    other = acme.client(acme.admin)
    assert other.get(path).status_code == 403
    assert other.post(path, {"seen_comment": "999"}).status_code == 403
    assert _customer_mail(acme) == []


def test_the_link_on_another_tenants_host_is_404(thread, deliver, globex):
    acme, *_, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert))
    with globex.scope():
        from tests.factories import make_ticket

        make_ticket(globex.org)  # globex has a #1 too
    path = f"/agent/tickets/1/held/{reply.comment_id}/"
    client = globex.client(globex.agent)
    assert client.get(path).status_code == 404
    assert client.post(path, {"seen_comment": "999"}).status_code == 404
    assert acme.client(acme.agent).get("/agent/tickets/1/held/999999/").status_code == 404


# -- not held --------------------------------------------------------------------------------


def test_reply_to_the_newest_entry_is_public(thread, deliver):
    acme, _first, _second, _, later_alert = thread
    [reply] = deliver(_agent_answers(acme, later_alert, subject="Re: Carol replied"))
    assert (reply.comment.is_public, reply.comment.held_reason) == (True, "")
    assert _customer_mail(acme) == [(Kind.AGENT_REPLY, "carol@customer.test")]
    assert _held_notices(acme) == []


def test_reply_naming_the_customers_newest_message_is_public(thread, deliver):
    acme, first, second, alert, _ = thread
    raw = _agent_answers(
        acme, alert, in_reply_to=second.message_id, references=[first.message_id, second.message_id]
    )
    [reply] = deliver(raw)
    assert reply.comment.is_public is True


def test_reply_naming_an_older_customer_message_is_held(thread, deliver):
    acme, first, _second, alert, _ = thread
    # No mail of ours in the thread at all: the customer's own Message-ID names the entry.
    tag = mail_tokens.make_staff_tag(acme.org.pk, first.ticket_id, acme.agent.pk)
    raw = _agent_answers(
        acme,
        alert,
        in_reply_to=first.message_id,
        references=[first.message_id],
        to=f"support+{tag}@acme.test",
    )
    [reply] = deliver(raw)
    assert (reply.comment.is_public, reply.comment.held_reason) == (False, HELD)


def test_reply_with_unknown_references_keeps_todays_behaviour(thread, deliver):
    acme, first, *_ = thread
    tag = mail_tokens.make_staff_tag(acme.org.pk, first.ticket_id, acme.agent.pk)
    raw = mail(
        sender=acme.agent.email,
        to=f"support+{tag}@acme.test",
        subject="Re: Printer on fire",
        body="On it.",
        in_reply_to="unknown.123@elsewhere.test",
    )
    [reply] = deliver(raw)
    assert (reply.comment.is_public, reply.comment.held_reason) == (True, "")
    assert reply.reason == "staff public reply on #1 by token; sender proven by token"


def test_reply_after_the_agents_own_newer_reply_is_public(thread, deliver):
    acme, first, _second, alert, _ = thread
    with acme.scope():
        ticket = Ticket.objects.get(pk=first.ticket_id)
        comment_create(ticket=ticket, body_text="Answered on the web.", author_user=acme.agent)
    [reply] = deliver(_agent_answers(acme, alert, body="And by mail."))
    assert reply.comment.is_public is True


def test_private_reply_is_never_held(thread, deliver):
    acme, *_, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert, subject="Re: New ticket [PVT]"))
    assert (reply.comment.is_public, reply.comment.held_reason) == (False, "")
    assert _held_notices(acme) == []


def test_held_reply_does_not_resolve(thread, deliver):
    acme, first, *_, alert, _ = thread
    [reply] = deliver(_agent_answers(acme, alert, subject="Re: New ticket [CLOSED]"))
    assert reply.comment.held_reason == HELD
    assert reply.reason == (
        f"staff internal note on #1 by token; {HELD}, not resolved; sender proven by token"
    )
    with acme.scope():
        assert (
            Ticket.objects.select_related("status").get(pk=first.ticket_id).status.name
            != "Resolved"
        )


def test_another_agents_reply_holds_a_reply_by_mail(support, deliver):
    acme, _ = support
    [first] = deliver(mail(body="My invoice is missing."))
    with acme.scope():
        alert = OutgoingMessage.objects.get(kind=Kind.NEW_TICKET_ALERT, user=acme.agent)
        bob = tenant_services.user_get_or_create(email="bob@acme.test", name="Bob", password="pw")
        tenant_services.membership_add(organization=acme.org, user=bob, role=Membership.AGENT)
        ticket = Ticket.objects.get(pk=first.ticket_id)
        comment_create(ticket=ticket, body_text="Sent it an hour ago.", author_user=bob)
    [reply] = deliver(_agent_answers(acme, alert))
    assert (reply.comment.is_public, reply.comment.held_reason) == (False, HELD)
    [notice] = _held_notices(acme)
    assert "Bob" in notice.body_text
    assert "Sent it an hour ago." in notice.body_text


def test_the_held_page_keeps_a_fixed_number_of_queries(acme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import make_ticket
    from tickets.services.send_guard import mail_reply_create

    client = acme.client(acme.agent)

    def page_queries(newer: int) -> int:
        with acme.scope():
            ticket = make_ticket(acme.org)
            first = ticket.comments.get()
            for n in range(newer):
                comment_create(
                    ticket=ticket, body_text=f"More {n}", author_contact=ticket.requester
                )
            held = mail_reply_create(
                ticket=ticket,
                answered=first.pk,
                author_user=acme.agent,
                is_public=True,
                body_text="Mine.",
                channel=Comment.Channel.EMAIL,
            )
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/agent/tickets/{ticket.number}/held/{held.pk}/")
        assert response.content.decode().count('class="entry ') == newer + 1
        return len(queries)

    page_queries(1)  # the first request of a session reads what later ones find cached
    assert page_queries(1) == page_queries(4)
