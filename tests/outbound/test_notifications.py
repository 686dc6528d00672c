"""Who hears what: preferences and defaults, the in-app list and its bell, SLA and assignment."""

import re

import pytest

from outbound_mail import kinds
from outbound_mail.models import Notification
from outbound_mail.services.notify import notify_event
from outbound_mail.services.preferences import notification_defaults_save, preferences_save
from tenants import services as tenant_services
from tenants.models import Membership
from tests.factories import make_ticket
from tests.outbound.conftest import T0, rows
from tickets import events, mail_tokens
from tickets.models import Contact
from tickets.services.comments import comment_create
from tickets.services.tickets import ticket_assign

CHANNELS = dict.fromkeys(kinds.AGENT_KINDS, "both")


def notify(tenant, name, ticket, actor=None, **data):
    with tenant.scope():
        notify_event(
            organization=tenant.org,
            name=name,
            ticket_id=ticket.pk,
            actor_user_id=actor.pk if actor else None,
            data=data,
            now=T0,
        )


def quiet_ticket(tenant, **kwargs):
    with tenant.scope(), events.muted():
        return make_ticket(tenant.org, **kwargs)


def inbox(tenant) -> list[tuple[str, str, bool]]:
    with tenant.scope():
        found = Notification.objects.order_by("user__email", "kind")
        return [(n.user.email, n.kind, n.read_at is None) for n in found.select_related("user")]


def mailed(tenant) -> list[tuple[str, str]]:
    return sorted((r.to_address, r.kind) for r in rows(tenant) if r.user_id)


def test_preferences_choose_email_in_app_both_or_neither(acme, mailer):
    with acme.scope():
        extra = [tenant_services.user_get_or_create(email=f"{n}@acme.test") for n in "bcd"]
        for user in extra:
            tenant_services.membership_add(organization=acme.org, user=user, role="agent")
        for user, channel in zip(
            [acme.agent, *extra], ["both", "email", "in_app", "none"], strict=True
        ):
            preferences_save(
                organization=acme.org, user=user, channels={**CHANNELS, "new_ticket_alert": channel}
            )
    ticket = quiet_ticket(acme)
    notify(acme, events.TICKET_CREATED, ticket, by_contact=True)
    assert mailed(acme) == [
        ("admin@acme.test", "new_ticket_alert"),
        ("agent@acme.test", "new_ticket_alert"),
        ("b@acme.test", "new_ticket_alert"),
    ]
    # In the list: unread for in-app channels; email-only is listed already read.
    assert inbox(acme) == [
        ("admin@acme.test", "new_ticket_alert", True),
        ("agent@acme.test", "new_ticket_alert", True),
        ("b@acme.test", "new_ticket_alert", False),
        ("c@acme.test", "new_ticket_alert", True),
    ]


def test_organization_defaults_apply_until_an_agent_chooses(acme, mailer):
    with acme.scope():
        notification_defaults_save(
            organization=acme.org, channels={**CHANNELS, "new_ticket_alert": "in_app"}
        )
        preferences_save(organization=acme.org, user=acme.agent, channels=CHANNELS)
    notify(acme, events.TICKET_CREATED, quiet_ticket(acme), by_contact=True)
    assert mailed(acme) == [("agent@acme.test", "new_ticket_alert")]
    assert [e for e, _, _ in inbox(acme)] == ["admin@acme.test", "agent@acme.test"]


def test_new_ticket_alert_goes_to_the_team_and_never_to_the_actor(acme, mailer):
    with acme.scope():
        other = tenant_services.user_get_or_create(email="other@acme.test")
        tenant_services.membership_add(organization=acme.org, user=other, role="agent")
        tenant_services.team_create(organization=acme.org, name="Billing", members=[other])
    ticket = quiet_ticket(acme, team=acme.team)
    notify(acme, events.TICKET_CREATED, ticket, by_contact=True)
    assert [e for e, _, _ in inbox(acme)] == ["agent@acme.test"]
    by_agent = quiet_ticket(acme, actor_user=acme.admin, subject="Phone call")
    notify(acme, events.TICKET_CREATED, by_agent, actor=acme.admin, by_contact=False)
    with acme.scope():
        alerted = set(
            Notification.objects.filter(ticket=by_agent).values_list("user__email", flat=True)
        )
    assert alerted == {"agent@acme.test", "other@acme.test"}


