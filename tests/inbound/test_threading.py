"""Threading: each rule on its own, in its order, with the reply shapes of real clients."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from inbound_mail import selectors
from inbound_mail.services import sender_trust
from tests.inbound.mails import (
    apple_mail_reply,
    authenticated,
    gmail_reply,
    mail,
    new_message_id,
    outlook_reply,
)
from tickets import mail_tokens
from tickets.models import Collaborator, Contact, Status, Ticket
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import collaborator_add, ticket_change_status

CAROL = "Carol <carol@customer.test>"


@pytest.fixture
def opened(support, deliver):
    """A ticket in acme opened by Carol's mail; returns (row, message_id)."""
    message_id = new_message_id()
    [row] = deliver(mail(sender=CAROL, subject="Printer on fire", message_id=message_id))
    return row, message_id


def _count(tenant) -> int:
    with tenant.scope():
        return Ticket.objects.count()


def test_our_signed_message_id_in_in_reply_to_threads(support, deliver, opened):
    acme, _ = support
    ours = mail_tokens.make_message_id(acme.org.pk, opened[0].ticket_id)
    [reply] = deliver(mail(subject="Something else entirely", in_reply_to=ours))
    assert (reply.ticket_id, reply.reason) == (opened[0].ticket_id, "reply on #1 by token")


def test_our_signed_message_id_in_references_only_threads(support, deliver, opened):
    acme, _ = support
    ours = mail_tokens.make_message_id(acme.org.pk, opened[0].ticket_id)
    [reply] = deliver(mail(subject="Other", references=["unrelated@x.test", ours]))
    assert reply.ticket_id == opened[0].ticket_id


def test_forged_token_is_ignored_and_logged(support, deliver, opened, caplog):
    acme, _ = support
    genuine = mail_tokens.make_message_id(acme.org.pk, opened[0].ticket_id)
    forged = genuine.replace(genuine.split(".")[1][-10:], "aaaaaaaaaa")
    with caplog.at_level(logging.WARNING, logger="inbound_mail.threading"):
        [reply] = deliver(mail(subject="Let me in", in_reply_to=forged))
    assert reply.ticket_id != opened[0].ticket_id
    assert reply.reason == "new ticket; a forged reply token was ignored"
    logged = [r.getMessage() for r in caplog.records if r.name == "inbound_mail.threading"]
    assert logged == [f"forged reply token ignored in id {forged!r}"]
    assert _count(acme) == 2


def test_forged_plus_address_token_is_ignored(support, deliver, opened):
    acme, _ = support
    token = mail_tokens.make_token(acme.org.pk, opened[0].ticket_id)
    forged = token[:-10] + "bbbbbbbbbb"
    [reply] = deliver(mail(subject="Plus", to=f"support+{forged}@acme.test"))
    assert (reply.organization_id, reply.ticket_id != opened[0].ticket_id) == (acme.org.pk, True)
    assert reply.reason.endswith("a forged reply token was ignored")


def test_genuine_token_of_another_tenant_does_not_thread(support, deliver, opened):
    acme, globex = support
    foreign = mail_tokens.make_message_id(acme.org.pk, opened[0].ticket_id)
    [row] = deliver(mail(to="help@globex.test", subject="Cross", in_reply_to=foreign))
    assert (row.organization_id, row.reason) == (globex.org.pk, "new ticket")
    assert (_count(acme), _count(globex)) == (1, 1)


def test_outlook_reply_threads_by_in_reply_to(support, deliver, opened):
    raw = outlook_reply(
        sender=CAROL,
        to="support@acme.test",
        subject="Printer on fire",
        body="Still burning.",
        original_id=opened[1],
        original_from="Carol <carol@customer.test>",
    )
    [reply] = deliver(raw)
    assert (reply.ticket_id, reply.reason) == (opened[0].ticket_id, "reply on #1 by message_id")
    assert reply.comment.body_text == "Still burning."


