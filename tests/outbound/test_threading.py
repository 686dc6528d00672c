"""Our headers thread the customer's answer: round trips through the real inbound pipeline."""

from email.message import EmailMessage

from django.utils import timezone

from inbound_mail.services import intake
from outbound_mail import selectors
from outbound_mail.services.connections import mail_settings_save
from outbound_mail.services.notify import notify_event
from outbound_mail.services.sending import outgoing_mark_bounced
from outbound_mail.threading import MAX_REFERENCES, TicketHistory, trim
from tests.factories import make_ticket
from tests.outbound.conftest import rows
from tickets import events
from tickets.models import Comment, Contact, Ticket
from tickets.services.comments import comment_create

CAROL = "carol@customer.test"


def first_mail(message_id="m1@customer.test") -> bytes:
    message = EmailMessage()
    message["From"] = f"Carol <{CAROL}>"
    message["To"] = "support@acme.test"
    message["Subject"] = "Printer on fire"
    message["Message-ID"] = f"<{message_id}>"
    message.set_content("Help, the printer is on fire.")
    return bytes(message)


def answer(received, body: str, *, to: str | None = None) -> bytes:
    """What a mail client builds when Carol presses Reply (RFC 5322 3.6.4)."""
    message = EmailMessage()
    message["From"] = f"Carol <{CAROL}>"
    message["To"] = to or str(received["Reply-To"] or received["From"])
    message["Subject"] = f"Re: {received['Subject']}"
    message["Message-ID"] = f"<r{timezone.now().timestamp()}@customer.test>"
    message["In-Reply-To"] = received["Message-ID"]
    references = str(received["References"] or "").split()
    message["References"] = " ".join([*references, str(received["Message-ID"])])
    quoted = "\n".join(
        f"> {line}" for line in received.get_body(("plain",)).get_content().splitlines()
    )
    message.set_content(f"{body}\n\nOn Monday, Acme wrote:\n{quoted}\n")
    return bytes(message)


def deliver(run, raw: bytes, to: str) -> None:
    with run():
        intake.inbound_receive(raw=raw, source="command", envelope_recipients=[to])


def carol_mail(peer, n):
    return [m.message for m in peer.wait_for(n) if m.rcpt_tos == [CAROL]]


def conversation(tenant) -> list[tuple[str, str]]:
    with tenant.scope():
        [ticket] = Ticket.objects.all()
        return [(c.author_name, c.body_text.strip()) for c in ticket.comments.all()]


def test_customer_answer_to_our_reply_lands_on_the_ticket(acme, mailer, run):
    deliver(run, first_mail(), "support@acme.test")
    [confirmation] = carol_mail(mailer, 3)
    assert (confirmation["In-Reply-To"], confirmation["Subject"]) == (
        "<m1@customer.test>",
        "Re: Printer on fire [#1]",
    )
    reply_to = str(confirmation["Reply-To"])
    deliver(run, answer(confirmation, "It is still burning."), reply_to)
    assert conversation(acme) == [
        ("Carol", "Help, the printer is on fire."),
        ("Carol", "It is still burning."),
    ]


def test_answer_to_the_plain_address_threads_by_our_message_id(acme, mailer, run, settings):
    deliver(run, first_mail(), "support@acme.test")
    [confirmation] = carol_mail(mailer, 3)
    # No token in the address, a subject without the tag: only In-Reply-To names the ticket.
    raw = answer(confirmation, "Any news?", to="support@acme.test").replace(b" [#1]", b"")
    deliver(run, raw, "support@acme.test")
    assert [body for _, body in conversation(acme)] == [
        "Help, the printer is on fire.",
        "Any news?",
    ]


def test_agent_reply_round_trip_keeps_one_thread(acme, mailer, run):
    deliver(run, first_mail(), "support@acme.test")
    with acme.scope():
        ticket = Ticket.objects.get()
        mail_settings_save(organization=acme.org, debounce_seconds=0)
        with run():
            comment_create(ticket=ticket, body_text="Unplug it.", author_user=acme.agent)
    confirmation, agent_reply = carol_mail(mailer, 4)
    ids = [str(m["Message-ID"]) for m in (confirmation, agent_reply)]
    assert str(agent_reply["References"]).split() == ["<m1@customer.test>", ids[0]]
    deliver(run, answer(agent_reply, "Done, thanks."), str(agent_reply["Reply-To"]))
    assert [body for _, body in conversation(acme)] == [
        "Help, the printer is on fire.",
        "Unplug it.",
        "Done, thanks.",
    ]