def test_assignment_and_customer_reply_reach_the_assignee(acme, mailer):
    ticket = quiet_ticket(acme)
    with acme.scope(), events.muted():
        ticket_assign(ticket=ticket, assignee=acme.agent, actor_user=acme.admin)
        carol = Contact.objects.get(email="carol@customer.test")
        comment = comment_create(
            ticket=ticket, body_text="Any news?", author_contact=carol, channel="email"
        )
    notify(acme, events.ASSIGNED, ticket, actor=acme.admin, assignee_id=acme.agent.pk)
    notify(acme, events.COMMENT_ADDED, ticket, comment_id=comment.pk, public=True, by_contact=True)
    assert inbox(acme) == [
        ("agent@acme.test", "assignment", True),
        ("agent@acme.test", "customer_reply", True),
    ]
    with acme.scope():
        titles = sorted(Notification.objects.values_list("title", "body"))
    assert titles == [
        ("#1 assigned to you: Printer on fire", "Printer on fire"),
        ("Carol replied on #1: Printer on fire", "Any news?"),
    ]


def test_assigning_yourself_tells_nobody(acme, mailer):
    ticket = quiet_ticket(acme)
    notify(acme, events.ASSIGNED, ticket, actor=acme.agent, assignee_id=acme.agent.pk)
    assert (inbox(acme), rows(acme)) == ([], [])


def test_sla_events_reach_assignee_and_team_managers(acme, mailer):
    with acme.scope():
        boss = tenant_services.user_get_or_create(email="boss@acme.test", name="Boss")
        tenant_services.membership_add(organization=acme.org, user=boss, role="admin")
        tenant_services.team_create(
            organization=acme.org, name="Support", members=[boss], managers=[boss]
        )
        acme.org.timezone = "Europe/Berlin"
        acme.org.save(update_fields=["timezone"])
    ticket = quiet_ticket(acme, team=acme.team, assignee=acme.agent)
    notify(
        acme,
        kinds.SLA_BREACHED,
        ticket,
        target="first_response",
        due_at="2030-01-07T08:00:00+00:00",
    )
    [breach] = [r for r in rows(acme) if r.to_address == "boss@acme.test"]
    assert mailed(acme) == [("agent@acme.test", "sla_breach"), ("boss@acme.test", "sla_breach")]
    assert breach.subject == "SLA breached: Printer on fire [#1]"
    assert breach.body_text.splitlines()[0] == (
        'Ticket #1 "Printer on fire" missed its first response target, which was due at '
        "2030-01-07 09:00 (Europe/Berlin)."
    )
    assert breach.headers["Auto-Submitted"] == "auto-generated"
    # An agent's reply goes to the ticket, carrying the agent's own token (issue 9, hole 1).
    staff = mail_tokens.make_staff_tag(acme.org.pk, ticket.pk, breach.user_id)
    assert breach.headers["Reply-To"] == f"support+{staff}@acme.test"
    assert mail_tokens.staff_from_message_id(breach.message_id) == (
        acme.org.pk,
        ticket.pk,
        breach.user_id,
    )


def test_former_members_are_not_notified(acme, globex, mailer):
    ticket = quiet_ticket(acme, assignee=acme.agent)
    with acme.scope():
        Membership.objects.filter(user=acme.agent).delete()
    notify(acme, events.ASSIGNED, ticket, actor=acme.admin, assignee_id=acme.agent.pk)
    notify(acme, events.ASSIGNED, ticket, actor=acme.admin, assignee_id=globex.agent.pk)
    assert inbox(acme) == []


