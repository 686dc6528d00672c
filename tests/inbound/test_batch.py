"""Messages processed in batches (inbound_mail/batch.py) land exactly where the one-by-one path
puts them, with a fixed number of statements per batch, and a bad message or a failed write
never costs the others."""

import re
from collections import Counter
from unittest.mock import patch

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from inbound_mail import tasks
from inbound_mail.models import InboundMessage, ThreadReference
from inbound_mail.services import batch, intake, processing
from tenants.scoping import TenantMismatch, bulk_create_checked, tenant_scope
from tests.inbound import corpus
from tests.inbound.mails import mail, new_message_id
from tickets import events, mail_tokens
from tickets.models import Collaborator, Comment, StatusCategory, Ticket, TicketEvent
from tickets.services.bulk import Bulk
from tickets.services.defaults import default_status
from tickets.services.tickets import ticket_change_status


def _received(raws: list[bytes], *, fallback=None) -> list[int]:
    """Rows as intake leaves them: stored and committed, processing not yet run."""
    ids = []
    for raw in raws:
        receipt = intake.inbound_receive(raw=raw, source="command", fallback_organization=fallback)
        ids.extend(receipt.inbound_ids)
    return ids


def _rows(ids: list[int]) -> list[InboundMessage]:
    with scopes_disabled():  # the test compares rows of two tenants
        found = {r.pk: r for r in InboundMessage.objects.filter(pk__in=ids)}
    return [found[pk] for pk in ids]


def _in_batches(tenant, ids: list[int], size: int = 50) -> Counter:
    counts = Counter()
    with tenant.scope():
        for start in range(0, len(ids), size):
            counts.update(batch.inbound_process_batch(inbound_ids=ids[start : start + size]))
    return counts


def _one_by_one(tenant, ids: list[int]) -> None:
    with tenant.scope():
        for pk in ids:
            processing.inbound_process(inbound_id=pk)


def _shape(rows: list[InboundMessage]) -> list[tuple]:
    """Per message: status, reason (ticket numbers aside) and which earlier message's ticket it
    shares (the partition of messages into tickets, whatever the numbers)."""
    first_of: dict[int, int] = {}
    index_of = {row.pk: index for index, row in enumerate(rows)}
    shape = []
    for index, row in enumerate(rows):
        group = first_of.setdefault(row.ticket_id, index) if row.ticket_id else None
        reason = re.sub(r"#\d+", "#n", row.reason)
        reason = re.sub(r"message (\d+)", lambda m: f"message @{index_of[int(m[1])]}", reason)
        shape.append((row.status, reason, group))
    return shape


# -- the same results as one by one ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_whole_corpus_lands_as_it_does_one_by_one(acme, globex, monkeypatch):
    """All 699 real messages: batches of 50 for acme, one by one for globex; every message
    ends with the same status, reason and ticket grouping, and the tickets carry the same
    comments, collaborators and timeline."""
    corpus.require_corpus()
    for task in (tasks.process_inbound, tasks.process_inbound_batch):
        monkeypatch.setattr(task, "delay", lambda *args, **kwargs: None)  # processed below
    monkeypatch.setattr(tasks.process_gathered, "apply_async", lambda *args, **kwargs: None)
    raws = [raw for _label, raw in corpus.all_messages()]
    with events.muted():
        batched = _received(raws, fallback=acme.org)
        single = _received(raws, fallback=globex.org)
        counts = _in_batches(acme, batched)
        _one_by_one(globex, single)
    assert _shape(_rows(batched)) == _shape(_rows(single))
    assert sum(counts.values()) == len(batched)
    for tenant in (acme, globex):
        with tenant.scope():
            assert not InboundMessage.objects.filter(status="received").exists()
    assert _ticket_contents(acme) == _ticket_contents(globex)