def test_gmail_reply_threads_by_references(support, deliver, opened):
    second = new_message_id()
    raw = gmail_reply(
        sender=CAROL,
        to="support@acme.test",
        subject="Printer on fire",
        body="Any news?",
        original_id=second,
        references=[opened[1], second],
    )
    [reply] = deliver(raw)
    assert (reply.ticket_id, reply.comment.body_text) == (opened[0].ticket_id, "Any news?")


def test_apple_mail_reply_threads(support, deliver, opened):
    raw = apple_mail_reply(
        sender=CAROL,
        to="support@acme.test",
        subject="Printer on fire",
        body="Thanks!",
        original_id=opened[1],
    )
    [reply] = deliver(raw)
    assert (reply.ticket_id, reply.comment.body_text) == (opened[0].ticket_id, "Thanks!")


def test_references_only_reply_threads(support, deliver, opened):
    [reply] = deliver(mail(sender="dave@else.test", subject="Hm", references=[opened[1]]))
    assert reply.ticket_id == opened[0].ticket_id


def test_newest_known_id_wins(support, deliver, opened):
    other_id = new_message_id()
    [other] = deliver(mail(subject="Another matter", message_id=other_id))
    # References run oldest to newest: the last known one names the conversation.
    [reply] = deliver(mail(subject="Both", references=[opened[1], other_id]))
    assert reply.ticket_id == other.ticket_id


def test_reply_processed_before_its_original_lands_on_one_ticket(support, deliver):
    acme, _ = support
    original_id = new_message_id()
    [reply] = deliver(mail(subject="Re: Order", in_reply_to=original_id, references=[original_id]))
    [original] = deliver(mail(subject="Order", message_id=original_id))
    assert original.ticket_id == reply.ticket_id
    assert original.reason == "reply on #1 by message_id"
    assert _count(acme) == 1


def test_subject_tag_from_requester_threads(support, deliver, opened):
    [reply] = deliver(mail(sender=CAROL, subject="[#1] new question"))
    assert (reply.ticket_id, reply.reason) == (opened[0].ticket_id, "reply on #1 by tag")


def test_subject_tag_from_collaborator_threads(support, deliver, opened):
    acme, _ = support
    with acme.scope():
        dave = contact_get_or_create(organization=acme.org, email="dave@x.test")
        collaborator_add(ticket=opened[0].ticket, contact=dave)
    [reply] = deliver(mail(sender="dave@x.test", subject="Re: [#1]"))
    assert reply.ticket_id == opened[0].ticket_id


def test_subject_tag_from_staff_threads_but_stays_internal(support, deliver, opened):
    acme, _ = support
    with acme.scope():
        sender_trust.trusted_hosts_save(organization=acme.org, hosts=["mx.trusted.test"])
    raw = mail(sender=acme.agent.email, subject="[#1] checked the printer")
    [reply] = deliver(authenticated(raw, domain="acme.test"))
    assert reply.ticket_id == opened[0].ticket_id
    assert (reply.comment.author_user_id, reply.comment.is_public) == (acme.agent.pk, False)


def test_subject_tag_from_stranger_is_ignored(support, deliver, opened):
    acme, _ = support
    [row] = deliver(mail(sender="mallory@evil.test", subject="[#1] I am Carol"))
    assert (row.ticket_id != opened[0].ticket_id, row.reason) == (True, "new ticket")
    with acme.scope():
        assert list(Collaborator.objects.values_list("contact__email", flat=True)) == []


def test_subject_tag_of_another_tenants_ticket_opens_a_new_one(support, deliver):
    acme, globex = support
    deliver(mail(to="help@globex.test", subject="Globex one"))
    [g2] = deliver(mail(to="help@globex.test", subject="Globex two"))
    # #2 exists only at globex; Carol writes to acme quoting it.
    [row] = deliver(mail(subject="[#2] is this fixed?"))
    assert (row.organization_id, row.reason) == (acme.org.pk, "new ticket")
    with globex.scope():
        assert Ticket.objects.get(pk=g2.ticket_id).comments.count() == 1
    assert (_count(acme), _count(globex)) == (1, 2)


