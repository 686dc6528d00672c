"""What a message becomes: tickets, comments, contacts, attachments, staff replies, forwards,
auto-replies, bounces, loops and spam."""

import base64

import pytest
from django.conf import settings

from inbound_mail.models import SpamRule
from inbound_mail.services import sender_trust, spam
from tests.inbound.mails import authenticated, mail, new_message_id
from tickets import events, mail_tokens
from tickets.models import (
    Attachment,
    Collaborator,
    Comment,
    Contact,
    Status,
    Ticket,
)
from tickets.services.contacts import contact_get_or_create, customer_domain_add
from tickets.services.tickets import ticket_change_status

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def heard():
    received = []
    names = [events.TICKET_CREATED, events.COMMENT_ADDED, events.STATUS_CHANGED]
    for name in names:
        events.subscribe(name, received.append)
    yield received
    for name in names:
        events.unsubscribe(name, received.append)


def test_new_ticket_from_mail(support, deliver, heard):
    acme, _ = support
    message_id = new_message_id()
    raw = mail(
        sender="Carol Customer <Carol@Customer.test>",
        subject="Printer on fire",
        body="It smokes.\n\nOn Monday, Bob <bob@x.test> wrote:\n> earlier\n",
        message_id=message_id,
    )
    [row] = deliver(raw)
    with acme.scope():
        ticket = Ticket.objects.select_related("requester").get(pk=row.ticket_id)
        comment = Comment.objects.get(ticket=ticket)
    assert (ticket.subject, ticket.source, ticket.status_category) == (
        "Printer on fire",
        "email",
        "new",
    )
    assert (ticket.requester.email, ticket.requester.name) == (
        "carol@customer.test",
        "Carol Customer",
    )
    assert (comment.body_text, comment.channel, comment.message_id) == (
        "It smokes.",
        "email",
        message_id,
    )
    assert comment.full_text.startswith(
        "It smokes.\n\nOn Monday, Bob <bob@x.test> wrote:\n> earlier"
    )
    assert comment.body_html == "<p>It smokes.</p>"
    assert (comment.author_contact_id, comment.is_public) == (ticket.requester_id, True)
    assert [(e.name, e.ticket_id) for e in heard] == [(events.TICKET_CREATED, ticket.pk)]


def test_customer_from_sender_domain_mapping(support, deliver):
    acme, _ = support
    with acme.scope():
        known = contact_get_or_create(organization=acme.org, email="old@nw.test")
        # Mapping a domain files the contacts already known there, and every new one.
        mapping = customer_domain_add(
            organization=acme.org, domain="nw.test", customer_name="Northwind"
        )
        known.refresh_from_db()
    assert known.customer_id == mapping.customer_id
    [old] = deliver(mail(sender="old@nw.test", subject="One"))
    [new] = deliver(mail(sender="new@nw.test", subject="Two"))
    assert (old.ticket.customer_id, new.ticket.customer_id) == ((mapping.customer_id,) * 2)


def test_cc_become_collaborators_except_helpdesk_addresses(support, deliver):
    acme, globex = support
    cc = "Dave <dave@customer.test>, support+x@acme.test, help@globex.test, carol@customer.test"
    # Globex's address in Cc: globex gets its own copy; neither helpdesk becomes a collaborator.
    acme_row, globex_row = deliver(mail(sender="carol@customer.test", cc=cc))
    for tenant, row in ((acme, acme_row), (globex, globex_row)):
        with tenant.scope():
            emails = Collaborator.objects.filter(ticket_id=row.ticket_id).values_list(
                "contact__email", flat=True
            )
            assert list(emails) == ["dave@customer.test"]


def test_attachments_and_inline_images(support, deliver):
    acme, _ = support
    raw = mail(
        body="See the picture.",
        html='<p>See <img src="cid:pic1@x"><script>alert(1)</script></p>',
        attachments=[("report.pdf", "application/pdf", b"%PDF-1.4 report")],
    )
    # Put the image in as an inline part with a Content-ID, as mail clients do.
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    html_part = next(p for p in msg.walk() if p.get_content_type() == "text/html")
    html_part.add_related(
        PNG,
        maintype="image",
        subtype="png",
        cid="<pic1@x>",
        filename="pic.png",
        disposition="inline",
    )
    [row] = deliver(bytes(msg))
    with acme.scope():
        files = {a.filename: a for a in Attachment.objects.filter(ticket_id=row.ticket_id)}
        comment = Comment.objects.get(ticket_id=row.ticket_id)
    assert sorted(files) == ["pic.png", "report.pdf"]
    assert (files["pic.png"].inline, files["pic.png"].content_id) == (True, "pic1@x")
    assert files["report.pdf"].file.read() == b"%PDF-1.4 report"
    url = f"/agent/tickets/{row.ticket.number}/attachments/{files['pic.png'].pk}/"
    assert comment.body_html == f'<p>See <img src="{url}"></p>\n'
    assert comment.body_text == "See the picture."