def _ticket_contents(tenant) -> list[tuple]:
    with tenant.scope():
        return sorted(
            (
                t.subject,
                t.status_category,
                t.requester.email,
                tuple(sorted(t.comments.values_list("body_text", "is_public", "message_id"))),
                tuple(sorted(t.attachments.values_list("filename", "sha256", "inline"))),
                tuple(sorted(Collaborator.objects.filter(ticket=t).values_list("contact__email"))),
                tuple(sorted(t.events.values_list("kind", flat=True))),
            )
            for t in Ticket.objects.select_related("requester")
        )


def test_a_conversation_in_one_batch_is_one_ticket_in_order(acme, support):
    """An original and its replies fetched together (an IMAP backlog, one intake): each reply
    waits for the round after the message it answers, so all land on one ticket, in the order
    they arrived (not the order of their row ids, which intake assigns by sha256)."""
    root = new_message_id()
    second = new_message_id()
    raws = [
        mail(message_id=root, subject="VPN down"),
        mail(message_id=second, subject="Re: VPN down", in_reply_to=root, body="Still down."),
        mail(subject="Re: VPN down", in_reply_to=second, references=[root, second], body="Up!"),
        mail(subject="AW: VPN down", body="Thanks."),  # subject rule only
    ]
    with patch.object(tasks.process_inbound_batch, "delay"):  # run below, in this test
        receipts = intake.inbound_receive_many(raws=raws, source="imap")
    ids = [r.inbound_ids[0] for r in receipts]
    counts = _in_batches(acme, ids)
    assert counts == {"processed": 4}
    rows = _rows(ids)
    assert len({r.ticket_id for r in rows}) == 1
    with acme.scope():
        ticket = Ticket.objects.get()
        bodies = [c.body_text.strip() for c in ticket.comments.order_by("created_at", "pk")]
    assert bodies == ["Help, the printer is on fire.", "Still down.", "Up!", "Thanks."]
    assert [r.reason for r in rows][1:] == [
        f"reply on #{ticket.number} by message_id",
        f"reply on #{ticket.number} by message_id",
        f"reply on #{ticket.number} by subject",
    ]


def test_a_reply_reopens_its_resolved_ticket_with_the_same_events(acme, support):
    ticket_ids = _received([mail(message_id="root@customer.test", subject="Refund")])
    _in_batches(acme, ticket_ids)
    with acme.scope():
        ticket = Ticket.objects.get()
        ticket_change_status(ticket=ticket, status=default_status(StatusCategory.RESOLVED))
    reply = mail(
        subject="Re: Refund",
        in_reply_to="root@customer.test",
        cc="Dan <dan@customer.test>, support@acme.test",
        body="Not refunded yet.",
    )
    _in_batches(acme, _received([reply]))
    with acme.scope():
        ticket.refresh_from_db()
        assert ticket.status_category == StatusCategory.OPEN
        assert ticket.last_message_preview == "Not refunded yet."
        kinds = list(ticket.events.order_by("pk").values_list("kind", flat=True))
        collaborators = set(
            Collaborator.objects.filter(ticket=ticket).values_list("contact__email", flat=True)
        )
    assert kinds[-3:] == [
        TicketEvent.Kind.COMMENT,
        TicketEvent.Kind.STATUS,
        TicketEvent.Kind.COLLABORATOR,
    ]
    assert collaborators == {"dan@customer.test"}  # never our own address, nor the requester


def test_domain_events_fire_after_commit_for_each_ticket_and_comment(
    acme, support, django_capture_on_commit_callbacks
):
    heard = []
    for name in (events.TICKET_CREATED, events.COMMENT_ADDED):
        events.subscribe(name, heard.append)
    try:
        root = new_message_id()
        first = _received([mail(message_id=root), mail(subject="Other", body="x")])
        with django_capture_on_commit_callbacks(execute=True):
            _in_batches(acme, first)
        reply = _received([mail(subject="Re: Printer on fire", in_reply_to=root)])
        with django_capture_on_commit_callbacks(execute=True):
            _in_batches(acme, reply)
    finally:
        for name in (events.TICKET_CREATED, events.COMMENT_ADDED):
            events.unsubscribe(name, heard.append)
    assert [e.name for e in heard] == [events.TICKET_CREATED] * 2 + [events.COMMENT_ADDED]
    with acme.scope():
        comment = Comment.objects.order_by("pk").last()
    assert heard[-1].data["comment_id"] == comment.pk
    assert heard[-1].data["by_contact"] is True


