"""Threading in the shapes real clients produce (issue 16, section 3): forwards are new, a
collaborator's subject-only reply, mangled Message-IDs, Outlook's Thread-Index and
Thread-Topic, and the support address named only in Bcc."""

import base64
from datetime import timedelta

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from inbound_mail.models import ConversationIndex, InboundMessage
from inbound_mail.parsing import parse_message
from inbound_mail.routing import summarize
from inbound_mail.services import batch, intake, processing
from inbound_mail.threading import Lookup, recent_open_for
from tests.inbound.mails import mail, new_message_id
from tickets import mail_tokens
from tickets.models import Collaborator, Status, Ticket
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import collaborator_add, ticket_change_status

CAROL = "Carol <carol@customer.test>"
DAVE = "Dave <dave@customer.test>"
# An Outlook conversation: reserved byte, five time bytes, a 16-byte GUID.
OUTLOOK_HEADER = bytes.fromhex("0101d3f1f31963a06e87edc31c48a0e34cd82364cebd")
CHILD = bytes.fromhex("a43c024f26")


def raw_mail(*headers: str, body: str = "Some text.") -> bytes:
    """Exactly these header lines (CRLF), then the body: shapes the builder would tidy."""
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


def thread_index(*blocks: bytes) -> str:
    return base64.b64encode(b"".join(blocks)).decode("ascii")


def _count(tenant) -> int:
    with tenant.scope():
        return Ticket.objects.count()


@pytest.fixture
def opened(support, deliver):
    """Carol's ticket in acme, Dave on Cc (so a collaborator); (row, message_id)."""
    message_id = new_message_id()
    [row] = deliver(mail(sender=CAROL, subject="Printer on fire", cc=DAVE, message_id=message_id))
    with support[0].scope():
        assert list(Collaborator.objects.values_list("contact__email", flat=True)) == [
            "dave@customer.test"
        ]
    return row, message_id


# -- a forward is new -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "Fwd: Printer on fire",
        "FW: Printer on fire",
        "Fw: Printer on fire",
        "WG: Printer on fire",  # German Outlook
        "TR: Printer on fire",  # French Outlook
        "RV: Printer on fire",  # Spanish Outlook
        "Doorst: Printer on fire",  # Dutch
        "VL: Printer on fire",  # Finnish
        "转发: Printer on fire",  # Chinese
        "Fwd: Re: Printer on fire",  # a forwarded reply is still a forward
        "Printer on fire (fwd)",  # Pine
        "[EXTERNAL] FW: Printer on fire",  # behind a gateway's tag
    ],
)
def test_forward_with_the_title_of_an_open_ticket_is_a_new_ticket(
    support, deliver, opened, subject
):
    [row] = deliver(mail(sender=CAROL, subject=subject))
    assert (row.ticket_id != opened[0].ticket_id, row.reason) == (True, "new ticket")
    assert _count(support[0]) == 2


def test_outlook_forward_of_another_conversation_is_new_despite_its_topic(support, deliver, opened):
    raw = mail(
        sender=CAROL,
        subject="FW: Printer on fire",
        headers={
            "Thread-Index": thread_index(bytes(21) + b"\x07", CHILD),
            "Thread-Topic": "Printer on fire",
        },
    )
    [row] = deliver(raw)
    assert row.ticket_id != opened[0].ticket_id


def test_forward_that_answers_our_message_threads_by_its_headers(support, deliver, opened):
    acme, _ = support
    ours = mail_tokens.make_message_id(acme.org.pk, opened[0].ticket_id)
    [by_token] = deliver(mail(sender=CAROL, subject="Fwd: Printer on fire", in_reply_to=ours))
    [by_id] = deliver(mail(sender=CAROL, subject="WG: Printer on fire", references=[opened[1]]))
    assert (by_token.ticket_id, by_token.reason) == (opened[0].ticket_id, "reply on #1 by token")
    assert (by_id.ticket_id, by_id.reason) == (opened[0].ticket_id, "reply on #1 by message_id")


def test_reply_to_a_forward_is_a_reply(support, deliver, opened):
    [row] = deliver(mail(sender=CAROL, subject="Re: Fwd: Printer on fire"))
    assert (row.ticket_id, row.reason) == (opened[0].ticket_id, "reply on #1 by subject")


# -- a collaborator's subject-only reply ------------------------------------------------------


@pytest.mark.parametrize(
    "subject", ["Re: Printer on fire", "AW: Printer on fire", "RE: RE: Printer on fire"]
)
def test_collaborator_reply_with_only_the_subject_threads(support, deliver, opened, subject):
    [row] = deliver(mail(sender=DAVE, subject=subject))
    assert (row.ticket_id, row.reason) == (opened[0].ticket_id, "reply on #1 by subject")