def test_a_bounce_of_our_mail_marks_it_and_the_contact(acme, mailer, run):
    deliver(run, first_mail(), "support@acme.test")
    [confirmation] = carol_mail(mailer, 3)
    deliver(run, dsn(confirmation, CAROL), "support@acme.test")
    [row] = rows(acme, to_address=CAROL)
    with acme.scope():
        contact = Contact.objects.get(email=CAROL)
    assert (row.status, row.last_error) == ("bounced", "failed 5.1.1")
    assert (contact.undeliverable, contact.undeliverable_reason) == (True, "bounced: failed 5.1.1")
    page = acme.client(acme.agent).get("/agent/tickets/1/").content.decode()
    assert "<strong>carol@customer.test</strong>: Bounced" in page


def dsn(original, recipient: str) -> bytes:
    """A standard delivery status notification (RFC 3464) for `original`, as Postfix sends."""
    headers = "".join(f"{k}: {v}\r\n" for k, v in original.items())
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        "To: support@acme.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn1@mx.customer.test>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\n"
        f"Your message could not be delivered to {recipient}.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: User unknown\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}"
        "--B--\r\n"
    ).encode()


# -- the selectors the inbound side calls ------------------------------------------------------


def _sent(tenant):
    with tenant.scope():
        with events.muted():
            ticket = make_ticket(tenant.org)
        notify_event(
            organization=tenant.org,
            name=events.TICKET_CREATED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"by_contact": True},
            now=timezone.now(),
        )
    return ticket, rows(tenant, to_address=CAROL)[0]


def test_ticket_for_our_message_ids_is_per_tenant(acme, globex, mailer):
    acme_ticket, acme_row = _sent(acme)
    globex_ticket, globex_row = _sent(globex)
    with acme.scope():
        assert (
            selectors.ticket_id_for_message_ids(["<unknown@x.test>", f"<{acme_row.message_id}>"])
            == acme_ticket.pk
        )
        assert selectors.ticket_id_for_message_ids([globex_row.message_id]) is None
        assert selectors.ticket_id_for_message_ids([]) is None
    with globex.scope():
        assert selectors.ticket_id_for_message_ids([globex_row.message_id]) == globex_ticket.pk


def test_mark_bounced_touches_only_that_message_of_that_tenant(acme, globex, mailer):
    _, acme_row = _sent(acme)
    _, globex_row = _sent(globex)
    with acme.scope():
        wrong_tenant = outgoing_mark_bounced(
            organization=acme.org,
            original_message_id=f"<{globex_row.message_id}>",
            recipients=[CAROL],
            reason="5.1.1",
        )
        marked = outgoing_mark_bounced(
            organization=acme.org,
            original_message_id=f"<{acme_row.message_id}>",
            recipients=["alias-of-carol@customer.test"],
            reason="failed 5.1.1",
        )
    assert (wrong_tenant, marked) == (0, 1)
    assert [(r.status, r.last_error) for r in rows(acme, to_address=CAROL)] == [
        ("bounced", "failed 5.1.1")
    ]
    assert [r.status for r in rows(globex, to_address=CAROL)] == ["pending"]


def test_long_threads_keep_the_root_and_the_latest_references(acme):
    ids = [f"m{i}@x.test" for i in range(30)]
    assert trim(ids) == [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    with acme.scope(), events.muted():
        ticket = make_ticket(acme.org, message_id=ids[0])
        carol = Contact.objects.get(email=CAROL)
        for message_id in ids[1:]:
            comment_create(
                ticket=ticket, body_text="again", author_contact=carol, message_id=message_id
            )
        thread = TicketHistory(ticket.pk).thread(CAROL)
        assert Comment.objects.count() == 30
    assert (thread.in_reply_to, thread.references) == (ids[-1], trim(ids))
    assert len(thread.headers()["References"]) < 998  # RFC 5322 2.1.1, even before folding
