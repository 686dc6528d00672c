"""Who never gets mail: internal notes, automatic addresses, our own, undeliverable, too often."""

from datetime import timedelta

import pytest
from django.conf import settings

from outbound_mail.models import Notification
from outbound_mail.services.connections import mail_settings_save
from outbound_mail.services.notify import notify_event
from tests.factories import make_ticket
from tests.outbound.conftest import T0, rows, set_debounce
from tickets import events
from tickets.models import Contact, Status
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_get_or_create, contact_mark_undeliverable
from tickets.services.tickets import ticket_assign


def confirm(tenant, email, now=T0):
    with tenant.scope():
        with events.muted():
            ticket = make_ticket(tenant.org, email=email)
        notify_event(
            organization=tenant.org,
            name=events.TICKET_CREATED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"by_contact": True},
            now=now,
        )
    return ticket


def reply(tenant, ticket, text="Thanks", *, public=True, now=T0):
    with tenant.scope():
        with events.muted():
            comment = comment_create(
                ticket=ticket, body_text=text, author_user=tenant.agent, is_public=public
            )
        data = {"comment_id": comment.pk, "public": public, "send_now": True}
        notify_event(
            organization=tenant.org,
            name=events.COMMENT_ADDED,
            ticket_id=ticket.pk,
            actor_user_id=tenant.agent.pk,
            data=data,
            now=now,
        )
    return comment


def to(tenant, address):
    return [(r.kind, r.status, r.last_error) for r in rows(tenant, to_address=address)]


def test_internal_notes_never_reach_customers(acme, mailer, run):
    set_debounce(acme, 0)
    with acme.scope():
        with events.muted():
            ticket = make_ticket(acme.org)
        with run():
            comment_create(
                ticket=ticket,
                body_text="Customer is difficult",
                is_public=False,
                author_user=acme.agent,
            )
            comment_create(ticket=ticket, body_text="All fixed.", author_user=acme.agent)
    [message] = mailer.wait_for(1)
    raw = message.raw.decode()
    assert ("All fixed." in raw, "difficult" in raw) == (True, False)
    assert [(r.to_address, r.kind) for r in rows(acme)] == [("carol@customer.test", "agent_reply")]


@pytest.mark.parametrize(
    "address",
    [
        "mailer-daemon@customer.test",
        "postmaster@customer.test",
        "no-reply@customer.test",
        "noreply@customer.test",
        "do-not-reply+x@customer.test",
        "bounces-42@customer.test",
    ],
)
def test_automatic_mail_never_goes_to_system_addresses(acme, mailer, address):
    confirm(acme, address)
    assert to(acme, address) == [
        (
            "new_ticket_confirmation",
            "suppressed",
            "Not sent: the address belongs to a mail system or a no-reply sender.",
        )
    ]


def test_a_person_may_still_answer_a_no_reply_sender(acme, mailer):
    ticket = confirm(acme, "no-reply@customer.test")
    reply(acme, ticket)
    assert [s for _, s, _ in to(acme, "no-reply@customer.test")] == ["suppressed", "pending"]


@pytest.mark.parametrize(
    "address", ["support@acme.test", "support+abc@acme.test", f"x@{settings.MAIL_DOMAIN}"]
)
def test_nothing_ever_goes_to_our_own_addresses(acme, mailer, address):
    ticket = confirm(acme, address)
    reply(acme, ticket)
    loop = "Not sent: this is one of our own addresses (it would loop back as a ticket)."
    assert to(acme, address) == [
        ("new_ticket_confirmation", "suppressed", loop),
        ("agent_reply", "suppressed", loop),
    ]


def test_undeliverable_contacts_get_no_automatic_mail(acme, mailer):
    with acme.scope():
        contact = contact_get_or_create(organization=acme.org, email="gone@customer.test")
        contact_mark_undeliverable(contact=contact, reason="bounced: 5.1.1 unknown")
    ticket = confirm(acme, "gone@customer.test")
    reply(acme, ticket)  # a person may still try
    assert to(acme, "gone@customer.test") == [
        (
            "new_ticket_confirmation",
            "suppressed",
            "Not sent: gone@customer.test is marked undeliverable (bounced: 5.1.1 unknown).",
        ),
        ("agent_reply", "pending", ""),
    ]


def test_automatic_mail_is_capped_per_ticket_and_recipient(acme, mailer):
    set_debounce(acme, 0)
    with acme.scope():
        mail_settings_save(organization=acme.org, auto_mail_limit=2, auto_mail_window_minutes=60)
        with events.muted():
            ticket = make_ticket(acme.org)
        resolved, opened = Status.objects.get(name="Resolved"), Status.objects.get(name="Open")

    def resolve(now):
        with acme.scope():
            data = {"from": opened.name, "to": resolved.name, "to_category": "resolved"}
            notify_event(
                organization=acme.org,
                name=events.STATUS_CHANGED,
                ticket_id=ticket.pk,
                actor_user_id=acme.agent.pk,
                data=data,
                now=now,
            )

    for minute in (0, 1, 2, 61):
        resolve(T0 + timedelta(minutes=minute))
    statuses = [s for _, s, _ in to(acme, "carol@customer.test")]
    assert statuses == ["pending", "pending", "suppressed", "pending"]
    assert to(acme, "carol@customer.test")[2][2] == (
        "Not sent: 2 automatic messages already went to carol@customer.test on this ticket "
        "in 60 minutes."
    )


def test_an_auto_reply_on_a_ticket_is_listed_but_never_mailed(acme, mailer):
    with acme.scope():
        with events.muted():
            ticket = make_ticket(acme.org)
            ticket_assign(ticket=ticket, assignee=acme.agent)
            requester = Contact.objects.get(email="carol@customer.test")
            comment = comment_create(
                ticket=ticket,
                body_text="I am out of office.",
                author_contact=requester,
                channel="email",
                auto_generated=True,
            )
        data = {
            "comment_id": comment.pk,
            "public": True,
            "by_contact": True,
            "auto_generated": True,
        }
        notify_event(
            organization=acme.org,
            name=events.COMMENT_ADDED,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data=data,
            now=T0,
        )
        titles = list(Notification.objects.values_list("user__email", "title"))
    assert titles == [("agent@acme.test", "Carol replied on #1: Printer on fire")]
    assert rows(acme) == []
