"""The outbox against a real SMTP server: retries, permanent failures, claims, the sweeper."""

from datetime import timedelta

import pytest
from django.utils import timezone

from outbound_mail import delivery, tasks, transport
from outbound_mail.models import OutgoingMessage, SmtpConnection
from outbound_mail.services.notify import notify_event
from outbound_mail.services.sending import (
    _record,
    outgoing_claim,
    outgoing_send_claimed,
    outgoing_send_due,
    outgoing_sweep_stuck,
)
from tests.factories import make_ticket
from tests.outbound.conftest import T0, connect, rows
from tests.peers import free_port
from tickets import events

CAROL = "carol@customer.test"
Status = OutgoingMessage.Status


def queue_confirmation(tenant, *, now=T0, email=CAROL):
    """A new ticket's mail queued at `now`: the confirmation and the agents' alerts."""
    with tenant.scope():
        with events.muted():
            ticket = make_ticket(tenant.org, email=email)
        notify_event(
            organization=tenant.org,
            name=events.TICKET_CREATED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"by_contact": True, "source": "email"},
            now=now,
        )
    return ticket


def send(tenant, now):
    with tenant.scope():
        return outgoing_send_due(organization=tenant.org, now=now)


def carol(tenant) -> OutgoingMessage:
    [row] = rows(tenant, to_address=CAROL)
    return row


def state(row):
    return (row.status, row.attempts, row.send_after, row.last_error)


def test_temporary_rcpt_failure_retries_with_backoff(acme, mailer):
    mailer.fail_rcpt(CAROL, 451, "4.7.1 Greylisted, try again", times=1)
    queue_confirmation(acme)
    assert send(acme, T0) == 3
    retry = "Attempt 1 failed, will retry: RCPT: 451 4.7.1 Greylisted, try again"
    assert state(carol(acme)) == (Status.PENDING, 1, T0 + timedelta(minutes=1), retry)
    assert send(acme, T0 + timedelta(seconds=59)) == 0
    assert send(acme, T0 + timedelta(minutes=1)) == 1
    assert (carol(acme).status, carol(acme).attempts, carol(acme).last_error) == ("sent", 2, "")
    assert [m.rcpt_tos for m in mailer.messages if CAROL in m.rcpt_tos] == [[CAROL]]


def test_temporary_data_failure_retries(acme, mailer):
    queue_confirmation(acme)
    mailer.fail_next_data(452, "4.3.1 Insufficient system storage")
    send(acme, T0)
    failed = [r for r in rows(acme) if r.status == Status.PENDING]
    assert [r.last_error for r in failed] == [
        "Attempt 1 failed, will retry: DATA: 452 4.3.1 Insufficient system storage"
    ]
    send(acme, T0 + timedelta(minutes=1))
    assert {r.status for r in rows(acme)} == {Status.SENT}
    assert len(mailer.wait_for(3)) == 3


def test_permanent_rcpt_failure_fails_at_once(acme, mailer):
    mailer.fail_rcpt(CAROL, 550, "5.1.1 <carol@customer.test>: User unknown")
    queue_confirmation(acme)
    send(acme, T0)
    row = carol(acme)
    assert (row.status, row.attempts, row.last_error) == (
        Status.FAILED,
        1,
        "RCPT: 550 5.1.1 <carol@customer.test>: User unknown",
    )
    assert send(acme, T0 + timedelta(days=2)) == 0
    assert sorted(m.rcpt_tos[0] for m in mailer.wait_for(2)) == [
        "admin@acme.test",
        "agent@acme.test",
    ]


def test_permanent_data_failure_fails_at_once(acme, mailer):
    queue_confirmation(acme)
    mailer.fail_next_data(554, "5.7.1 Message rejected as spam")
    send(acme, T0)
    assert [(r.status, r.last_error) for r in rows(acme) if r.status != Status.SENT] == [
        (Status.FAILED, "DATA: 554 5.7.1 Message rejected as spam")
    ]


def test_sender_refused_is_a_settings_problem_and_retried(acme, smtp_peer_factory):
    """530 on MAIL (our login is missing): 5xx, but not about the recipient, so retried."""
    connect(acme, smtp_peer_factory(auth=("mailer", "secret")))
    queue_confirmation(acme)
    send(acme, T0)
    row = carol(acme)
    assert (row.status, row.last_error) == (
        Status.PENDING,
        "Attempt 1 failed, will retry: MAIL: 530 5.7.0 Authentication required",
    )


