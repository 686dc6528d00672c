"""An automation's mail to the requester and its notices to agents, through the real outbox to
a loopback SMTP server: the rule's own text, branded and threaded, and never where mail must not
go; notices to each kind of target after each agent's preference, in-app and by mail."""

import pytest
from django.db import transaction

from automations.actions import execute
from automations.facts import facts_for
from outbound_mail.models import Notification
from outbound_mail.services.automation_mail import AFTER_AUTOMATIC
from outbound_mail.services.connections import mail_settings_save
from outbound_mail.services.notify import notify_event
from outbound_mail.services.preferences import notification_defaults_save, preferences_save
from tenants import services as tenant_services
from tests.factories import make_ticket
from tests.outbound.conftest import T0, parts, rows
from tickets import causes, events, mail_tokens
from tickets.models import Ticket
from tickets.services.comments import comment_create
from tickets.services.contacts import contact_mark_undeliverable
from tickets.services.tickets import ticket_assign, ticket_change_team

RULE = causes.Cause(causes.AUTOMATION, "Pending reminder", "run-1", origin="o-1", depth=1)
REMINDER = {
    "type": "mail_requester",
    "subject": "Still waiting on {{ ticket_subject }}?",
    "body": "Hello {{ recipient_name }},\n\n#{{ ticket_number }} is {{ ticket_status }}.\n<b>x</b>",
}


@pytest.fixture
def act(run):
    """Run one action as the engine does; what it emitted is delivered after commit, as live."""

    def act(tenant, ticket, action, *, event=None, actor=None, cause=RULE):
        with tenant.scope(), run(), transaction.atomic(), causes.acting(cause):
            locked = Ticket.objects.select_for_update(of=("self",)).get(pk=ticket.pk)
            facts = facts_for(ticket=locked, event=event, now=T0) if event else None
            return execute(action, ticket=locked, facts=facts, actor_user=actor)

    return act


def quiet_ticket(tenant, **kwargs):
    with tenant.scope():
        return make_ticket(tenant.org, message_id="first@customer.test", **kwargs)


def sent(tenant) -> list[tuple[str, str, str, str]]:
    return [(r.kind, r.to_address, r.status, r.last_error) for r in rows(tenant)]


# -- the requester's mail ------------------------------------------------------------------------


def test_the_rules_mail_reaches_the_requester_branded_and_threaded(acme, globex, mailer, act):
    ticket = quiet_ticket(acme)
    assert act(acme, ticket, REMINDER).outcome == "done"
    [received] = mailer.wait_for(1)
    message = received.message
    assert (received.rcpt_tos, message["Subject"]) == (
        ["carol@customer.test"],
        "Still waiting on Printer on fire? [#1]",
    )
    assert (message["Auto-Submitted"], message["X-Auto-Response-Suppress"]) == (
        "auto-generated",
        "All",
    )
    token = mail_tokens.make_token(acme.org.pk, ticket.pk)
    assert message["Reply-To"] == mail_tokens.plus_address("support@acme.test", token)
    assert (message["In-Reply-To"], message["References"]) == (
        "<first@customer.test>",
        "<first@customer.test>",
    )
    body = parts(message)
    assert body["text/plain"] == "Hello Carol,\n\n#1 is New.\n<b>x</b>\n"
    # The HTML part is the text, escaped: a customer's subject or the rule's text is no markup.
    assert "<p>Hello Carol,</p><p>#1 is New.<br>&lt;b&gt;x&lt;/b&gt;</p>" in body["text/html"]
    assert sent(acme) == [("automation_mail", "carol@customer.test", "sent", "")]
    assert sent(globex) == []


def test_an_undeliverable_requester_gets_nothing(acme, mailer, act):
    ticket = quiet_ticket(acme)
    with acme.scope():
        contact_mark_undeliverable(contact=ticket.requester, reason="bounced: 5.1.1 unknown")
    act(acme, ticket, REMINDER)
    assert mailer.messages == []
    assert sent(acme) == [
        (
            "automation_mail",
            "carol@customer.test",
            "suppressed",
            "Not sent: carol@customer.test is marked undeliverable (bounced: 5.1.1 unknown).",
        )
    ]


