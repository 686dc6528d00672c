"""Intake: raw bytes stored first, routing by recipient, idempotency, crashes and retries."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.utils import timezone

from inbound_mail import gather, raw_mail, tasks
from inbound_mail.models import InboundAddress, InboundMessage, Mailbox, UnclaimedMessage
from inbound_mail.services import intake, processing, quarantine
from tests.inbound.mails import mail, new_message_id
from tickets import mail_tokens
from tickets.models import Comment, Ticket


def _tickets(tenant) -> list[tuple[int, str]]:
    with tenant.scope():
        return list(Ticket.objects.order_by("number").values_list("number", "subject"))


def test_raw_bytes_are_stored_before_processing(support, django_capture_on_commit_callbacks):
    acme, _ = support
    raw = mail(subject="Stored first")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        receipt = intake.inbound_receive(raw=raw, source="command")
    with acme.scope():
        row = InboundMessage.objects.get()
    assert (row.status, row.sha256, row.size) == ("received", raw_mail.digest(raw), len(raw))
    assert default_storage.open(f"inbound/{row.sha256}").read() == raw
    assert (row.subject, row.from_address) == ("Stored first", "carol@customer.test")
    assert receipt.inbound_ids == [row.pk]
    assert len(queued) == 1  # processing is queued for after the commit, not run inside it
    assert _tickets(acme) == []


def test_routes_by_recipient_never_by_from(support, deliver):
    acme, globex = support
    [row] = deliver(mail(sender="support@acme.test", to="help@globex.test", subject="To globex"))
    assert row.organization_id == globex.org.pk
    assert (_tickets(acme), _tickets(globex)) == ([], [(1, "To globex")])


def test_routes_by_cc_and_delivered_to(support, deliver):
    acme, globex = support
    [by_cc] = deliver(mail(to="someone@else.test", cc="help@globex.test"))
    raw = mail(to="list@else.test", headers={"Delivered-To": "support@acme.test"})
    [by_delivered_to] = deliver(raw)
    assert (by_cc.organization_id, by_delivered_to.organization_id) == (globex.org.pk, acme.org.pk)


def test_envelope_recipient_decides_over_headers(support, deliver):
    _, globex = support
    rows = deliver(mail(to="support@acme.test"), envelope_recipients=["HELP@globex.test"])
    assert [r.organization_id for r in rows] == [globex.org.pk]


def test_plus_address_routes_to_its_base_address(support, deliver):
    acme, _ = support
    [row] = deliver(mail(to="support+anything@acme.test"))
    assert row.organization_id == acme.org.pk


def test_mail_to_two_tenants_reaches_both(support, deliver):
    acme, globex = support
    rows = deliver(mail(to="support@acme.test, help@globex.test", subject="Both"))
    assert [r.organization_id for r in rows] == sorted([acme.org.pk, globex.org.pk])
    assert (_tickets(acme), _tickets(globex)) == ([(1, "Both")], [(1, "Both")])


def test_no_tenant_goes_to_platform_quarantine(support, deliver):
    raw = mail(to="nobody@unknown.test", subject="Lost")
    assert deliver(raw) == []
    row = UnclaimedMessage.objects.get()
    assert (row.subject, row.header_recipients, row.sha256) == (
        "Lost",
        ["nobody@unknown.test"],
        raw_mail.digest(raw),
    )
    assert default_storage.exists(f"inbound/{row.sha256}")


def test_fallback_tenant_takes_unclaimed_mail(support, deliver):
    _, globex = support
    [row] = deliver(mail(to="nobody@unknown.test"), fallback_organization=globex.org)
    assert (row.organization_id, UnclaimedMessage.objects.count()) == (globex.org.pk, 0)


def test_same_bytes_twice_is_one_row_and_one_ticket(support, deliver):
    acme, _ = support
    raw = mail()
    [first] = deliver(raw)
    [second] = deliver(raw)
    assert first.pk == second.pk
    assert _tickets(acme) == [(1, "Printer on fire")]


def test_same_message_to_two_addresses_of_a_tenant_is_one_ticket(support, deliver):
    acme, _ = support
    with acme.scope():
        # acme.test is no domain acme verified: the row is made as the fixture makes its own.
        InboundAddress.objects.create(organization=acme.org, address="sales@acme.test")
    message_id = new_message_id()
    [a] = deliver(mail(message_id=message_id, headers={"Delivered-To": "support@acme.test"}))
    [b] = deliver(mail(message_id=message_id, headers={"Delivered-To": "sales@acme.test"}))
    assert (a.status, b.status) == ("processed", "ignored")
    assert b.reason == f"duplicate of message {a.pk} (same Message-ID)"
    assert _tickets(acme) == [(1, "Printer on fire")]


def test_oversized_mail_is_kept_and_quarantined(support, deliver, settings):
    acme, _ = support
    settings.INBOUND_MAX_BYTES = 10_000
    raw = mail(body="x" * 20_000)
    [row] = deliver(raw)
    assert row.status == "quarantined"
    assert row.reason.startswith("too large: 0.0 MB, over the 0 MB limit")
    assert default_storage.open(f"inbound/{row.sha256}").read() == raw
    assert _tickets(acme) == []


def test_crash_after_raw_stored_then_redelivery_makes_one_ticket(
    support, deliver, django_capture_on_commit_callbacks
):
    acme, _ = support
    raw = mail(subject="Crashed")
    # The process dies after the commit, before the task is queued: nothing runs the callbacks.
    with django_capture_on_commit_callbacks(execute=False):
        intake.inbound_receive(raw=raw, source="imap", mailbox=None)
    assert _tickets(acme) == []
    # The source was never acknowledged, so it delivers again.
    [row] = deliver(raw)
    assert (row.status, _tickets(acme)) == ("processed", [(1, "Crashed")])
    deliver(raw)
    assert _tickets(acme) == [(1, "Crashed")]


def test_sweeper_queues_lost_tasks_again(support, django_capture_on_commit_callbacks):
    acme, _ = support
    # Queued after the commit, but the task never ran (broker lost it, or the worker died
    # holding it: its row lock went with its connection, and the row is simply `received`).
    with django_capture_on_commit_callbacks(execute=False):
        lost = intake.inbound_receive(raw=mail(subject="Lost task"), source="command")
    assert quarantine.inbound_sweep() == []  # not due yet: it may still be in the queue
    later = timezone.now() + intake.STUCK_AFTER + timedelta(seconds=1)
    assert quarantine.inbound_sweep(now=later) == [(acme.org.pk, lost.inbound_ids[0])]
    assert quarantine.inbound_sweep(now=later) == []
    with acme.scope():
        row = InboundMessage.objects.get()
    assert (row.status, row.attempts, _tickets(acme)) == ("processed", 1, [(1, "Lost task")])


def test_message_that_keeps_killing_its_worker_ends_in_quarantine(
    support, django_capture_on_commit_callbacks
):
    acme, _ = support
    with django_capture_on_commit_callbacks(execute=False):
        intake.inbound_receive(raw=mail(subject="Poison"), source="command")
    with acme.scope():
        # Every try died before it could record anything: the row is still `received`.
        InboundMessage.objects.update(attempts=processing.MAX_ATTEMPTS - 1)
    later = timezone.now() + intake.STUCK_AFTER + timedelta(seconds=1)
    assert quarantine.inbound_sweep(now=later) == []
    with acme.scope():
        row = InboundMessage.objects.get()
    assert (row.status, row.attempts) == ("quarantined", processing.MAX_ATTEMPTS)
    assert row.reason == (
        f"failed {processing.MAX_ATTEMPTS} times; last error: "
        "processing never finished (the task was lost or the worker died)"
    )


def test_failure_is_retried_with_backoff_then_quarantined(
    support, django_capture_on_commit_callbacks
):
    acme, _ = support
    raw = mail(subject="Raw went missing")
    sha = raw_mail.digest(raw)
    # The row exists but storage lost the raw bytes (never stored here): every try fails.
    with acme.scope():
        row = InboundMessage.objects.create(
            organization=acme.org,
            source="command",
            sha256=sha,
            size=len(raw),
            message_id="x@y",
            due_at=timezone.now() + intake.STUCK_AFTER,
        )
    tasks.process_inbound.delay(row.pk, organization_id=acme.org.pk)
    with acme.scope():
        row.refresh_from_db()
    statuses, now = [(row.status, row.attempts)], timezone.now()
    for _ in range(processing.MAX_ATTEMPTS - 1):
        now += timedelta(hours=1)
        quarantine.inbound_sweep(now=now)
        with acme.scope():
            row.refresh_from_db()
        statuses.append((row.status, row.attempts))
    assert statuses == [("failed", 1), ("failed", 2), ("failed", 3), ("quarantined", 4)]
    assert row.reason.startswith("failed 4 times; last error: RawMailMissing: the raw message")
    # Once the bytes are back, an admin's reprocess goes through.
    raw_mail.store(raw)
    with acme.scope(), django_capture_on_commit_callbacks(execute=True):
        quarantine.inbound_reprocess(message=row)
    row.refresh_from_db()
    assert (row.status, _tickets(acme)) == ("processed", [(1, "Raw went missing")])


def test_first_failure_waits_for_its_backoff(support):
    acme, _ = support
    with acme.scope():
        row = InboundMessage.objects.create(
            organization=acme.org,
            source="command",
            sha256="0" * 64,
            size=1,
            due_at=timezone.now() + intake.STUCK_AFTER,
        )
    tasks.process_inbound.delay(row.pk, organization_id=acme.org.pk)
    with acme.scope():
        row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.due_at - timezone.now() > processing.RETRY_DELAYS[0] - timedelta(seconds=5)
    assert quarantine.inbound_sweep() == []


def test_one_bad_message_never_blocks_the_next(support, deliver):
    acme, _ = support
    with acme.scope():
        bad = InboundMessage.objects.create(
            organization=acme.org,
            source="command",
            sha256="f" * 64,
            size=1,
            due_at=timezone.now(),
        )
    good = mail(subject="Behind the bad one")
    quarantine.inbound_sweep()
    [row] = deliver(good)
    with acme.scope():
        bad.refresh_from_db()
    assert (bad.status, row.status) == ("failed", "processed")
    assert _tickets(acme) == [(1, "Behind the bad one")]


def test_reprocess_accepts_an_oversized_message(
    support, deliver, settings, django_capture_on_commit_callbacks
):
    acme, _ = support
    settings.INBOUND_MAX_BYTES = 100
    [row] = deliver(mail(subject="Big but wanted"))
    with acme.scope():
        with django_capture_on_commit_callbacks(execute=True):
            quarantine.inbound_reprocess(message=row)
        row.refresh_from_db()
    assert (row.status, _tickets(acme)) == ("processed", [(1, "Big but wanted")])


def test_processing_twice_applies_once(support, deliver):
    acme, _ = support
    [row] = deliver(mail())
    with acme.scope():
        assert processing.inbound_process(inbound_id=row.pk) is None
        assert Comment.objects.count() == 1


@pytest.mark.parametrize("tag_kind", ["own", "other"])
def test_reply_token_in_recipient_routes_and_threads(support, deliver, tag_kind):
    acme, _ = support
    [first] = deliver(mail(subject="Token"))
    token = mail_tokens.make_token(acme.org.pk, first.ticket_id)
    # The plus-address base routes to acme; the token alone would too, even at another host.
    to = f"support+{token}@acme.test" if tag_kind == "own" else f"reply+{token}@mail.test"
    [reply] = deliver(mail(subject="No Re and no headers", to=to))
    assert (reply.organization_id, reply.ticket_id) == (acme.org.pk, first.ticket_id)


# -- a lone message outside any transaction (a webhook, LMTP, the mailgate) ------------------


@pytest.fixture
def held(monkeypatch):
    """The gathered tasks intake queues after its commit, held instead of run; the gather clock
    stands still, so a test's arrivals never straddle two windows."""
    now = time.time()
    monkeypatch.setattr(gather, "time", SimpleNamespace(time=lambda: now))
    calls = []
    monkeypatch.setattr(tasks.process_gathered, "apply_async", lambda *a, **k: calls.append(a))
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_lone_message_is_one_lookup_and_one_insert_that_commits_itself(
    support, held, django_assert_num_queries
):
    acme, _ = support
    with django_assert_num_queries(2) as captured:
        receipt = intake.inbound_receive(raw=mail(subject="Webhook"), source="webhook")
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    assert statements == ["SELECT", "INSERT"]  # the routing lookup, the row: no BEGIN, COMMIT
    with acme.scope():
        row = InboundMessage.objects.get()
    assert (receipt.inbound_ids, row.status, row.subject) == ([row.pk], "received", "Webhook")
    assert len(held) == 1  # queued at once: the INSERT committed itself