# -- pages -------------------------------------------------------------------------------------


def _notification(tenant, title="New ticket #1"):
    ticket = quiet_ticket(tenant)
    with tenant.scope():
        return Notification.objects.create(
            organization=tenant.org,
            user=tenant.agent,
            ticket=ticket,
            kind="new_ticket_alert",
            title=title,
        )


def test_bell_counts_unread_and_the_list_opens_the_ticket(acme):
    note = _notification(acme)
    client = acme.client(acme.agent)
    bell = client.get("/agent/notifications/bell/").content.decode()
    assert re.sub(r"<[^>]+>", "", bell).strip() == "1 unread"
    page = client.get("/agent/notifications/").content.decode()
    assert re.findall(r'href="(/agent/notifications/\d+/)"', page) == [
        f"/agent/notifications/{note.pk}/"
    ]
    response = client.get(f"/agent/notifications/{note.pk}/")
    assert (response.status_code, response["Location"]) == (302, "/agent/tickets/1/")
    assert (
        re.sub(r"<[^>]+>", "", client.get("/agent/notifications/bell/").content.decode()).strip()
        == ""
    )


def test_mark_all_read(acme):
    _notification(acme)
    _notification(acme)
    client = acme.client(acme.agent)
    client.post("/agent/notifications/read/")
    assert inbox(acme) == [("agent@acme.test", "new_ticket_alert", False)] * 2


def test_other_peoples_and_other_tenants_notifications_are_404(acme, globex):
    theirs = _notification(globex, title="Globex secret")
    colleague = _notification(acme)
    with acme.scope():
        Notification.objects.filter(pk=colleague.pk).update(user=acme.admin)
    client = acme.client(acme.agent)
    assert client.get(f"/agent/notifications/{theirs.pk}/").status_code == 404
    assert client.get(f"/agent/notifications/{colleague.pk}/").status_code == 404
    assert "Globex secret" not in client.get("/agent/notifications/").content.decode()
    bell = client.get("/agent/notifications/bell/").content.decode()
    assert re.sub(r"<[^>]+>", "", bell).strip() == ""
    assert globex.client(acme.agent).get("/agent/notifications/").status_code == 404


def test_preferences_page_saves_the_agents_choice(acme):
    client = acme.client(acme.agent)
    data = {**CHANNELS, "assignment": "none", "sla_breach": "email"}
    response = client.post("/agent/notifications/preferences/", data)
    assert response.status_code == 302
    with acme.scope():
        from outbound_mail import selectors

        assert selectors.user_preferences(acme.agent) == data
        assert selectors.user_preferences(acme.admin) == CHANNELS
    html = client.get("/agent/notifications/preferences/").content.decode()
    assert re.search(r'name="assignment" value="none"[^>]*checked', html) is not None


def test_notification_pages_need_membership(acme, globex):
    assert acme.client().get("/agent/notifications/").status_code == 302
    assert acme.client(globex.agent).get("/agent/notifications/").status_code == 404
    assert acme.client(globex.agent).get("/agent/notifications/bell/").status_code == 404


def test_the_bell_is_in_the_top_bar(acme):
    html = acme.client(acme.agent).get("/agent/").content.decode()
    assert re.findall(r'hx-get="([^"]+)"[^>]*hx-trigger="load, every 60s"', html) == [
        "/agent/notifications/bell/"
    ]


@pytest.mark.parametrize("with_team", [True, False])
def test_sla_events_of_an_unassigned_ticket_reach_its_team_or_the_admins(acme, mailer, with_team):
    ticket = quiet_ticket(acme, team=acme.team if with_team else None)
    notify(
        acme, kinds.SLA_WARNING, ticket, target="next_response", due_at="2030-01-07T08:00:00+00:00"
    )
    expected = (
        [("agent@acme.test", "sla_warning")] if with_team else [("admin@acme.test", "sla_warning")]
    )
    assert mailed(acme) == expected
    [row] = rows(acme)
    assert "next response" in row.body_text