def test_unreachable_server_retries_for_a_day_then_fails(acme):
    connect(acme, type("Gone", (), {"host": "127.0.0.1", "port": free_port()}))
    queue_confirmation(acme)
    now, waits = T0, []
    while carol(acme).status == Status.PENDING:
        send(acme, now)
        row = carol(acme)
        waits.append(row.send_after - now)
        now = row.send_after
    minutes = [int(w.total_seconds() // 60) for w in waits[:-1]]
    assert minutes == [1, 2, 5, 10, 20, 40, 60, 120, 240, 240, 240, 240, 240]
    assert row.status == Status.FAILED
    assert row.last_error == (
        "connection refused by the mail server (gave up after a day of retries)"
    )
    assert row.attempts == 14


def test_sending_twice_sends_once(acme, mailer):
    queue_confirmation(acme, now=timezone.now())
    for _ in range(2):
        with acme.scope():
            tasks.send_due.apply(kwargs={"organization_id": acme.org.pk})
    assert sorted(m.rcpt_tos[0] for m in mailer.wait_for(3)) == [
        "admin@acme.test",
        "agent@acme.test",
        CAROL,
    ]
    assert len(mailer.messages) == 3


def test_claimed_rows_are_not_claimed_again(acme, mailer):
    queue_confirmation(acme)
    with acme.scope():
        first_token, first = outgoing_claim(now=T0)
        _, second = outgoing_claim(now=T0)
    assert (len(first), second) == (3, [])
    assert {r.claim_token for r in first} == {first_token}


def test_sweeper_returns_stuck_rows_and_the_old_claim_cannot_record(acme, mailer):
    queue_confirmation(acme)
    with acme.scope():
        token, claimed = outgoing_claim(now=T0)
    assert outgoing_sweep_stuck(now=T0 + timedelta(minutes=9)) == 0
    assert outgoing_sweep_stuck(now=T0 + timedelta(minutes=11)) == 3
    assert {(r.status, r.claim_token) for r in rows(acme)} == {(Status.PENDING, "")}
    with acme.scope():
        late = transport.Outcome(ok=True, response="250 late")
        _record(claimed[0], late, token=token, now=T0 + timedelta(minutes=12))
    assert {r.status for r in rows(acme)} == {Status.PENDING}
    send(acme, T0 + timedelta(minutes=12))
    assert [(r.status, r.attempts) for r in rows(acme)] == [(Status.SENT, 2)] * 3
    assert len(mailer.wait_for(3)) == 3


def test_sweeper_leaves_other_tenants_rows_in_their_tenant(acme, globex, mailer):
    queue_confirmation(acme)
    queue_confirmation(globex)
    for tenant in (acme, globex):
        with tenant.scope():
            outgoing_claim(now=T0)
    assert outgoing_sweep_stuck(now=T0 + timedelta(hours=1)) == 6
    assert [r.organization_id for r in rows(acme)] == [acme.org.pk] * 3
    assert [r.organization_id for r in rows(globex)] == [globex.org.pk] * 3


def test_one_connection_carries_a_batch_and_a_dropped_one_is_reopened(acme, mailer):
    queue_confirmation(acme)
    send(acme, T0)
    with acme.scope():
        config = delivery.smtp_config(SmtpConnection.objects.get())
    session, reused = transport.pool.session(config)
    assert reused is True
    session.client.close()  # the server hung up on the idle connection
    queue_confirmation(acme, email="dave@customer.test")
    assert send(acme, T0) == 3
    assert len(mailer.wait_for(6)) == 6
    assert {r.status for r in rows(acme)} == {Status.SENT}


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(acme, smtp_peer_factory, monkeypatch, security):
    options = {"starttls": True} if security == "starttls" else {"implicit_tls": True}
    peer = smtp_peer_factory(auth=("mailer", "s3cret"), **options)
    monkeypatch.setenv("SSL_CERT_FILE", str(peer.cafile))  # trust the peer's throwaway CA
    connect(acme, peer, security=security, username="mailer", password="s3cret")
    queue_confirmation(acme)
    send(acme, T0)
    received = peer.wait_for(3)
    assert {(m.tls, m.authenticated_as) for m in received} == {(True, "mailer")}


def test_untrusted_certificate_is_refused_and_retried(acme, smtp_peer_factory):
    peer = smtp_peer_factory(starttls=True)
    connect(acme, peer, security="starttls")
    queue_confirmation(acme)
    send(acme, T0)
    row = carol(acme)
    assert row.status == Status.PENDING
    assert "CERTIFICATE_VERIFY_FAILED" in row.last_error
    assert peer.messages == []


def test_password_is_stored_encrypted(acme, smtp_peer):
    from django.db import connection

    connect(acme, smtp_peer, username="mailer", password="s3cret")
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM outbound_mail_smtpconnection")
        [(stored,)] = cursor.fetchall()
    assert stored.startswith("fernet:")
    assert "s3cret" not in stored


def test_rows_born_claimed_are_sent_by_their_worker_only(acme, mailer):
    with acme.scope():
        with events.muted():
            ticket = make_ticket(acme.org)
        queued = notify_event(
            organization=acme.org,
            name=events.TICKET_CREATED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"by_contact": True},
            now=T0,
            claim=True,
        )
        assert {(r.status, r.claim_token) for r in rows(acme)} == {(Status.SENDING, queued.token)}
        assert send(acme, T0) == 0  # another worker finds nothing to claim
        assert outgoing_send_claimed(organization=acme.org, queued=queued, now=T0) == 3
    assert [(r.status, r.attempts) for r in rows(acme)] == [(Status.SENT, 1)] * 3
    assert len(mailer.wait_for(3)) == 3


def test_a_claimer_that_dies_leaves_its_rows_to_the_sweeper(acme, mailer):
    with acme.scope():
        with events.muted():
            ticket = make_ticket(acme.org)
        notify_event(
            organization=acme.org,
            name=events.TICKET_CREATED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"by_contact": True},
            now=T0,
            claim=True,
        )  # ... and the worker dies before sending
    assert outgoing_sweep_stuck(now=T0 + timedelta(minutes=11)) == 3
    assert send(acme, T0 + timedelta(minutes=11)) == 3
    assert len(mailer.wait_for(3)) == 3


def test_beat_dispatch_sends_every_tenants_due_mail_in_batches(acme, globex, mailer):
    earlier = timezone.now() - timedelta(seconds=1)
    for i in range(19):  # 57 rows: more than one batch of 50
        queue_confirmation(acme, now=earlier, email=f"c{i}@customer.test")
    queue_confirmation(globex, now=earlier)
    assert tasks.dispatch_due.apply().get() == 2
    assert len(mailer.wait_for(60)) == 60
    assert {r.status for r in rows(acme) + rows(globex)} == {Status.SENT}
