"""Batched intake: the same rows and receipts as one message at a time, in a fixed number of
statements, with processing queued per tenant in chunks once the batch is committed."""

import io
import mailbox as mbox_files

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_scopes import scopes_disabled

from inbound_mail import raw_mail, routing, tasks
from inbound_mail.management.commands import ingest_email
from inbound_mail.models import InboundMessage, Mailbox, UnclaimedMessage
from inbound_mail.services import intake as intake_services
from tenants.models import Organization
from tests.inbound.mails import mail
from tickets import mail_tokens
from tickets.models import Ticket


@pytest.fixture
def queued(monkeypatch, settings):
    """What intake hands to Celery once it commits: (task, ids, organization_id) per call;
    lone messages get the one-message task (gathering them is test_gather.py's)."""
    settings.INBOUND_GATHER_SECONDS = 0
    calls = []

    def recorder(name):
        def delay(ids, *, organization_id):
            calls.append((name, ids, organization_id))

        return delay

    monkeypatch.setattr(tasks.process_inbound, "delay", recorder("one"))
    monkeypatch.setattr(tasks.process_inbound_batch, "delay", recorder("batch"))
    return calls


@pytest.fixture
def capture_all(django_capture_on_commit_callbacks):
    """The callbacks queued for after the commit, not run (the test runs them)."""
    return lambda: django_capture_on_commit_callbacks(execute=False)


def _rows() -> tuple[dict[int, tuple], dict[int, tuple]]:
    """Every tenant row and every platform quarantine row, by id: whose it is, what it holds."""
    with scopes_disabled():  # the test compares every tenant's rows at once
        inbound = {
            row.pk: (
                row.organization.slug,
                row.sha256,
                row.source,
                row.mailbox_id,
                row.size,
                row.envelope_recipients,
                row.message_id,
                row.from_address,
                row.subject,
                row.status,
                row.reason,
            )
            for row in InboundMessage.objects.select_related("organization")
        }
    unclaimed = {
        row.pk: (
            "platform",
            row.sha256,
            row.source,
            row.size,
            row.envelope_recipients,
            row.header_recipients,
            row.message_id,
            row.from_address,
            row.subject,
            row.reason,
        )
        for row in UnclaimedMessage.objects.all()
    }
    return inbound, unclaimed


def _outcome(intake, queued, capture) -> tuple:
    """Run an intake and describe its result without ids (they differ between runs); the
    database is rolled back afterwards so the next run starts from the same state."""
    with transaction.atomic():
        with capture() as callbacks:
            receipts = intake()
        for callback in callbacks:
            callback()
        inbound, unclaimed = _rows()
        transaction.set_rollback(True)
    described = [
        (
            r.sha256,
            [inbound[i][:2] for i in r.inbound_ids],
            unclaimed[r.unclaimed_id][:2] if r.unclaimed_id else None,
        )
        for r in receipts
    ]
    slugs = dict(Organization.objects.values_list("pk", "slug"))
    waiting: dict[str, list[str]] = {}
    for _, ids, org_id in queued:
        for i in [ids] if isinstance(ids, int) else ids:
            slug, sha = inbound[i][:2]
            assert slug == slugs[org_id]  # each task runs in the row's own tenant
            waiting.setdefault(slug, [])
            if sha not in waiting[slug]:  # one at a time queues a repeated message twice
                waiting[slug].append(sha)
    queued.clear()
    return described, sorted(inbound.values()), sorted(unclaimed.values()), waiting


def _one_by_one(raws, **options):
    return lambda: [intake_services.inbound_receive(raw=raw, **options) for raw in raws]


def _batch(raws, **options):
    return lambda: intake_services.inbound_receive_many(raws=raws, **options)


@pytest.fixture
def mixed(support, settings, django_capture_on_commit_callbacks):
    """A batch of every kind, with rows already there for two of its messages."""
    settings.INBOUND_MAX_BYTES = 3000
    to_acme, to_globex = mail(subject="Acme"), mail(to="help@globex.test", subject="Globex")
    waiting, done = mail(subject="Received before"), mail(subject="Processed before")
    with django_capture_on_commit_callbacks(execute=False):
        intake_services.inbound_receive(raw=waiting, source="command")
        intake_services.inbound_receive(raw=done, source="command")
    acme, _ = support
    with acme.scope():
        InboundMessage.objects.filter(sha256=raw_mail.digest(done)).update(status="processed")
    return [
        to_acme,
        to_globex,
        mail(to="support@acme.test, help@globex.test", subject="Both"),
        mail(to="nobody@unknown.test", subject="Nobody"),
        mail(subject="Too large", body="x" * 4000),
        to_acme,  # the same bytes twice in one batch
        waiting,  # still `received`: queued again
        done,  # processed: left alone
        mail(to="support+anything@acme.test", subject="Plus"),
        mail(to="nobody@unknown.test", subject="Nobody again"),
        to_globex,
    ]


