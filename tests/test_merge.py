"""Merging tickets and contacts, splitting a comment off: what moves, what each timeline says."""

import pytest

from outbound_mail.models import OutgoingMessage
from tests.factories import make_ticket
from tickets.models import (
    Attachment,
    Collaborator,
    Comment,
    Contact,
    ContactEmail,
    StatusCategory,
    TicketEvent,
)
from tickets.services.attachments import Upload
from tickets.services.comments import comment_create
from tickets.services.contacts import (
    ContactError,
    contact_email_add,
    contact_get_or_create,
    contacts_for,
)
from tickets.services.merge import MergeError, contact_merge, ticket_merge, ticket_split
from tickets.services.tickets import collaborator_add


def _events(ticket, kind):
    return list(TicketEvent.objects.filter(ticket=ticket, kind=kind).values_list("data", flat=True))


def test_ticket_merge_moves_comments_attachments_collaborators(in_acme):
    a = make_ticket(in_acme.org, subject="A", email="dave@x.test", body="first A")
    b = make_ticket(in_acme.org, subject="B", email="carol@y.test", body="first B")
    comment_create(
        ticket=b,
        body_text="with file",
        is_public=True,
        author_user=in_acme.agent,
        uploads=[Upload(filename="a.txt", content=b"hi", content_type="text/plain")],
    )
    erin = contact_get_or_create(organization=in_acme.org, email="erin@y.test")
    collaborator_add(ticket=b, contact=erin)

    survivor = ticket_merge(ticket=b, into=a, actor_user=in_acme.agent)

    assert survivor.pk == a.pk
    assert list(Comment.objects.filter(ticket=a).values_list("body_text", flat=True)) == [
        "first A",
        "first B",
        "with file",
    ]
    assert Comment.objects.filter(ticket=b).count() == 0
    assert list(Attachment.objects.values_list("ticket_id", flat=True)) == [a.pk]
    collaborators = Collaborator.objects.filter(ticket=a).values_list("contact__email", flat=True)
    assert sorted(collaborators) == ["carol@y.test", "erin@y.test"]
    b.refresh_from_db()
    assert (b.merged_into_id, b.status_category) == (a.pk, StatusCategory.CLOSED)
    assert _events(b, TicketEvent.Kind.MERGED) == [{"into": a.number}]
    assert _events(a, TicketEvent.Kind.MERGED) == [{"merged": b.number, "comments": 2}]


def test_ticket_merge_moves_sent_message_ids(in_acme):
    a = make_ticket(in_acme.org, subject="A")
    b = make_ticket(in_acme.org, subject="B")
    sent = OutgoingMessage.objects.create(
        organization=in_acme.org,
        ticket=b,
        kind="customer_reply",
        to_address="carol@customer.test",
        subject="Re: B",
        message_id="ours@acme.test",
        status=OutgoingMessage.Status.SENT,
    )
    ticket_merge(ticket=b, into=a, actor_user=in_acme.agent)
    sent.refresh_from_db()
    assert sent.ticket_id == a.pk


def test_ticket_merge_refuses_itself_and_a_merged_ticket(in_acme):
    a = make_ticket(in_acme.org, subject="A")
    b = make_ticket(in_acme.org, subject="B")
    with pytest.raises(MergeError, match="itself"):
        ticket_merge(ticket=a, into=a, actor_user=in_acme.agent)
    ticket_merge(ticket=b, into=a, actor_user=in_acme.agent)
    with pytest.raises(MergeError, match="already merged"):
        ticket_merge(ticket=b, into=a, actor_user=in_acme.agent)
    c = make_ticket(in_acme.org, subject="C")
    with pytest.raises(MergeError, match="merged itself"):
        ticket_merge(ticket=c, into=b, actor_user=in_acme.agent)