@pytest.mark.django_db(transaction=True)
def test_a_lone_redelivery_outside_a_transaction_finds_its_row(support, held):
    acme, _ = support
    raw = mail(subject="Redelivered")
    first = intake.inbound_receive(raw=raw, source="webhook")
    again = intake.inbound_receive(raw=raw, source="webhook")
    assert (first.inbound_ids, len(held)) == (again.inbound_ids, 1)  # the window's one task
    with acme.scope():
        InboundMessage.objects.update(status="processed")
    held.clear()
    cache.clear()  # a later window
    third = intake.inbound_receive(raw=raw, source="webhook")
    assert (third.inbound_ids, held) == (first.inbound_ids, [])  # done: nothing to queue
    with acme.scope():
        assert InboundMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_lone_message_whose_row_cannot_be_written_is_not_acknowledged(support, held):
    acme, _ = support
    with acme.scope():
        mailbox = Mailbox.objects.create(
            organization=acme.org, name="Gone", host="imap.acme.test", username="u"
        )
        Mailbox.objects.filter(pk=mailbox.pk).delete()  # the instance still names it
    with pytest.raises(IntegrityError):
        intake.inbound_receive(raw=mail(), source="imap", mailbox=mailbox)
    with acme.scope():
        assert InboundMessage.objects.count() == 0
    assert held == []