def test_batch_records_what_one_by_one_records(mixed, queued, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    options = {"source": "command", "envelope_recipients": []}
    one_by_one = _outcome(_one_by_one(mixed, **options), queued, capture)
    batch = _outcome(_batch(mixed, **options), queued, capture)
    assert batch == one_by_one
    described, inbound, unclaimed, waiting = batch
    assert [len(ids) for _, ids, _ in described] == [1, 1, 2, 0, 1, 1, 1, 1, 1, 0, 1]
    assert [row[-2:] for row in inbound if row[8] == "Too large"] == [
        ("quarantined", intake_services._oversize_reason(len(mixed[4])))
    ]
    assert sorted(row[8] for row in unclaimed) == ["Nobody", "Nobody again"]
    acme_waiting = [raw_mail.digest(m) for m in (mixed[0], mixed[2], mixed[6], mixed[8])]
    assert waiting["acme"] == acme_waiting


def test_batch_with_a_fallback_tenant_matches_one_by_one(
    support, mixed, queued, django_capture_on_commit_callbacks
):
    _, globex = support
    capture = django_capture_on_commit_callbacks
    options = {"source": "command", "fallback_organization": globex.org}
    one_by_one = _outcome(_one_by_one(mixed, **options), queued, capture)
    batch = _outcome(_batch(mixed, **options), queued, capture)
    assert batch == one_by_one
    described, _, unclaimed, _ = batch
    assert (described[3][1], unclaimed) == ([("globex", raw_mail.digest(mixed[3]))], [])


def test_mailbox_batch_belongs_to_the_mailbox_tenant(
    support, mixed, queued, django_capture_on_commit_callbacks
):
    acme, _ = support
    with acme.scope():
        box = Mailbox.objects.create(
            organization=acme.org, name="Support", host="imap.test", username="u"
        )
    capture = django_capture_on_commit_callbacks
    options = {"source": "imap", "mailbox": box, "envelope_recipients": ["help@globex.test"]}
    one_by_one = _outcome(_one_by_one(mixed, **options), queued, capture)
    batch = _outcome(_batch(mixed, **options), queued, capture)
    assert batch == one_by_one
    _, inbound, unclaimed, _ = batch
    assert ({row[0] for row in inbound}, unclaimed) == ({"acme"}, [])


def test_envelope_recipient_routes_the_whole_batch(
    support, queued, django_capture_on_commit_callbacks
):
    raws = [mail(subject="One"), mail(to="nobody@unknown.test", subject="Two")]
    outcome = _outcome(
        _batch(raws, source="webhook", envelope_recipients=["HELP@globex.test"]),
        queued,
        django_capture_on_commit_callbacks,
    )
    assert [ids for _, ids, _ in outcome[0]] == [
        [("globex", raw_mail.digest(raws[0]))],
        [("globex", raw_mail.digest(raws[1]))],
    ]


def test_raw_bytes_are_stored_and_nothing_runs_before_commit(
    support, django_capture_on_commit_callbacks
):
    raws = [mail(subject=f"Stored {n}") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        receipts = intake_services.inbound_receive_many(raws=raws, source="command")
    assert [r.sha256 for r in receipts] == [raw_mail.digest(raw) for raw in raws]
    assert [default_storage.open(f"inbound/{r.sha256}").read() for r in receipts] == raws
    assert len(callbacks) == 1
    acme, _ = support
    with acme.scope():
        assert Ticket.objects.count() == 0


def test_batch_is_processed_once_committed(support, django_capture_on_commit_callbacks):
    acme, globex = support
    raws = [mail(subject="First"), mail(subject="Second"), mail(to="help@globex.test")]
    with django_capture_on_commit_callbacks(execute=True):
        intake_services.inbound_receive_many(raws=raws, source="command")
    with acme.scope():
        assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["First", "Second"]
    with globex.scope():
        assert list(Ticket.objects.values_list("subject", flat=True)) == ["Printer on fire"]


def test_empty_batch_does_nothing(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert intake_services.inbound_receive_many(raws=[], source="imap") == []


def _statements(count: int, tag: str) -> list[str]:
    raws = []
    for n in range(count):
        to = ("support@acme.test", "help@globex.test", "nobody@unknown.test")[n % 3]
        raws.append(mail(to=to, subject=f"{tag} {n}"))
    with CaptureQueriesContext(connection) as captured, transaction.atomic():
        receipts = intake_services.inbound_receive_many(raws=raws, source="command")
    assert len(receipts) == count
    return [q["sql"] for q in captured.captured_queries]


def test_statements_do_not_grow_with_the_batch(support):
    five, fifty = _statements(5, "few"), _statements(50, "many")
    assert len(fifty) == len(five)
    # One routing query for the whole batch; an insert and a read-back per tenant and for
    # the platform quarantine.
    assert sum("inbound_mail_inboundaddress" in sql for sql in fifty) == 1
    assert sum(sql.startswith("INSERT") for sql in fifty) == 3


def test_processing_is_queued_per_tenant_in_chunks(support, queued, settings, capture_all):
    acme, globex = support
    settings.INBOUND_BATCH_SIZE = 50
    raws = [mail(subject=f"Acme {n}") for n in range(120)]
    raws.insert(7, mail(to="help@globex.test", subject="Globex"))
    with capture_all() as callbacks:
        receipts = intake_services.inbound_receive_many(raws=raws, source="command")
    assert len(callbacks) == 4  # one per chunk: a failed publish loses no other chunk
    for callback in callbacks:
        callback()
    acme_ids = [r.inbound_ids[0] for n, r in enumerate(receipts) if n != 7]
    assert queued == [
        ("batch", acme_ids[:50], acme.org.pk),
        ("batch", acme_ids[50:100], acme.org.pk),
        ("batch", acme_ids[100:], acme.org.pk),
        ("one", receipts[7].inbound_ids[0], globex.org.pk),
    ]


def test_a_message_alone_keeps_the_one_message_task(support, queued, capture_all):
    acme, _ = support
    with capture_all() as callbacks:
        receipt = intake_services.inbound_receive(raw=mail(), source="command")
    for callback in callbacks:
        callback()
    assert queued == [("one", receipt.inbound_ids[0], acme.org.pk)]


def test_route_many_answers_like_route_from_one_lookup(support, django_assert_num_queries):
    _, globex = support
    token = mail_tokens.make_token(globex.org.pk, 42)
    recipients = [
        ["support@acme.test"],
        ["support+tag@acme.test"],
        [f"reply+{token}@elsewhere.test"],  # the signed token names its tenant
        ["reply+forged-1-aaaaaaaaaa@elsewhere.test"],
        ["nobody@unknown.test", "help@globex.test", "support@acme.test"],
        [],
    ]
    summaries = [routing.HeaderSummary("", "", "", r) for r in recipients]
    one_by_one = [routing.route(summary=s, envelope_recipients=[]) for s in summaries]
    with django_assert_num_queries(2):  # the addresses, and the tenant a token names
        batch = routing.route_many(summaries=summaries, envelope_recipients=[])
    assert batch == one_by_one
    assert [[o.slug for o in orgs] for orgs in batch] == [
        ["acme"],
        ["acme"],
        ["globex"],
        [],
        ["globex", "acme"],
        [],
    ]


# -- ingest_email in chunks --------------------------------------------------------------


def _ingest(*args, capture) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with capture(execute=True):
        call_command("ingest_email", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def _mbox(path, subjects) -> str:
    box = mbox_files.mbox(path)
    for subject in subjects:
        box.add(mail(subject=subject))
    box.close()
    return str(path)


def test_ingest_stores_an_mbox_in_chunks(
    support, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    acme, _ = support
    monkeypatch.setattr(ingest_email, "CHUNK_MESSAGES", 2)
    batches = []
    receive_many = intake_services.inbound_receive_many

    def counting(**options):
        batches.append(len(options["raws"]))
        return receive_many(**options)

    monkeypatch.setattr(intake_services, "inbound_receive_many", counting)
    path = _mbox(tmp_path / "archive.mbox", [f"Mbox {n}" for n in range(5)])
    out, _ = _ingest(path, capture=django_capture_on_commit_callbacks)
    assert (out, batches) == ("stored 5 message(s), 0 of them claimed by no tenant", [2, 2, 1])
    with acme.scope():
        assert Ticket.objects.count() == 5


def test_ingest_reports_a_refused_chunk_and_exits_75(
    support, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    acme, _ = support
    monkeypatch.setattr(ingest_email, "CHUNK_MESSAGES", 2)
    receive_many = intake_services.inbound_receive_many
    calls = []

    def flaky(**options):
        calls.append(1)
        if len(calls) == 2:
            raise DatabaseError("connection lost")
        return receive_many(**options)

    monkeypatch.setattr(intake_services, "inbound_receive_many", flaky)
    path = _mbox(tmp_path / "archive.mbox", [f"Mbox {n}" for n in range(5)])
    with pytest.raises(CommandError) as error:
        _ingest(path, capture=django_capture_on_commit_callbacks)
    assert (error.value.returncode, str(error.value)) == (75, "2 message(s) not stored")
    with acme.scope():
        assert sorted(InboundMessage.objects.values_list("subject", flat=True)) == [
            "Mbox 0",
            "Mbox 1",
            "Mbox 4",
        ]


def test_ingest_checks_every_path_before_storing_any(
    support, tmp_path, django_capture_on_commit_callbacks
):
    (tmp_path / "one.eml").write_bytes(mail())
    with pytest.raises(CommandError, match="no such file or folder"):
        _ingest(
            str(tmp_path / "one.eml"),
            str(tmp_path / "missing.eml"),
            capture=django_capture_on_commit_callbacks,
        )
    with scopes_disabled():  # nothing of any tenant
        assert InboundMessage.objects.count() == 0
