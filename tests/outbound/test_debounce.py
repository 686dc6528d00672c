"""Customer updates wait for quiet and fold into one message; a controlled clock, no sleeping."""

from datetime import timedelta

from outbound_mail.services.notify import notify_event
from outbound_mail.services.sending import outgoing_send_due
from outbound_mail.services.templates import template_save
from tests.factories import make_ticket
from tests.outbound.conftest import T0, parts, rows, set_debounce
from tickets import events
from tickets.models import Status
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_change_status

CAROL = "carol@customer.test"


def at(seconds: int):
    return T0 + timedelta(seconds=seconds)


class Clock:
    """Drives one acme ticket through changes, each announced at an explicit time."""

    def __init__(self, tenant):
        self.tenant = tenant
        with tenant.scope(), events.muted():
            self.ticket = make_ticket(tenant.org)

    def notify(self, name, now, actor=None, **data) -> list[int]:
        """The ids of the rows due right after this change."""
        with self.tenant.scope():
            return notify_event(
                organization=self.tenant.org,
                name=name,
                ticket_id=self.ticket.pk,
                actor_user_id=actor.pk if actor else None,
                data=data,
                now=now,
            ).due

    def reply(self, text, now, *, send_now=False, public=True):
        with self.tenant.scope(), events.muted():
            comment = comment_create(
                ticket=self.ticket,
                body_text=text,
                author_user=self.tenant.agent,
                is_public=public,
            )
        data = {"comment_id": comment.pk, "public": public, "send_now": send_now}
        return self.notify(events.COMMENT_ADDED, now, self.tenant.agent, **data)

    def status(self, name, now, actor="agent"):
        with self.tenant.scope(), events.muted():
            old = self.ticket.status
            new = Status.objects.get(name=name)
            ticket_change_status(ticket=self.ticket, status=new)
            self.ticket.refresh_from_db()
        data = {
            "from": old.name,
            "to": new.name,
            "from_category": old.category,
            "to_category": new.category,
        }
        who = self.tenant.agent if actor == "agent" else None
        return self.notify(events.STATUS_CHANGED, now, who, **data)

    def send(self, now):
        with self.tenant.scope():
            return outgoing_send_due(organization=self.tenant.org, now=now)


def test_changes_within_the_wait_become_one_message(acme, mailer):
    clock = Clock(acme)
    clock.reply("We are looking into it.", at(0))
    clock.status("Pending", at(60))
    clock.reply("Could you send a photo?", at(90))
    assert [clock.send(at(200)), mailer.messages] == [0, []]
    assert clock.send(at(210)) == 1
    [received] = mailer.wait_for(1)
    assert parts(received.message)["text/plain"] == (
        "We are looking into it.\n\n— Acme Agent\n\n"
        "Status changed from New to Pending.\n\n"
        "Could you send a photo?\n\n— Acme Agent\n\n"
        "Ticket #1: Printer on fire (Pending)\nReply to this email to answer.\n"
    )
    [row] = rows(acme, to_address=CAROL)
    assert (row.kind, row.status, len(row.changes)) == ("agent_reply", "sent", 3)
    with acme.scope():
        linked = sorted(row.comment_links.values_list("comment_id", flat=True))
    assert linked == sorted(c["comment_id"] for c in row.changes if c["type"] == "reply")


def test_send_now_skips_the_wait_and_takes_what_was_waiting(acme, mailer):
    clock = Clock(acme)
    clock.reply("First thoughts.", at(0))
    due = clock.reply("Urgent: switch it off.", at(30), send_now=True)
    assert len(due) == 1
    assert clock.send(at(30)) == 1
    text = parts(mailer.wait_for(1)[0].message)["text/plain"]
    assert text.split("\n\n")[:4] == [
        "First thoughts.",
        "— Acme Agent",
        "Urgent: switch it off.",
        "— Acme Agent",
    ]


