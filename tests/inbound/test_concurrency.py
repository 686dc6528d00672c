"""Messages of one thread processed at the same moment by different workers make one ticket.

Needs PostgreSQL (row locks, real concurrent transactions); on SQLite one writer runs at a time
and there is nothing to prove. Each round starts its workers together at a barrier.
"""

import threading

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from inbound_mail import raw_mail, routing
from inbound_mail.models import InboundAddress, InboundMessage
from inbound_mail.services import batch, processing
from tenants.scoping import tenant_scope
from tests.inbound.mails import mail, new_message_id
from tickets.models import Ticket

pytestmark = pytest.mark.postgres
ROUNDS = 8


@pytest.fixture
def pg(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency needs PostgreSQL (run with DATABASE_URL=postgres://...)")


def _received(tenant, raw: bytes) -> int:
    """A row as intake leaves it (stored, committed, not yet processed)."""
    summary = routing.summarize(raw)
    with tenant.scope():
        return InboundMessage.objects.create(
            organization=tenant.org,
            source="command",
            sha256=raw_mail.store(raw),
            size=len(raw),
            message_id=summary.message_id,
            from_address=summary.from_address,
            subject=summary.subject,
        ).pk


def _process_together(tenant, ids: list[int]) -> list[Exception]:
    """Each message by its own worker, all at once."""
    return _together(tenant, ids, lambda pk: processing.inbound_process(inbound_id=pk))


def _batches_together(tenant, batches: list[list[int]]) -> list[Exception]:
    """Each batch by its own worker, all at once."""
    return _together(tenant, batches, lambda ids: batch.inbound_process_batch(inbound_ids=ids))


def _together(tenant, jobs: list, run) -> list[Exception]:
    barrier, errors = threading.Barrier(len(jobs)), []

    def work(job) -> None:
        try:
            barrier.wait(timeout=10)
            with tenant_scope(tenant.org):
                run(job)
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return errors


def _outcome(tenant, ids: list[int]) -> tuple[set[str], int]:
    with scopes_disabled():
        rows = InboundMessage.objects.filter(pk__in=ids)
        statuses = set(rows.values_list("status", flat=True))
        tickets = len(set(rows.values_list("ticket_id", flat=True)))
    return statuses, tickets


def test_original_and_replies_at_once_make_one_ticket(pg, support):
    acme, _ = support
    for n in range(ROUNDS):
        root = new_message_id()
        subject = f"Broken thing {n}"
        raws = [
            mail(subject=subject, message_id=root),
            mail(subject=f"Re: {subject}", in_reply_to=root, references=[root]),
            mail(subject=f"Re: {subject}", references=[root]),
            mail(subject=f"RE: {subject}", body="Outlook dropped the headers."),
        ]
        ids = [_received(acme, raw) for raw in raws]
        assert _process_together(acme, ids) == []
        assert _outcome(acme, ids) == ({"processed"}, 1), f"round {n}"
    with acme.scope():
        assert Ticket.objects.count() == ROUNDS


def test_one_message_to_two_addresses_at_once_makes_one_ticket(pg, support):
    acme, _ = support
    with acme.scope():
        # acme.test is no domain acme verified: the row is made as the fixture makes its own.
        InboundAddress.objects.create(organization=acme.org, address="sales@acme.test")
    for n in range(ROUNDS):
        message_id = new_message_id()
        ids = [
            _received(
                acme,
                mail(subject=f"Twice {n}", message_id=message_id, headers={"Delivered-To": to}),
            )
            for to in ("support@acme.test", "sales@acme.test")
        ]
        assert _process_together(acme, ids) == []
        assert _outcome(acme, ids) == ({"processed", "ignored"}, 1), f"round {n}"
    with acme.scope():
        assert Ticket.objects.count() == ROUNDS


def test_unrelated_messages_do_not_wait_for_each_other(pg, support):
    acme, _ = support
    ids = [_received(acme, mail(subject=f"Separate {n}", sender=f"c{n}@x.test")) for n in range(6)]
    assert _process_together(acme, ids) == []
    assert _outcome(acme, ids) == ({"processed"}, 6)


def test_two_batches_with_messages_of_the_same_threads_make_one_ticket_each(pg, support):
    """Originals in one worker's batch, their replies (by References, by subject) in the
    other's, processed at the same moment: the thread locks order them, one ticket a thread."""
    acme, _ = support
    for n in range(ROUNDS // 2):
        originals, replies = [], []
        for t in range(6):
            root, subject = new_message_id(), f"Batch thread {n}.{t}"
            sender = f"Person {t} <p{t}@batch.test>"
            originals.append(_received(acme, mail(sender=sender, subject=subject, message_id=root)))
            replies.append(
                _received(acme, mail(sender=sender, subject=f"Re: {subject}", references=[root]))
            )
            replies.append(_received(acme, mail(sender=sender, subject=f"AW: {subject}")))
        assert _batches_together(acme, [originals, replies]) == []
        for t in range(6):
            thread = [originals[t], replies[2 * t], replies[2 * t + 1]]
            assert _outcome(acme, thread) == ({"processed"}, 1), f"round {n} thread {t}"
    with acme.scope():
        assert Ticket.objects.count() == 6 * (ROUNDS // 2)


def test_thread_locks_are_advisory_locks_held_until_commit(pg, support):
    from django.db import transaction

    from inbound_mail import locks

    acme, _ = support
    keys = ["id:a@x.test", "id:b@x.test", "subject:c@x.test:printer", "id:a@x.test"]

    def held() -> int:
        with connection.cursor() as cursor:  # tests may read pg_locks directly
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = "
                "pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    with transaction.atomic():
        assert locks.lock_thread_keys(acme.org.pk, keys) == 3
        assert held() == 3
    assert held() == 0
