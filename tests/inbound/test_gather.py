"""Gathering single arrivals (inbound_mail.gather): messages stored one at a time are processed
together through the batch path, a lone one within its window, and nothing is lost when the
cache, the broker or the task fails."""

import math
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.utils import timezone
from django_scopes import scopes_disabled

from inbound_mail import gather, tasks
from inbound_mail.models import InboundMessage
from inbound_mail.services import batch, intake, quarantine
from tests.inbound.mails import mail, new_message_id
from tickets.models import Ticket

WINDOW = 0.2


@pytest.fixture(autouse=True)
def _window(settings, monkeypatch):
    """A fixed window length, and a clock that stands still inside one window (real time, so
    the rows intake stamps fall in it): arrivals of a test never straddle two windows."""
    settings.INBOUND_GATHER_SECONDS = WINDOW
    now = timezone.now().timestamp()
    monkeypatch.setattr(gather, "time", SimpleNamespace(time=lambda: now))


@pytest.fixture
def published(monkeypatch):
    """The gathered tasks queued (args, kwargs, countdown), held instead of run; `run()` runs
    them as a worker would once their countdown is over."""
    calls = []

    def apply_async(args, kwargs, *, countdown):
        calls.append((args, kwargs, countdown))

    def run():
        while calls:
            args, kwargs, _ = calls.pop(0)
            tasks.process_gathered.apply(args, kwargs)

    monkeypatch.setattr(tasks.process_gathered, "apply_async", apply_async)
    return SimpleNamespace(calls=calls, run=run)


@pytest.fixture
def batches(monkeypatch):
    """The ids each batch of the batch path claimed, in the order the batches ran."""
    claimed_per_batch = []
    real = batch._process

    def spy(claim, *, retry):
        counts, claimed = real(claim, retry=retry)
        claimed_per_batch.append(claimed)
        return counts, claimed

    monkeypatch.setattr(batch, "_process", spy)
    return claimed_per_batch


def _store(raw: bytes, capture) -> int:
    """One message through intake as a webhook stores it: its own transaction and commit."""
    with capture(execute=True):
        [inbound_id] = intake.inbound_receive(raw=raw, source="webhook").inbound_ids
    return inbound_id


def _rows(ids: list[int]) -> list[InboundMessage]:
    with scopes_disabled():  # the test reads the rows it made, of whichever tenant
        found = {row.pk: row for row in InboundMessage.objects.filter(pk__in=ids)}
    return [found[pk] for pk in ids]


def _statuses(ids: list[int]) -> list[str]:
    return [row.status for row in _rows(ids)]


# -- a lone message ---------------------------------------------------------------------------


def test_a_lone_message_is_processed_by_its_windows_task(support, batches, deliver):
    [row] = deliver(mail(subject="Alone"))
    assert (row.status, row.reason, row.ticket.subject) == ("processed", "new ticket", "Alone")
    assert batches == [[row.pk]]  # the batch path, not the one-message task