def test_staff_reply_by_mail_is_a_public_reply(support, deliver, heard):
    acme, _ = support
    [first] = deliver(mail())
    # The agent's own token (in our mail to them) proves the reply is theirs (issue 9).
    ours = mail_tokens.make_staff_message_id(acme.org.pk, first.ticket_id, acme.agent.pk)
    raw = mail(
        sender=acme.agent.email, subject="Re: Printer on fire", body="Unplug it.", in_reply_to=ours
    )
    heard.clear()
    [reply] = deliver(raw)
    assert (reply.comment.author_user_id, reply.comment.is_public) == (acme.agent.pk, True)
    assert (reply.comment.body_text, reply.reason) == (
        "Unplug it.",
        "staff public reply on #1 by token; sender proven by token",
    )
    added = [e for e in heard if e.name == events.COMMENT_ADDED]
    assert [(e.actor_user_id, e.data["public"]) for e in added] == [(acme.agent.pk, True)]


@pytest.mark.parametrize(
    ("subject", "body", "public", "status"),
    [
        ("Re: Printer [PVT]", "Checked it.", False, "New"),
        ("Re: Printer", "[Reply to Team] between us\nChecked it.", False, "New"),
        ("Re: Printer [CLOSED]", "Done, closing.", True, "Resolved"),
        ("Re: Printer", "[PVT][CLOSED] Done quietly.", False, "Resolved"),
    ],
)
def test_staff_mail_markers(support, deliver, subject, body, public, status):
    acme, _ = support
    [first] = deliver(mail())
    ours = mail_tokens.make_staff_message_id(acme.org.pk, first.ticket_id, acme.agent.pk)
    [reply] = deliver(mail(sender=acme.agent.email, subject=subject, body=body, in_reply_to=ours))
    with acme.scope():
        ticket = Ticket.objects.select_related("status").get(pk=first.ticket_id)
    assert (reply.comment.is_public, ticket.status.name) == (public, status)
    assert "[" not in reply.comment.body_text.splitlines()[0]


GMAIL_FORWARD = """FYI, please help her.

---------- Forwarded message ---------
From: Dana Doe <dana@customer.test>
Date: Mon, 3 Mar 2025 at 10:00
Subject: Cannot log in
To: Acme Agent <agent@acme.test>

I cannot log in since this morning.
"""


def test_staff_forward_opens_ticket_for_original_sender(support, deliver):
    acme, _ = support
    with acme.scope():
        sender_trust.trusted_hosts_save(organization=acme.org, hosts=["mx.trusted.test"])
    raw = mail(sender=acme.agent.email, subject="Fwd: Cannot log in", body=GMAIL_FORWARD)
    [row] = deliver(authenticated(raw, domain="acme.test"))
    ticket = row.ticket
    with acme.scope():
        requester = Contact.objects.get(pk=ticket.requester_id)
    assert (ticket.subject, requester.email, requester.name) == (
        "Cannot log in",
        "dana@customer.test",
        "Dana Doe",
    )
    assert row.reason == "new ticket for dana@customer.test, forwarded by staff"
    assert "I cannot log in since this morning." in row.comment.body_text


def test_customer_forward_opens_ticket_for_the_customer(support, deliver):
    acme, _ = support
    [row] = deliver(
        mail(sender="carol@customer.test", subject="Fwd: Cannot log in", body=GMAIL_FORWARD)
    )
    with acme.scope():
        assert Contact.objects.get(pk=row.ticket.requester_id).email == "carol@customer.test"


AUTO = {"Auto-Submitted": "auto-replied"}


def test_auto_reply_on_a_thread_is_filed_but_never_reopens(support, deliver, heard):
    acme, _ = support
    message_id = new_message_id()
    [first] = deliver(mail(message_id=message_id))
    with acme.scope():
        ticket_change_status(ticket=first.ticket, status=Status.objects.get(name="Resolved"))
    heard.clear()
    raw = mail(subject="Out of office: Printer on fire", in_reply_to=message_id, headers=AUTO)
    [auto] = deliver(raw)
    with acme.scope():
        ticket = Ticket.objects.select_related("status").get(pk=first.ticket_id)
    assert (auto.ticket_id, ticket.status.name) == (first.ticket_id, "Resolved")
    assert auto.reason == "auto-generated: auto-submitted: auto-replied; filed on #1 by message_id"
    assert [(e.name, e.data["auto_generated"]) for e in heard] == [(events.COMMENT_ADDED, True)]


def test_auto_reply_alone_never_opens_a_ticket(support, deliver):
    acme, _ = support
    [row] = deliver(mail(subject="Automatic reply: away", headers={"Precedence": "bulk"}))
    assert (row.status, row.ticket_id) == ("ignored", None)
    assert row.reason.endswith("; no ticket to file it on")
    with acme.scope():
        assert Ticket.objects.count() == 0