@pytest.mark.parametrize("address", ["support@acme.test", "support+abc@acme.test"])
def test_a_requester_address_of_ours_gets_nothing(acme, mailer, act, address):
    ticket = quiet_ticket(acme, email=address)
    act(acme, ticket, REMINDER)
    assert mailer.messages == []
    loop = "Not sent: this is one of our own addresses (it would loop back as a ticket)."
    assert sent(acme) == [("automation_mail", address, "suppressed", loop)]


def test_a_no_reply_requester_gets_nothing(acme, mailer, act):
    ticket = quiet_ticket(acme, email="no-reply@shop.test")
    act(acme, ticket, REMINDER)
    assert mailer.messages == []
    assert [s for _, _, s, _ in sent(acme)] == ["suppressed"]


def test_a_rule_that_heard_an_auto_reply_never_answers_it(acme, mailer, act):
    ticket = quiet_ticket(acme)
    with acme.scope():
        reply = comment_create(
            ticket=ticket, body_text="Out of office", author_contact=ticket.requester
        )
    data = {"comment_id": reply.pk, "public": True, "by_contact": True, "auto_generated": True}
    auto_reply = events.DomainEvent(events.COMMENT_ADDED, acme.org.pk, ticket.pk, data=data)
    act(acme, ticket, REMINDER, event=auto_reply)
    assert mailer.messages == []
    assert sent(acme) == [("automation_mail", "carol@customer.test", "suppressed", AFTER_AUTOMATIC)]


def test_the_cap_on_automatic_mail_holds_for_rules_too(acme, mailer, act):
    with acme.scope():
        mail_settings_save(organization=acme.org, auto_mail_limit=2, auto_mail_window_minutes=60)
    ticket = quiet_ticket(acme)
    for _ in range(3):
        act(acme, ticket, REMINDER)
    assert len(mailer.wait_for(2)) == 2
    assert [s for _, _, s, _ in sent(acme)] == ["sent", "sent", "suppressed"]


def test_a_template_that_fails_when_sent_falls_back_to_the_shipped_mail(acme, mailer, act):
    # Saved rules are checked (actions.validate_actions); one that fails on the data at send
    # time is replaced by the shipped text, as tenant templates are.
    ticket = quiet_ticket(acme)
    act(acme, ticket, {**REMINDER, "subject": "{% load evil %}"})
    [received] = mailer.wait_for(1)
    assert received.message["Subject"] == "Re: Printer on fire [#1]"
    assert parts(received.message)["text/plain"].startswith(
        'Hello Carol,\n\nThere is news on your request #1 "Printer on fire": it is now New.'
    )


# -- notices to agents ---------------------------------------------------------------------------

ESCALATE = {"type": "notify", "message": "{{ requester_name }} waits on #{{ ticket_number }}."}
TITLE = "Automation “Pending reminder” on #1: Printer on fire"


def inbox(tenant) -> list[tuple[str, str, str, bool]]:
    with tenant.scope():
        found = Notification.objects.select_related("user").order_by("user__email", "id")
        return [(n.user.email, n.title, n.body, n.read_at is None) for n in found]


def mailed(tenant) -> list[tuple[str, str]]:
    return sorted((r.to_address, r.subject) for r in rows(tenant) if r.user_id)