def test_collaborator_reply_with_a_mixed_case_address_threads(support, deliver, opened):
    [row] = deliver(mail(sender="Dave <Dave@Customer.TEST>", subject="Re: Printer on fire"))
    assert row.ticket_id == opened[0].ticket_id


def test_subject_only_reply_from_someone_not_on_the_ticket_is_new(support, deliver, opened):
    [row] = deliver(mail(sender="erin@customer.test", subject="Re: Printer on fire"))
    assert row.ticket_id != opened[0].ticket_id


def test_collaborator_reply_to_a_resolved_ticket_is_new(support, deliver, opened):
    with support[0].scope():
        ticket_change_status(ticket=opened[0].ticket, status=Status.objects.get(name="Resolved"))
    [row] = deliver(mail(sender=DAVE, subject="Re: Printer on fire"))
    assert row.ticket_id != opened[0].ticket_id


def test_collaborator_of_an_old_ticket_is_new(support, deliver, opened):
    with support[0].scope():
        Ticket.objects.filter(pk=opened[0].ticket_id).update(
            last_activity_at=timezone.now() - timedelta(days=15)
        )
    [row] = deliver(mail(sender=DAVE, subject="Re: Printer on fire"))
    assert row.ticket_id != opened[0].ticket_id


def test_collaborator_in_another_tenant_does_not_thread(support, deliver, opened):
    [row] = deliver(mail(sender=DAVE, to="help@globex.test", subject="Re: Printer on fire"))
    assert (row.organization_id, row.reason) == (support[1].org.pk, "new ticket")


def test_collaborator_reply_threads_in_a_batch(support, deliver, opened):
    acme, _ = support
    receipts = [
        intake.inbound_receive(raw=mail(sender=s, subject=subject), source="command")
        for s, subject in ((DAVE, "Re: Printer on fire"), ("erin@customer.test", "Re: Other"))
    ]
    ids = [i for r in receipts for i in r.inbound_ids]
    with acme.scope():
        batch.inbound_process_batch(inbound_ids=ids)
        rows = [InboundMessage.objects.get(pk=pk) for pk in ids]
    assert [r.ticket_id == opened[0].ticket_id for r in rows] == [True, False]


# -- mangled Message-IDs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "In-Reply-To: =?utf-8?q?<{local}=40{domain}>?=",  # RFC 2047 Q, "@" as =40
        "In-Reply-To: =?us-ascii?B?{b64}?=",  # RFC 2047 B
        "References: <old@x.test>\r\n <{local}@\r\n {domain}>",  # folded inside the id
        "References: <{local}=40{domain}>",  # quoted-printable applied to the header
        "In-Reply-To: <{local}=\r\n =40{domain}>",  # with a soft line break, folded
        "In-Reply-To: {local}=40{domain}",  # no brackets either
    ],
)
def test_mangled_message_id_threads(support, deliver, opened, header):
    local, domain = opened[1].split("@")
    b64 = base64.b64encode(f"<{opened[1]}>".encode()).decode()
    raw = raw_mail(
        "From: Carol <carol@customer.test>",
        "To: support@acme.test",
        "Subject: Something else",
        f"Message-ID: <{new_message_id()}>",
        header.format(local=local, domain=domain, b64=b64),
    )
    [row] = deliver(raw)
    assert (row.ticket_id, row.reason) == (opened[0].ticket_id, "reply on #1 by message_id")


def test_gmail_id_holding_an_equals_sign_matches_mangled_and_as_is(support, deliver):
    original = "CAH+w=7YqZ@mail.gmail.com"
    [first] = deliver(mail(sender=CAROL, subject="Login", message_id=original))
    rows = [
        deliver(
            raw_mail(
                "From: Carol <carol@customer.test>",
                "To: support@acme.test",
                "Subject: Other words",
                f"Message-ID: <{new_message_id()}>",
                f"In-Reply-To: <{form}>",
            )
        )[0]
        for form in ("CAH+w=3D7YqZ@mail.gmail.com", original)
    ]
    assert [r.ticket_id for r in rows] == [first.ticket_id, first.ticket_id]


def test_mangled_ids_are_decoded_in_the_parse():
    parsed = parse_message(
        raw_mail(
            "From: a@x.test",
            "In-Reply-To: =?utf-8?q?<a=40x.test>?=",
            "References: <r1=40x.test> <CAx=3Dy@mail.gmail.com>\r\n <fold@\r\n x.test>",
        )
    )
    assert parsed.in_reply_to == ["a@x.test"]
    assert parsed.references == [
        "r1@x.test",
        "CAx=y@mail.gmail.com",
        "CAx=3Dy@mail.gmail.com",
        "fold@x.test",
    ]


