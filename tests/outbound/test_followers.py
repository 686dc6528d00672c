"""Followers hear about a ticket as its assignee does: customer replies and SLA alerts, after
their own preferences, once each, never for what they did themselves."""

from outbound_mail import kinds
from outbound_mail.models import Notification
from outbound_mail.services.preferences import preferences_save
from tenants import services as tenant_services
from tests.outbound.test_notifications import CHANNELS, inbox, mailed, notify, quiet_ticket
from tickets import events
from tickets.models import Contact
from tickets.services.comments import comment_create
from tickets.services.followers import ticket_follow, ticket_unfollow
from tickets.services.tickets import ticket_assign


def _agent(tenant, email):
    with tenant.scope():
        user = tenant_services.user_get_or_create(email=email)
        tenant_services.membership_add(organization=tenant.org, user=user, role="agent")
    return user


def _customer_reply(tenant, ticket):
    with tenant.scope(), events.muted():
        carol = Contact.objects.get(email="carol@customer.test")
        comment = comment_create(
            ticket=ticket, body_text="Any news?", author_contact=carol, channel="email"
        )
    notify(tenant, events.COMMENT_ADDED, ticket, comment_id=comment.pk, public=True)


def test_follower_hears_customer_reply_like_the_assignee(acme, mailer):
    follower = _agent(acme, "fay@acme.test")
    ticket = quiet_ticket(acme)
    with acme.scope(), events.muted():
        ticket_assign(ticket=ticket, assignee=acme.agent, actor_user=acme.admin)
        ticket_follow(ticket=ticket, user=follower)
    _customer_reply(acme, ticket)
    assert inbox(acme) == [
        ("agent@acme.test", "customer_reply", True),
        ("fay@acme.test", "customer_reply", True),
    ]
    assert mailed(acme) == [
        ("agent@acme.test", "customer_reply"),
        ("fay@acme.test", "customer_reply"),
    ]


def test_assignee_who_follows_hears_once(acme, mailer):
    ticket = quiet_ticket(acme)
    with acme.scope(), events.muted():
        ticket_assign(ticket=ticket, assignee=acme.agent, actor_user=acme.admin)
        ticket_follow(ticket=ticket, user=acme.agent)
    _customer_reply(acme, ticket)
    assert inbox(acme) == [("agent@acme.test", "customer_reply", True)]
    assert mailed(acme) == [("agent@acme.test", "customer_reply")]


def test_follower_preferences_are_respected(acme, mailer):
    follower = _agent(acme, "fay@acme.test")
    with acme.scope():
        preferences_save(
            organization=acme.org, user=follower, channels={**CHANNELS, "customer_reply": "in_app"}
        )
    ticket = quiet_ticket(acme)
    with acme.scope(), events.muted():
        ticket_assign(ticket=ticket, assignee=acme.agent, actor_user=acme.admin)
        ticket_follow(ticket=ticket, user=follower)
    _customer_reply(acme, ticket)
    assert mailed(acme) == [("agent@acme.test", "customer_reply")]
    assert ("fay@acme.test", "customer_reply", True) in inbox(acme)


def test_unassigned_ticket_alerts_the_team_and_the_follower(acme, mailer):
    follower = _agent(acme, "fay@acme.test")
    ticket = quiet_ticket(acme)
    with acme.scope(), events.muted():
        ticket_follow(ticket=ticket, user=follower)
    _customer_reply(acme, ticket)
    assert [e for e, _, _ in inbox(acme)] == ["admin@acme.test", "agent@acme.test", "fay@acme.test"]


def test_unfollowed_agent_hears_nothing(acme, mailer):
    follower = _agent(acme, "fay@acme.test")
    ticket = quiet_ticket(acme)
    with acme.scope(), events.muted():
        ticket_assign(ticket=ticket, assignee=acme.agent, actor_user=acme.admin)
        ticket_follow(ticket=ticket, user=follower)
        ticket_unfollow(ticket=ticket, user=follower)
    _customer_reply(acme, ticket)
    assert inbox(acme) == [("agent@acme.test", "customer_reply", True)]


def test_follower_hears_sla_alerts(acme, mailer):
    follower = _agent(acme, "fay@acme.test")
    ticket = quiet_ticket(acme, assignee=acme.agent)
    with acme.scope(), events.muted():
        ticket_follow(ticket=ticket, user=follower)
    data = {"target": "first_response", "due_at": "2026-01-01T10:00:00+00:00"}
    notify(acme, kinds.SLA_WARNING, ticket, **data)
    with acme.scope():
        heard = list(Notification.objects.order_by("user_id").values_list("user__email", "kind"))
    assert heard == [("agent@acme.test", "sla_warning"), ("fay@acme.test", "sla_warning")]