@pytest.mark.parametrize(
    ("channel", "listed", "unread", "by_mail"),
    [
        ("both", True, True, True),
        ("email", True, False, True),
        ("in_app", True, True, False),
        ("none", False, False, False),
    ],
)
def test_a_notice_follows_the_agents_preference(
    acme, mailer, act, channel, listed, unread, by_mail
):
    with acme.scope():
        preferences_save(
            organization=acme.org, user=acme.agent, channels={"automation_notice": channel}
        )
    ticket = quiet_ticket(acme)
    act(acme, ticket, {**ESCALATE, "target": "user", "user_id": acme.agent.pk})
    expected = [("agent@acme.test", TITLE, "Carol waits on #1.", unread)] if listed else []
    assert inbox(acme) == expected
    subject = "Automation “Pending reminder”: Printer on fire [#1]"
    assert mailed(acme) == ([("agent@acme.test", subject)] if by_mail else [])
    if by_mail:
        [received] = mailer.wait_for(1)
        text = parts(received.message)["text/plain"]
        assert text.startswith('Carol waits on #1.\n\nTicket #1 "Printer on fire"\n')
        assert text.endswith("(Sent by the automation “Pending reminder”.)\n")
        assert "/agent/tickets/1/" in text


@pytest.fixture
def billing(acme):
    """Ann and Bob in Billing, Bob its manager; Ann hears notices in-app only."""
    with acme.scope():
        ann = tenant_services.user_get_or_create(email="ann@acme.test", name="Ann")
        bob = tenant_services.user_get_or_create(email="bob@acme.test", name="Bob")
        for user in (ann, bob):
            tenant_services.membership_add(organization=acme.org, user=user, role="agent")
        preferences_save(organization=acme.org, user=ann, channels={"automation_notice": "in_app"})
        team = tenant_services.team_create(
            organization=acme.org, name="Billing", members=[ann, bob], managers=[bob]
        )
    return team


@pytest.mark.parametrize(
    ("target", "listed", "by_mail"),
    [
        ("assignee", ["ann@acme.test"], []),
        ("team", ["ann@acme.test", "bob@acme.test"], ["bob@acme.test"]),
        ("team_managers", ["bob@acme.test"], ["bob@acme.test"]),
    ],
)
def test_each_target_hears_after_its_preferences(
    acme, mailer, act, billing, target, listed, by_mail
):
    ticket = quiet_ticket(acme)
    with acme.scope():
        ann = billing.members.get(email="ann@acme.test")
        ticket_assign(ticket=ticket, assignee=ann)
        ticket_change_team(ticket=ticket, team=billing)
    act(acme, ticket, {**ESCALATE, "target": target})
    assert [email for email, _, _, _ in inbox(acme)] == listed
    assert [address for address, _ in mailed(acme)] == by_mail


def test_the_tenants_default_channel_applies_to_agents_who_chose_nothing(acme, mailer, act):
    with acme.scope():
        notification_defaults_save(organization=acme.org, channels={"automation_notice": "none"})
    act(acme, quiet_ticket(acme), {**ESCALATE, "target": "user", "user_id": acme.agent.pk})
    assert (inbox(acme), mailed(acme)) == ([], [])


def test_a_macros_notice_names_the_macro_and_spares_the_agent_who_applied_it(acme, mailer, act):
    with acme.scope():
        other = tenant_services.user_get_or_create(email="other@acme.test", name="Other")
        tenant_services.membership_add(organization=acme.org, user=other, role="agent")
        tenant_services.team_create(
            organization=acme.org, name="Support", members=[acme.agent, other]
        )
        ticket = make_ticket(acme.org, team=acme.team)
    macro = causes.Cause(causes.MACRO, "Refund", "run-2")
    action = {"type": "notify", "target": "team", "message": "{{ agent_name }} refunded it."}
    act(acme, ticket, action, actor=acme.agent, cause=macro)
    assert inbox(acme) == [
        (
            "other@acme.test",
            "Macro “Refund” on #1: Printer on fire",
            "Acme Agent refunded it.",
            True,
        )
    ]


def test_a_notice_never_reaches_another_tenants_agent(acme, globex, mailer):
    ticket = quiet_ticket(acme)
    with acme.scope():
        notify_event(
            organization=acme.org,
            name=events.AUTOMATION_NOTIFY,
            ticket_id=ticket.pk,
            actor_user_id=None,
            data={"rule": "R", "user_ids": [globex.agent.pk, acme.agent.pk], "message": "Hi"},
            now=T0,
        )
    assert [email for email, _, _, _ in inbox(acme)] == ["agent@acme.test"]
    assert inbox(globex) == []