# -- Outlook's Thread-Index and Thread-Topic --------------------------------------------------


def _outlook(sender: str, subject: str, *blocks: bytes, topic: str = "Printer on fire") -> bytes:
    return mail(
        sender=sender,
        subject=subject,
        headers={
            "Thread-Index": thread_index(*blocks),
            "Thread-Topic": topic,
            "X-Mailer": "Microsoft Outlook 16.0",
        },
    )


@pytest.fixture
def outlook_opened(support, deliver):
    """Carol's ticket opened from Outlook (a new conversation: the header block alone)."""
    [row] = deliver(_outlook(CAROL, "Printer on fire", OUTLOOK_HEADER, topic="Printer on fire"))
    with support[0].scope():
        assert list(ConversationIndex.objects.values_list("key", "ticket_id")) == [
            (OUTLOOK_HEADER.hex(), row.ticket_id)
        ]
    return row


@pytest.mark.parametrize(
    "encode",
    [
        lambda v: v,
        lambda v: v.replace("=", "=3D"),  # quoted-printable padding
        lambda v: v.replace("+", "&#43;"),  # an HTML entity from a web gateway
    ],
)
def test_outlook_reply_without_in_reply_to_threads_by_thread_index(
    support, deliver, outlook_opened, encode
):
    plain = thread_index(OUTLOOK_HEADER, CHILD, CHILD)  # "AQHT8fMZY6Buh+3D...TyY="
    index = encode(plain)
    assert ("+" in plain, "=" in plain) == (True, True)
    raw = mail(sender=CAROL, subject="new words", headers={"Thread-Index": index})
    [row] = deliver(raw)
    assert (row.ticket_id, row.reason) == (outlook_opened.ticket_id, "reply on #1 by thread_index")


def test_collaborator_in_the_conversation_threads_by_thread_index(support, deliver, outlook_opened):
    acme, _ = support
    with acme.scope():
        contact = contact_get_or_create(organization=acme.org, email="dave@customer.test")
        collaborator_add(ticket=outlook_opened.ticket, contact=contact)
    [row] = deliver(_outlook(DAVE, "Other words", OUTLOOK_HEADER, CHILD, CHILD))
    assert row.ticket_id == outlook_opened.ticket_id


def test_stranger_with_the_conversation_index_opens_a_new_ticket(support, deliver, outlook_opened):
    [row] = deliver(_outlook("mallory@evil.test", "Other words", OUTLOOK_HEADER, CHILD))
    assert row.ticket_id != outlook_opened.ticket_id


def test_later_mail_of_a_conversation_stores_no_second_row(support, deliver, outlook_opened):
    deliver(_outlook(CAROL, "RE: Printer on fire", OUTLOOK_HEADER, CHILD))
    with support[0].scope():
        assert ConversationIndex.objects.count() == 1


def test_our_signed_conversation_header_threads_without_a_row(support, deliver, opened):
    acme, _ = support
    ours = mail_tokens.make_conversation_header(acme.org.pk, opened[0].ticket_id, timezone.now())
    [row] = deliver(_outlook("someone@else.test", "Other words", ours, CHILD))
    assert (row.ticket_id, row.reason) == (opened[0].ticket_id, "reply on #1 by thread_index")
    with acme.scope():
        assert ConversationIndex.objects.count() == 0


def test_forged_or_foreign_conversation_header_does_not_thread(support, deliver, opened):
    acme, globex = support
    genuine = mail_tokens.make_conversation_header(acme.org.pk, opened[0].ticket_id, timezone.now())
    forged = genuine[:-1] + bytes([genuine[-1] ^ 1])
    [row] = deliver(_outlook(CAROL, "Other words", forged, CHILD, topic="Other words"))
    [foreign] = deliver(
        mail(
            sender=CAROL,
            to="help@globex.test",
            subject="Other words",
            headers={"Thread-Index": thread_index(genuine, CHILD)},
        )
    )
    assert row.ticket_id != opened[0].ticket_id
    assert (foreign.organization_id, foreign.reason) == (globex.org.pk, "new ticket")


def test_outlook_reply_behind_a_subject_rewriting_gateway_threads_by_topic(
    support, deliver, opened
):
    raw = _outlook(CAROL, "[EXTERNAL] RE: Printer on fire", bytes(21) + b"\x09", CHILD)
    [row] = deliver(raw)
    assert (row.ticket_id, row.reason) == (opened[0].ticket_id, "reply on #1 by subject")


