"""Mail to a ticket merged into another threads to the survivor, whichever rule finds it."""

import pytest

from inbound_mail.models import ThreadReference
from tests.inbound.mails import mail, new_message_id
from tickets import mail_tokens
from tickets.models import Ticket
from tickets.services.merge import ticket_merge

CAROL = "Carol <carol@customer.test>"
DAVE = "Dave <dave@other.test>"


@pytest.fixture
def two_threads(support, deliver):
    """Ticket A from Dave, ticket B from Carol (each opened by mail), B merged into A."""
    acme, _ = support
    a_id, b_id = new_message_id(), new_message_id()
    [a] = deliver(mail(sender=DAVE, subject="Invoices missing", message_id=a_id))
    [b] = deliver(mail(sender=CAROL, subject="Where are my invoices", message_id=b_id))
    with acme.scope():
        ticket_merge(ticket=b.ticket, into=a.ticket, actor_user=acme.agent)
    return acme, a.ticket_id, b.ticket_id, b_id


def test_reply_to_merged_tickets_original_mail_lands_on_survivor(two_threads, deliver):
    acme, a_id, b_id, b_message_id = two_threads
    raw = mail(
        sender=CAROL,
        subject="Re: Where are my invoices",
        in_reply_to=b_message_id,
        references=[b_message_id],
        body="Still nothing here.",
    )
    [reply] = deliver(raw)
    assert reply.ticket_id == a_id
    with acme.scope():
        assert ThreadReference.objects.filter(ticket_id=b_id).count() == 0
        assert Ticket.objects.get(pk=a_id).comments.last().body_text.startswith("Still nothing")


def test_reply_to_our_mail_on_merged_ticket_lands_on_survivor(two_threads, deliver):
    acme, a_id, b_id, _ = two_threads
    ours = mail_tokens.make_message_id(acme.org.pk, b_id)
    [reply] = deliver(mail(sender=CAROL, subject="Thanks", in_reply_to=ours))
    assert reply.ticket_id == a_id


def test_subject_tag_of_merged_ticket_lands_on_survivor(two_threads, deliver):
    acme, a_id, b_id, _ = two_threads
    with acme.scope():
        number = Ticket.objects.get(pk=b_id).number
    [reply] = deliver(mail(sender=CAROL, subject=f"[#{number}] more", message_id=None))
    assert reply.ticket_id == a_id