# A forward ("Fwd:") is new, not a reply: tests/inbound/test_threading_shapes.py.
@pytest.mark.parametrize("prefix", ["Re:", "RE:", "AW:", "SV:", "Antw:", "RIF:", "回复:"])
def test_reply_prefix_from_requester_threads_by_subject(support, deliver, opened, prefix):
    [reply] = deliver(mail(sender=CAROL, subject=f"{prefix} Printer on fire"))
    assert (reply.ticket_id, reply.reason) == (opened[0].ticket_id, "reply on #1 by subject")


def test_same_subject_without_prefix_is_a_new_ticket(support, deliver, opened):
    [row] = deliver(mail(sender=CAROL, subject="Printer on fire"))
    assert row.ticket_id != opened[0].ticket_id


def test_reply_prefix_from_someone_else_is_a_new_ticket(support, deliver, opened):
    [row] = deliver(mail(sender="dave@customer.test", subject="Re: Printer on fire"))
    assert row.ticket_id != opened[0].ticket_id


def test_reply_prefix_to_a_resolved_ticket_is_a_new_ticket(support, deliver, opened):
    acme, _ = support
    with acme.scope():
        ticket_change_status(ticket=opened[0].ticket, status=Status.objects.get(name="Resolved"))
    [row] = deliver(mail(sender=CAROL, subject="Re: Printer on fire"))
    assert row.ticket_id != opened[0].ticket_id


def test_reply_prefix_after_fourteen_days_is_a_new_ticket(support, deliver, opened):
    acme, _ = support
    with acme.scope():
        Ticket.objects.filter(pk=opened[0].ticket_id).update(
            last_activity_at=timezone.now() - timedelta(days=15)
        )
    [row] = deliver(mail(sender=CAROL, subject="Re: Printer on fire"))
    assert row.ticket_id != opened[0].ticket_id


def test_token_wins_over_subject_tag(support, deliver, opened):
    acme, _ = support
    [other] = deliver(mail(sender=CAROL, subject="Second matter"))
    ours = mail_tokens.make_message_id(acme.org.pk, other.ticket_id)
    [reply] = deliver(mail(sender=CAROL, subject="Re: [#1] Printer on fire", in_reply_to=ours))
    assert (reply.ticket_id, reply.reason) == (other.ticket_id, "reply on #2 by token")


def test_customer_reply_reopens_resolved_ticket(support, deliver, opened):
    acme, _ = support
    with acme.scope():
        ticket_change_status(ticket=opened[0].ticket, status=Status.objects.get(name="Resolved"))
    deliver(mail(sender=CAROL, subject="Re: Printer on fire", in_reply_to=opened[1]))
    with acme.scope():
        assert Ticket.objects.get(pk=opened[0].ticket_id).status.name == "Open"


def test_reply_from_new_person_adds_them_as_collaborator(support, deliver, opened):
    acme, _ = support
    deliver(
        mail(
            sender="dave@customer.test",
            cc="erin@customer.test, support@acme.test",
            subject="Re: Printer on fire",
            in_reply_to=opened[1],
        )
    )
    with acme.scope():
        emails = Collaborator.objects.order_by("contact__email").values_list("contact__email")
        assert [e for (e,) in emails] == ["dave@customer.test", "erin@customer.test"]
        assert Contact.objects.filter(email="support@acme.test").exists() is False


def test_outbound_message_id_threads(support, deliver, opened):
    from outbound_mail.models import OutgoingMessage

    acme, _ = support
    with acme.scope():
        OutgoingMessage.objects.create(
            organization=acme.org,
            ticket=opened[0].ticket,
            kind=OutgoingMessage._meta.get_field("kind").choices[0][0],
            to_address="carol@customer.test",
            subject="s",
            body_text="b",
            message_id="legacy-unsigned-id@old.helpdesk.test",
        )
    [reply] = deliver(mail(subject="x", in_reply_to="legacy-unsigned-id@old.helpdesk.test"))
    assert reply.ticket_id == opened[0].ticket_id
    with acme.scope():
        assert selectors.inbound_addresses() == {"support@acme.test"}