def test_ticket_split_moves_one_comment_and_its_attachments(in_acme):
    ticket = make_ticket(in_acme.org, subject="Two questions", body="About invoices")
    other = comment_create(
        ticket=ticket,
        body_text="And the printer?",
        is_public=True,
        author_user=None,
        author_contact=ticket.requester,
        uploads=[Upload(filename="p.png", content=b"png", content_type="image/png")],
    )

    new = ticket_split(comment=other, actor_user=in_acme.agent, subject="Printer")

    assert (new.subject, new.requester_id, new.number) == ("Printer", ticket.requester_id, 2)
    assert list(new.comments.values_list("body_text", flat=True)) == ["And the printer?"]
    assert list(ticket.comments.values_list("body_text", flat=True)) == ["About invoices"]
    assert list(Attachment.objects.values_list("ticket_id", flat=True)) == [new.pk]
    assert _events(ticket, TicketEvent.Kind.SPLIT) == [{"to": new.number}]
    assert _events(new, TicketEvent.Kind.SPLIT) == [{"from": ticket.number}]


def test_ticket_split_refuses_the_only_comment(in_acme):
    ticket = make_ticket(in_acme.org)
    with pytest.raises(MergeError, match="only message"):
        ticket_split(comment=ticket.comments.get(), actor_user=in_acme.agent)


def test_contact_merge_moves_tickets_comments_collaborations_addresses(in_acme):
    survivor = contact_get_or_create(organization=in_acme.org, email="carol@work.test")
    duplicate = contact_get_or_create(organization=in_acme.org, email="carol@home.test")
    contact_email_add(contact=duplicate, email="c@old.test")
    own = make_ticket(in_acme.org, email="carol@home.test", subject="Hers")
    other = make_ticket(in_acme.org, email="dave@x.test", subject="His")
    both = make_ticket(in_acme.org, email="carol@work.test", subject="Both")
    collaborator_add(ticket=other, contact=duplicate)
    collaborator_add(ticket=both, contact=duplicate)

    contact_merge(contact=duplicate, into=survivor, actor_user=in_acme.agent)

    assert not Contact.objects.filter(pk=duplicate.pk).exists()
    own.refresh_from_db()
    assert own.requester_id == survivor.pk
    assert own.comments.get().author_contact_id == survivor.pk
    assert list(Collaborator.objects.values_list("ticket_id", "contact_id")) == [
        (other.pk, survivor.pk)
    ]
    assert sorted(survivor.emails.values_list("email", flat=True)) == [
        "c@old.test",
        "carol@home.test",
    ]
    merged = {"merged": "carol@home.test", "into": "carol@work.test"}
    for ticket in (own, other, both):
        assert _events(ticket, TicketEvent.Kind.CONTACT_MERGED) == [merged]


def test_contact_merge_refuses_itself(in_acme):
    carol = contact_get_or_create(organization=in_acme.org, email="carol@work.test")
    with pytest.raises(MergeError, match="itself"):
        contact_merge(contact=carol, into=carol, actor_user=in_acme.agent)


def test_mail_from_a_further_address_is_the_contacts(in_acme):
    carol = contact_get_or_create(organization=in_acme.org, email="carol@work.test")
    contact_email_add(contact=carol, email="Carol@Home.test")
    found = contacts_for(organization=in_acme.org, names={"carol@home.test": "Carol"})
    assert found["carol@home.test"].pk == carol.pk
    assert contact_get_or_create(organization=in_acme.org, email="CAROL@home.test").pk == carol.pk
    assert Contact.objects.count() == 1


def test_an_address_belongs_to_one_contact(in_acme):
    carol = contact_get_or_create(organization=in_acme.org, email="carol@work.test")
    dave = contact_get_or_create(organization=in_acme.org, email="dave@work.test")
    contact_email_add(contact=carol, email="shared@work.test")
    with pytest.raises(ContactError, match=r"already belongs to carol@work\.test"):
        contact_email_add(contact=dave, email="shared@work.test")
    with pytest.raises(ContactError, match="already belongs"):
        contact_email_add(contact=dave, email="carol@work.test")
    assert ContactEmail.objects.count() == 1