def test_a_lone_message_waits_one_window_at_most(
    support, published, django_capture_on_commit_callbacks
):
    acme, _ = support
    inbound_id = _store(mail(subject="Alone"), django_capture_on_commit_callbacks)
    [(args, kwargs, countdown)] = published.calls
    slot, window = args
    assert (kwargs, window, countdown) == ({"organization_id": acme.org.pk}, WINDOW, WINDOW)
    # It runs no earlier than the end of the window it was queued in: every arrival of the
    # window is committed by then (the embedded default's cache is each process's own).
    now = gather.time.time()
    assert slot == int(now // WINDOW)
    assert now + countdown >= (slot + 1) * WINDOW
    assert _statuses([inbound_id]) == ["received"]  # nothing before the task
    published.run()
    assert _statuses([inbound_id]) == ["processed"]


def test_gathering_off_keeps_the_one_message_task(
    support, settings, monkeypatch, batches, django_capture_on_commit_callbacks
):
    settings.INBOUND_GATHER_SECONDS = 0
    ran = []
    monkeypatch.setattr(tasks.process_gathered, "apply_async", lambda *a, **k: ran.append(a))
    inbound_id = _store(mail(subject="Alone"), django_capture_on_commit_callbacks)
    assert (_statuses([inbound_id]), ran, batches) == (["processed"], [], [])


# -- several in one window --------------------------------------------------------------------


def test_messages_stored_apart_in_one_window_are_one_batch(
    support, published, batches, django_capture_on_commit_callbacks
):
    acme, globex = support
    capture = django_capture_on_commit_callbacks
    ids = [_store(mail(subject=f"Webhook {n}"), capture) for n in range(3)]
    other = _store(mail(to="help@globex.test", subject="Globex"), capture)
    # One task per tenant and window, however many arrived.
    assert [kwargs for _, kwargs, _ in published.calls] == [
        {"organization_id": acme.org.pk},
        {"organization_id": globex.org.pk},
    ]
    published.run()
    assert batches == [ids, [other]]
    assert _statuses([*ids, other]) == ["processed"] * 4
    with acme.scope():
        assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
            "Webhook 0",
            "Webhook 1",
            "Webhook 2",
        ]


def test_a_window_with_more_than_a_batch_is_processed_in_chunks(
    support, settings, published, batches, django_capture_on_commit_callbacks
):
    settings.INBOUND_BATCH_SIZE = 2
    ids = [_store(mail(subject=f"Busy {n}"), django_capture_on_commit_callbacks) for n in range(5)]
    assert len(published.calls) == 1
    published.run()
    assert batches == [ids[:2], ids[2:4], ids[4:]]
    assert _statuses(ids) == ["processed"] * 5


def test_a_thread_stored_apart_lands_on_one_ticket_in_order(
    support, published, batches, django_capture_on_commit_callbacks
):
    acme, _ = support
    capture = django_capture_on_commit_callbacks
    root, second = new_message_id(), new_message_id()
    ids = [
        _store(mail(message_id=root, subject="VPN down"), capture),
        _store(
            mail(message_id=second, subject="Re: VPN down", in_reply_to=root, body="Still."),
            capture,
        ),
        _store(
            mail(subject="Re: VPN down", in_reply_to=second, references=[root], body="Up!"),
            capture,
        ),
        _store(mail(subject="AW: VPN down", body="Thanks."), capture),  # subject rule only
    ]
    published.run()
    assert batches == [ids]
    rows = _rows(ids)
    with acme.scope():
        ticket = Ticket.objects.get()
        bodies = [c.body_text.strip() for c in ticket.comments.order_by("created_at", "pk")]
    assert {row.ticket_id for row in rows} == {ticket.pk}
    assert bodies == ["Help, the printer is on fire.", "Still.", "Up!", "Thanks."]
    assert [row.reason for row in rows] == [
        "new ticket",
        f"reply on #{ticket.number} by message_id",
        f"reply on #{ticket.number} by message_id",
        f"reply on #{ticket.number} by subject",
    ]


def test_a_message_delivered_twice_in_a_window_is_one_ticket(
    support, published, django_capture_on_commit_callbacks
):
    acme, _ = support
    raw = mail(subject="Retried webhook")
    first = _store(raw, django_capture_on_commit_callbacks)
    again = _store(raw, django_capture_on_commit_callbacks)
    published.run()
    assert (first, _statuses([first])) == (again, ["processed"])
    with acme.scope():
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["Retried webhook"]