def test_bounces_and_staff_mail_take_the_single_path_inside_a_batch(acme, support):
    root = new_message_id()
    _in_batches(acme, _received([mail(message_id=root, subject="Password")]))
    with acme.scope():
        ticket = Ticket.objects.get()
    ours = mail_tokens.make_staff_message_id(acme.org.pk, ticket.pk, acme.agent.pk)
    staff_reply = mail(
        sender="Agent <agent@acme.test>",
        subject="Re: Password [CLOSED]",
        in_reply_to=ours,
        body="Reset done.",
    )
    customer = mail(subject="Something else entirely", body="New question.")
    ids = _received([staff_reply, customer])
    counts = _in_batches(acme, ids)
    assert counts == {"processed": 2}
    staff_row, customer_row = _rows(ids)
    assert staff_row.reason == (
        f"staff public reply on #{ticket.number} by token, resolved; sender proven by token"
    )
    assert customer_row.reason == "new ticket"
    with acme.scope():
        ticket.refresh_from_db()
        assert ticket.status_category == StatusCategory.RESOLVED


def test_the_statement_count_does_not_grow_with_the_batch(acme, support):
    def statements(count: int) -> int:
        raws = [
            mail(
                sender=f"Person {i} <p{i}.{count}@customer{i}.test>",
                subject=f"Question {i} of {count}",
                cc=f"colleague{i}.{count}@customer{i}.test",
                attachments=[("log.txt", "text/plain", f"log {i} {count}".encode())],
            )
            for i in range(count)
        ]
        ids = _received(raws)
        with tenant_scope(acme.org), CaptureQueriesContext(connection) as captured:
            batch.inbound_process_batch(inbound_ids=ids)
        assert {r.status for r in _rows(ids)} == {"processed"}
        return len(captured.captured_queries)

    statements(2)  # the tenant's lock rows are made on the first batch
    few, many = statements(5), statements(40)
    assert few == many
    assert many <= 40  # against ~20 per message one by one


# -- faults ---------------------------------------------------------------------------------


def test_a_message_that_fails_does_not_hold_up_its_batch(acme, support, monkeypatch):
    ids = _received([mail(subject=f"Message {i}") for i in range(5)])
    broken = _rows(ids)[2]
    real_read = batch.raw_mail.read

    def read(sha256):
        if sha256 == broken.sha256:
            raise OSError("storage unavailable for this one")
        return real_read(sha256)

    monkeypatch.setattr(batch.raw_mail, "read", read)
    counts = _in_batches(acme, ids)
    assert counts == {"processed": 4, "failed": 1}
    row = _rows([broken.pk])[0]
    assert row.status == "failed"
    assert "storage unavailable" in row.reason
    assert row.attempts == 1
    assert row.due_at is not None  # retried later by the sweeper


def test_a_failed_write_rolls_the_batch_back_and_goes_one_by_one(acme, support, monkeypatch):
    ids = _received([mail(subject=f"Message {i}") for i in range(4)])

    def fail(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Bulk, "flush", fail)
    counts = _in_batches(acme, ids)
    assert counts == {"processed": 4}
    with acme.scope():
        assert Ticket.objects.count() == 4
        assert ThreadReference.objects.count() == 4


def test_a_batch_writes_only_rows_of_its_own_tenant(acme, globex):
    with acme.scope():
        stranger = Comment(organization_id=globex.org.pk, body_text="leak")
        with pytest.raises(TenantMismatch):
            bulk_create_checked(Comment, [stranger])