def _dsn(original_id: str, recipient: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    boundary = "dsn-boundary"
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        "To: support@acme.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <{new_message_id('mx.customer.test')}>\r\nAuto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        f'boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: support@acme.test\r\nTo: {recipient}\r\nMessage-ID: <{original_id}>\r\n"
        "Subject: [#1] Printer on fire\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def test_bounce_marks_outgoing_bounced_and_contact_undeliverable(support, deliver):
    from outbound_mail.models import OutgoingMessage

    acme, _ = support
    [first] = deliver(mail())
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    with acme.scope():
        kind = OutgoingMessage._meta.get_field("kind").choices[0][0]
        sent = OutgoingMessage.objects.create(
            organization=acme.org,
            ticket=first.ticket,
            kind=kind,
            status="sent",
            to_address="carol@customer.test",
            subject="s",
            body_text="b",
            message_id=ours,
        )
    [bounce] = deliver(_dsn(ours, "carol@customer.test"))
    with acme.scope():
        sent.refresh_from_db()
        contact = Contact.objects.get(email="carol@customer.test")
        assert Ticket.objects.count() == 1
    assert (bounce.status, bounce.ticket_id, sent.status) == (
        "processed",
        first.ticket_id,
        "bounced",
    )
    assert (contact.undeliverable, contact.undeliverable_reason) == (True, "bounced: failed 5.1.1")
    assert bounce.reason == (
        "bounce (failed 5.1.1) for carol@customer.test: 1 outgoing message(s) marked bounced; "
        "undeliverable: carol@customer.test"
    )


def test_bounce_about_mail_we_never_sent_changes_nothing(support, deliver):
    acme, _ = support
    deliver(mail())
    [bounce] = deliver(_dsn("someone-elses@example.test", "carol@customer.test"))
    with acme.scope():
        assert Contact.objects.get(email="carol@customer.test").undeliverable is False
        assert Ticket.objects.count() == 1
    assert (bounce.status, bounce.reason) == (
        "ignored",
        "bounce about a message we did not send: recorded only",
    )


def test_delay_warning_is_not_a_bounce(support, deliver):
    acme, _ = support
    [first] = deliver(mail())
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    [warning] = deliver(_dsn(ours, "carol@customer.test", action="delayed", status="4.4.1"))
    with acme.scope():
        assert Contact.objects.get(email="carol@customer.test").undeliverable is False
    assert (warning.status, warning.reason) == (
        "ignored",
        "delivery delayed, not failed (4.4.1): ignored",
    )


def test_our_own_mail_coming_back_is_dropped(support, deliver):
    acme, _ = support
    [first] = deliver(mail())
    ours = mail_tokens.make_message_id(acme.org.pk, first.ticket_id)
    # A notification we sent to an address that forwards to the support address.
    [loop] = deliver(mail(sender="support@acme.test", subject="[#1] Printer", message_id=ours))
    assert (loop.status, loop.reason) == ("ignored", f"loop: our own message <{ours}> came back")
    assert ours.endswith("@" + settings.MAIL_DOMAIN)
    with acme.scope():
        assert Comment.objects.count() == 1


@pytest.mark.parametrize(
    ("rule", "sender"), [("spam@bad.test", "spam@bad.test"), ("bad.test", "x@mail.bad.test")]
)
def test_spam_list_rejects_and_records(support, deliver, rule, sender):
    acme, _ = support
    with acme.scope():
        spam.spam_rule_add(organization=acme.org, value=rule)
    [row] = deliver(mail(sender=sender))
    [elsewhere] = deliver(mail(sender=sender, to="help@globex.test"))
    kind = "address" if "@" in rule else "domain"
    assert (row.status, row.reason) == ("ignored", f"spam: {kind} {rule} is on the spam list")
    assert elsewhere.status == "processed"  # globex has no such rule


def test_mark_as_spam_blocks_sender_and_closes_ticket(support, deliver):
    acme, _ = support
    [row] = deliver(mail(sender="pest@spam.test"))
    with acme.scope():
        spam.ticket_mark_spam(ticket=row.ticket, actor_user=acme.agent)
        ticket = Ticket.objects.select_related("status").get(pk=row.ticket_id)
        assert list(SpamRule.objects.values_list("value", "kind")) == [
            ("pest@spam.test", "address")
        ]
    assert ticket.status.name == "Closed"
    [again] = deliver(mail(sender="pest@spam.test", subject="again"))
    assert again.status == "ignored"


def test_message_without_any_sender_is_quarantined(support, deliver):
    raw = b"To: support@acme.test\r\nSubject: Who am I\r\nMessage-ID: <nosender@x>\r\n\r\nHello\r\n"
    [row] = deliver(raw)
    assert (row.status, row.reason) == (
        "quarantined",
        "no sender address (From, Sender, Reply-To): nobody to answer",
    )