def test_an_arrival_after_the_task_claimed_queues_its_own(
    support, published, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = _store(mail(subject="Before the claim"), capture)
    published.run()  # the window's task gave up the window's key as it claimed
    later = _store(mail(subject="After the claim"), capture)  # same window (the clock stands)
    assert len(published.calls) == 1
    published.run()
    assert _statuses([first, later]) == ["processed", "processed"]


# -- nothing lost -----------------------------------------------------------------------------


def test_a_lost_gather_task_leaves_the_message_to_the_sweeper(
    support, published, django_capture_on_commit_callbacks
):
    acme, _ = support
    inbound_id = _store(mail(subject="Lost task"), django_capture_on_commit_callbacks)
    published.calls.clear()  # the broker lost it, or the worker died holding it
    assert _statuses([inbound_id]) == ["received"]
    assert quarantine.inbound_sweep() == []  # not due yet
    later = timezone.now() + intake.STUCK_AFTER + timedelta(seconds=1)
    assert quarantine.inbound_sweep(now=later) == [(acme.org.pk, inbound_id)]
    [row] = _rows([inbound_id])
    assert (row.status, row.attempts, row.ticket.subject) == ("processed", 1, "Lost task")


def test_a_failed_publish_is_retried_by_the_next_arrival(
    support, monkeypatch, published, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    hold = tasks.process_gathered.apply_async

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.process_gathered, "apply_async", broker_down)
    first = _store(mail(subject="Publish failed"), capture)  # robust: intake still succeeds
    monkeypatch.setattr(tasks.process_gathered, "apply_async", hold)
    second = _store(mail(subject="Broker back"), capture)
    assert len(published.calls) == 1  # the failed publish gave the window's key back
    published.run()
    assert _statuses([first, second]) == ["processed", "processed"]


def test_a_row_queued_long_before_the_window_is_the_sweepers(
    support, published, batches, django_capture_on_commit_callbacks
):
    """A row still `received` from long ago (its worker died on it, recording nothing) is not
    taken by every later window's task: the sweeper counts its tries and quarantines it."""
    capture = django_capture_on_commit_callbacks
    old = _store(mail(subject="Killed its worker"), capture)
    published.calls.clear()
    with scopes_disabled():  # the test moves its own row back in time
        earlier = timezone.now() - timedelta(minutes=3)
        InboundMessage.objects.filter(pk=old).update(
            received_at=earlier, due_at=earlier + intake.STUCK_AFTER
        )
    cache.clear()  # a later window
    new = _store(mail(subject="Next arrival"), capture)
    published.run()
    assert batches == [[new]]
    assert _statuses([old, new]) == ["received", "processed"]
    quarantine.inbound_sweep(now=timezone.now() + intake.STUCK_AFTER)
    assert _statuses([old]) == ["processed"]


def test_without_a_cache_every_arrival_queues_its_task(
    support, monkeypatch, published, django_capture_on_commit_callbacks
):
    def cache_down(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(gather, "_take", cache_down)
    monkeypatch.setattr(gather, "_release", cache_down)
    capture = django_capture_on_commit_callbacks
    ids = [_store(mail(subject=f"No cache {n}"), capture) for n in range(2)]
    assert len(published.calls) == 2
    published.run()  # the first task takes both; the second finds nothing left
    assert _statuses(ids) == ["processed", "processed"]


def test_the_embedded_default_gathers_in_process_memory(
    support, settings, published, batches, django_capture_on_commit_callbacks
):
    """No Redis: the cache is this process's memory (LocMemCache), as with `make run`."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    capture = django_capture_on_commit_callbacks
    ids = [_store(mail(subject=f"Embedded {n}"), capture) for n in range(3)]
    [(args, _, countdown)] = published.calls
    key = f"inbound:gather:{support[0].org.pk}:{args[0]}"
    assert cache.get(key) == 1  # the window is taken in this process's memory
    assert countdown == WINDOW < math.ceil(WINDOW) + 1  # the key outlives its window
    published.run()
    assert batches == [ids]
    assert _statuses(ids) == ["processed"] * 3


def test_the_window_is_a_key_of_the_configured_cache(
    support, published, django_capture_on_commit_callbacks
):
    """Redis under CI (a kept client of the cache's own server, under the cache's key name), or
    local memory: either way `cache.get` sees the window taken and given back."""
    [_store(mail(subject=f"Configured {n}"), django_capture_on_commit_callbacks) for n in range(2)]
    [(args, _, _)] = published.calls
    key = f"inbound:gather:{support[0].org.pk}:{args[0]}"
    assert cache.get(key) == 1
    gather.window_taken(support[0].org.pk, args[0])
    assert cache.get(key) is None