def test_after_sending_the_next_change_starts_a_new_message(acme, mailer):
    clock = Clock(acme)
    clock.reply("One.", at(0))
    clock.send(at(120))
    clock.reply("Two.", at(130))
    clock.send(at(250))
    assert [r.status for r in rows(acme, to_address=CAROL)] == ["sent", "sent"]
    texts = [parts(m.message)["text/plain"].split("\n")[0] for m in mailer.wait_for(2)]
    assert texts == ["One.", "Two."]


def test_no_wait_sends_each_change_alone(acme, mailer):
    set_debounce(acme, 0)
    clock = Clock(acme)
    assert len(clock.reply("One.", at(0))) == 1
    assert len(clock.reply("Two.", at(1))) == 1
    assert clock.send(at(1)) == 2
    assert len(mailer.wait_for(2)) == 2


def test_resolution_alone_is_an_automatic_resolved_mail(acme, mailer):
    clock = Clock(acme)
    clock.status("Resolved", at(0))
    clock.send(at(120))
    message = mailer.wait_for(1)[0].message
    [row] = rows(acme, to_address=CAROL)
    assert (row.kind, message["Auto-Submitted"]) == ("ticket_resolved", "auto-generated")
    assert parts(message)["text/plain"].split("\n\n")[1] == (
        'We have resolved your request #1 "Printer on fire".'
    )


def test_a_reply_folded_with_the_resolution_is_not_automatic(acme, mailer):
    clock = Clock(acme)
    clock.status("Resolved", at(0))
    clock.reply("Fixed: it was the toner.", at(10))
    clock.send(at(130))
    message = mailer.wait_for(1)[0].message
    [row] = rows(acme, to_address=CAROL)
    assert (row.kind, row.automatic, message["Auto-Submitted"]) == ("agent_reply", False, None)


def test_status_changes_are_mailed_only_when_switched_on(acme, mailer):
    clock = Clock(acme)
    assert clock.status("Pending", at(0)) == []
    assert rows(acme, to_address=CAROL) == []
    with acme.scope():
        template_save(
            organization=acme.org,
            kind="status_changed",
            subject="Re: {{ ticket_subject }}",
            body_text="Now {{ status_to }}.",
            body_html="",
            enabled=True,
            user=None,
            now=T0,
        )
    clock.status("Open", at(10))
    clock.send(at(130))
    message = mailer.wait_for(1)[0].message
    assert parts(message)["text/plain"] == "Now Open.\n"


def test_the_customers_own_reopening_is_not_announced_to_them(acme, mailer):
    clock = Clock(acme)
    assert clock.status("Open", at(0), actor=None) == []
    assert rows(acme, to_address=CAROL) == []


def test_through_real_events_an_update_waits(acme, mailer, run):
    with acme.scope():
        with events.muted():
            ticket = make_ticket(acme.org)
        with run():
            comment_create(ticket=ticket, body_text="Hello", author_user=acme.agent)
    [row] = rows(acme, to_address=CAROL)
    assert (row.status, row.send_after - row.created_at) == ("pending", timedelta(minutes=2))
    assert mailer.messages == []
    with acme.scope():
        outgoing_send_due(organization=acme.org, now=row.send_after)
    assert len(mailer.wait_for(1)) == 1


def test_send_now_through_real_events_sends_the_waiting_update_at_once(acme, mailer, run):
    with acme.scope():
        with events.muted():
            ticket = make_ticket(acme.org)
        with run():
            comment_create(ticket=ticket, body_text="Looking.", author_user=acme.agent)
        assert mailer.messages == []
        with run():
            comment_create(
                ticket=ticket, body_text="Found it.", author_user=acme.agent, send_now=True
            )
    [received] = mailer.wait_for(1)
    assert parts(received.message)["text/plain"].split("\n\n")[:4] == [
        "Looking.",
        "— Acme Agent",
        "Found it.",
        "— Acme Agent",
    ]
    assert [(r.status, r.attempts) for r in rows(acme, to_address=CAROL)] == [("sent", 1)]
