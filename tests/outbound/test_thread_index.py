"""Outlook's Thread-Index and Thread-Topic on our mail ([MS-OXOMSG] 2.2.1.3): a stable, signed
22-byte conversation header per ticket and a 5-byte child block per message, so Outlook keeps
the ticket's mail in one conversation and a reply that keeps only the index finds its ticket."""

import base64
from email.message import EmailMessage

from django.utils import timezone

from outbound_mail.services.connections import mail_settings_save
from outbound_mail.threading import MAX_CHILD_BLOCKS, TicketHistory
from tests.factories import make_ticket
from tests.outbound.test_threading import CAROL, carol_mail, conversation, deliver, first_mail
from tickets import events, mail_tokens
from tickets.models import Contact, Ticket
from tickets.services.comments import comment_create


def _index(message) -> bytes:
    return base64.b64decode(str(message["Thread-Index"]))


def test_thread_index_is_the_tickets_signed_header_and_a_child_per_message(acme):
    with acme.scope(), events.muted():
        ticket = make_ticket(acme.org, subject="Re: Printer on fire", message_id="m1@x.test")
        carol = Contact.objects.get(email=CAROL)
        comment_create(
            ticket=ticket, body_text="again", author_contact=carol, message_id="m2@x.test"
        )
        headers = TicketHistory(ticket.pk).thread(CAROL).headers()
    index = base64.b64decode(headers["Thread-Index"])
    header = mail_tokens.make_conversation_header(acme.org.pk, ticket.pk, ticket.created_at)
    assert (index[:22], len(index)) == (header, 22 + 5 * 3)  # two earlier messages, this one
    assert mail_tokens.ticket_from_conversation_header(index[:22]) == (acme.org.pk, ticket.pk)
    assert headers["Thread-Topic"] == "Printer on fire"  # Outlook's topic has no prefix
    # Child blocks: TimeFlag 0 (less than a year since the header), sequence 0, 1, 2.
    children = [index[i : i + 5] for i in range(22, len(index), 5)]
    assert [(c[0] >> 7, c[4] & 0xF) for c in children] == [(0, 0), (0, 1), (0, 2)]


def test_time_bytes_are_the_high_bytes_of_the_tickets_filetime(acme):
    with acme.scope(), events.muted():
        ticket = make_ticket(acme.org)
    header = mail_tokens.make_conversation_header(acme.org.pk, ticket.pk, ticket.created_at)
    assert header[0] == 1  # reserved
    assert int.from_bytes(header[1:6], "big") == mail_tokens.filetime(ticket.created_at) >> 24


def test_a_ticket_without_mail_still_starts_a_conversation(acme):
    with acme.scope(), events.muted():
        ticket = make_ticket(acme.org)  # opened by an agent: nothing to refer to yet
        headers = TicketHistory(ticket.pk).thread(CAROL).headers()
    assert sorted(headers) == ["Thread-Index", "Thread-Topic"]
    assert len(base64.b64decode(headers["Thread-Index"])) == 22 + 5


def test_long_threads_keep_the_index_short(acme):
    with acme.scope(), events.muted():
        ticket = make_ticket(acme.org, message_id="m0@x.test")
        carol = Contact.objects.get(email=CAROL)
        for i in range(1, 40):
            comment_create(
                ticket=ticket, body_text="again", author_contact=carol, message_id=f"m{i}@x.test"
            )
        headers = TicketHistory(ticket.pk).thread(CAROL).headers()
    assert len(base64.b64decode(headers["Thread-Index"])) == 22 + 5 * MAX_CHILD_BLOCKS
    assert len(headers["Thread-Index"]) < 998  # RFC 5322 2.1.1


def test_tickets_have_distinct_headers_and_another_tenant_cannot_reuse_one(acme, globex):
    with acme.scope(), events.muted():
        one, two = make_ticket(acme.org), make_ticket(acme.org, subject="Other")
    headers = [
        mail_tokens.make_conversation_header(acme.org.pk, t.pk, t.created_at) for t in (one, two)
    ]
    assert headers[0] != headers[1]
    moved = headers[0][:6] + globex.org.pk.to_bytes(4, "big") + headers[0][10:]
    assert mail_tokens.ticket_from_conversation_header(moved) is None


def test_our_mail_carries_one_conversation_and_outlook_replies_find_the_ticket(acme, mailer, run):
    deliver(run, first_mail(), "support@acme.test")
    with acme.scope():
        ticket = Ticket.objects.get()
        mail_settings_save(organization=acme.org, debounce_seconds=0)
        with run():
            comment_create(ticket=ticket, body_text="Unplug it.", author_user=acme.agent)
    confirmation, agent_reply = carol_mail(mailer, 4)
    first, second = _index(confirmation), _index(agent_reply)
    assert first[:22] == second[:22]
    assert (len(first), len(second)) == (22 + 5 * 2, 22 + 5 * 3)
    assert str(agent_reply["Thread-Topic"]) == "Printer on fire"
    # Outlook answers to the plain address, keeps Thread-Index (one child more), drops
    # In-Reply-To and References, and the user rewrote the subject.
    answer = EmailMessage()
    answer["From"] = f"Carol <{CAROL}>"
    answer["To"] = "support@acme.test"
    answer["Subject"] = "It smells of smoke now"
    answer["Message-ID"] = f"<o{timezone.now().timestamp()}@customer.test>"
    answer["Thread-Index"] = base64.b64encode(second + bytes.fromhex("0000a1b2c3")).decode()
    answer["Thread-Topic"] = "Printer on fire"
    answer.set_content("Unplugged, it still smokes.")
    deliver(run, bytes(answer), "support@acme.test")
    assert [body for _, body in conversation(acme)] == [
        "Help, the printer is on fire.",
        "Unplug it.",
        "Unplugged, it still smokes.",
    ]