def test_new_outlook_conversation_with_the_same_topic_is_new(support, deliver, opened):
    # The header block alone: a new conversation, whatever its topic.
    [row] = deliver(_outlook(CAROL, "[EXTERNAL] RE: Printer on fire", bytes(21) + b"\x0a"))
    assert row.ticket_id != opened[0].ticket_id


def test_thread_index_in_a_batch_threads_and_is_stored(support, deliver, outlook_opened):
    acme, _ = support
    raws = [
        _outlook(CAROL, "new words", OUTLOOK_HEADER, CHILD),
        _outlook("frank@customer.test", "Other", bytes(21) + b"\x0b"),
    ]
    ids = [i for raw in raws for i in intake.inbound_receive(raw=raw, source="command").inbound_ids]
    with acme.scope():
        batch.inbound_process_batch(inbound_ids=ids)
        rows = [InboundMessage.objects.get(pk=pk) for pk in ids]
        assert ConversationIndex.objects.count() == 2
    assert rows[0].ticket_id == outlook_opened.ticket_id
    assert rows[1].ticket_id not in (None, outlook_opened.ticket_id)


# -- the support address only in Bcc ----------------------------------------------------------


def test_support_address_only_in_bcc_is_routed(support, deliver):
    raw = raw_mail(
        "From: Carol <carol@customer.test>",
        "To: Boss <boss@customer.test>",
        "Bcc: support@acme.test",
        "Subject: Printer on fire",
        f"Message-ID: <{new_message_id()}>",
    )
    assert summarize(raw).recipients == ["boss@customer.test", "support@acme.test"]
    [row] = deliver(raw)
    assert (row.organization_id, row.reason) == (support[0].org.pk, "new ticket")


def test_bcc_of_two_tenants_reaches_both_and_bcc_never_becomes_a_collaborator(support, deliver):
    raw = raw_mail(
        "From: Carol <carol@customer.test>",
        "To: support@acme.test",
        "Bcc: help@globex.test, Boss <boss@customer.test>",
        "Subject: Printer on fire",
        f"Message-ID: <{new_message_id()}>",
    )
    rows = deliver(raw)
    assert [r.organization_id for r in rows] == sorted([support[0].org.pk, support[1].org.pk])
    with scopes_disabled():  # both tenants' rows
        assert Collaborator.objects.count() == 0


# -- the single-message path reads the same ---------------------------------------------------


def test_single_and_batch_lookups_agree_on_the_senders_open_tickets(support, deliver, opened):
    acme, _ = support
    with acme.scope():
        single = {a: Lookup().recent_open(a) for a in ("dave@customer.test", "carol@customer.test")}
        many = recent_open_for({"dave@customer.test", "carol@customer.test", "erin@x.test"})
    ticket = [opened[0].ticket_id]
    assert {a: [t.pk for t in found] for a, found in single.items()} == {
        "dave@customer.test": ticket,
        "carol@customer.test": ticket,
    }
    assert {a: [t.pk for t in found] for a, found in many.items()} == {
        "dave@customer.test": ticket,
        "carol@customer.test": ticket,
    }


def test_single_path_threads_a_collaborator_and_an_outlook_conversation(support, deliver, opened):
    acme, _ = support
    raws = [
        mail(sender=DAVE, subject="Re: Printer on fire"),
        _outlook(CAROL, "Printer on fire, again", bytes(21) + b"\x0c", topic="Other"),
        _outlook(CAROL, "Still?", bytes(21) + b"\x0c", CHILD, topic="Other"),
    ]
    ids = [i for raw in raws for i in intake.inbound_receive(raw=raw, source="command").inbound_ids]
    with acme.scope():
        for pk in ids:
            processing.inbound_process(inbound_id=pk)
        rows = [InboundMessage.objects.get(pk=pk) for pk in ids]
    assert rows[0].ticket_id == opened[0].ticket_id
    assert rows[1].ticket_id not in (None, opened[0].ticket_id)
    assert (rows[2].ticket_id, rows[2].reason) == (rows[1].ticket_id, "reply on #2 by thread_index")


def test_two_messages_of_one_outlook_conversation_in_one_batch_share_a_ticket(support):
    acme, _ = support
    header = bytes(21) + b"\x0d"
    raws = [
        _outlook(CAROL, "Scanner jammed", header, topic="Scanner jammed"),
        _outlook(CAROL, "more on this", header, CHILD, topic="Scanner jammed"),
    ]
    ids = [i for raw in raws for i in intake.inbound_receive(raw=raw, source="command").inbound_ids]
    with acme.scope():
        batch.inbound_process_batch(inbound_ids=ids)
        rows = [InboundMessage.objects.get(pk=pk) for pk in ids]
    assert (rows[1].ticket_id, rows[1].reason) == (rows[0].ticket_id, "reply on #1 by thread_index")
