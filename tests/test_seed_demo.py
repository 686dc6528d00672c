import pytest
from django.core.management import call_command

from demo.automations_seed import PENDING_SUBJECT
from demo.sla_seed import SLA_TICKETS
from inbound_mail.models import InboundAddress
from tenants.models import Membership, Organization
from tenants.scoping import tenant_scope
from tickets.models import Ticket


def test_seed_demo_is_idempotent_and_logins_work(db):
    call_command("seed_demo", tickets=20, verbosity=0)
    call_command("seed_demo", tickets=20, verbosity=0)
    acme = Organization.objects.get(slug="acme")
    globex = Organization.objects.get(slug="globex")
    with tenant_scope(acme):
        # the SLA demo tickets, the one pending for the reminder rule, the portal contact's
        assert Ticket.objects.count() == 20 + len(SLA_TICKETS) + 1 + 3
        assert Ticket.objects.filter(subject=PENDING_SUBJECT).count() == 1
        roles = dict(Membership.objects.values_list("user__email", "role"))
        assert roles["agent@acme.test"] == "agent"
        assert roles["admin@acme.test"] == "admin"
        assert list(InboundAddress.objects.values_list("address", flat=True)) == [
            "support@acme.localhost"
        ]
    with tenant_scope(globex):
        assert Ticket.objects.count() == 10
    from django.test import Client

    client = Client(HTTP_HOST="acme.localhost")
    response = client.post("/login/", {"username": "agent@acme.test", "password": "demo"})
    assert response["Location"] == "/agent/"


def test_seed_demo_gives_acme_a_portal_with_two_forms_and_a_demo_contact(db):
    from django.test import Client

    from portal.models import IntakeForm, PortalSettings, Submission

    call_command("seed_demo", tickets=5, verbosity=0)
    call_command("seed_demo", tickets=5, verbosity=0)
    acme = Organization.objects.get(slug="acme")
    with tenant_scope(acme):
        assert list(IntakeForm.objects.values_list("name", flat=True)) == [
            "Billing question",
            "Bug report",
        ]
        assert PortalSettings.objects.get().contact_form_intake.name == "Bug report"
        mine = Ticket.objects.filter(requester__email="customer@acme.test")
        assert mine.count() == 3
        submitted = Submission.objects.get(ticket__requester__email="customer@acme.test")
        assert submitted.ticket.priority.name == "Urgent"  # the form's severity field set it
    client = Client(HTTP_HOST="acme.localhost")
    signed_in = client.post(
        "/sign-in/password/", {"email": "customer@acme.test", "password": "demo"}
    )
    assert signed_in.status_code == 302
    page = client.get("/tickets/").content.decode()
    for ticket in mine:
        assert ticket.subject.replace("'", "&#x27;") in page
    assert (
        "Internal: check their plan"
        not in client.get(
            f"/tickets/{mine.get(subject__startswith='Can we get').number}/"
        ).content.decode()
    )


def test_seed_demo_gives_acme_sla_calendar_holidays_policies_and_timers(db):
    from datetime import date, timedelta

    from django.utils import timezone

    from sla.models import Calendar, Holiday, Policy, TicketSLA

    call_command("seed_demo", tickets=20, verbosity=0)
    call_command("seed_demo", tickets=20, verbosity=0)
    acme = Organization.objects.get(slug="acme")
    globex = Organization.objects.get(slug="globex")
    year = timezone.now().year
    with tenant_scope(acme):
        calendar = Calendar.objects.get()
        assert (calendar.name, calendar.timezone, calendar.is_default) == (
            "Berlin office",
            "Europe/Berlin",
            True,
        )
        assert calendar.weekly["0"] == [["09:00", "17:00"]]
        assert calendar.weekly["5"] == []
        assert Holiday.objects.filter(date=date(year, 12, 25)).count() == 1
        assert Holiday.objects.filter(date=date(year, 1, 1)).count() == 1
        assert list(Policy.objects.values_list("name", flat=True)) == [
            "Urgent and high",
            "Standard",
        ]
        now = timezone.now()
        demo = TicketSLA.objects.filter(
            ticket__subject__in=[s for s, _, _ in SLA_TICKETS],
            target="first_response",
            stopped_at__isnull=True,
        )
        assert demo.count() == len(SLA_TICKETS)
        assert demo.filter(due_at__lte=now).count() >= 2  # past breach
        assert demo.filter(due_at__gt=now).count() >= 2  # near breach
        assert demo.filter(due_at__gt=now, due_at__lte=now + timedelta(days=4)).exists()
    with tenant_scope(globex):
        assert Calendar.objects.count() == 0
        assert TicketSLA.objects.count() == 0


# -- automations ---------------------------------------------------------------------------

DEMO_RULES = [
    ("Route billing", "ticket_created"),
    ("Urgent from a known customer", "ticket_created"),
    ("SLA warning: tell the team's managers", "sla_warning"),
    ("Pending for 72 hours: remind the requester", "hours_in_status"),
]
DEMO_MACROS = ["Refund issued", "Ask for details"]
FEW = 5  # tickets: the rules are what these tests look at


@pytest.fixture
def seeded(db):
    call_command("seed_demo", tickets=FEW, verbosity=0)
    return Organization.objects.get(slug="acme"), Organization.objects.get(slug="globex")


def test_seed_demo_gives_acme_rules_and_macros_that_validate_and_globex_none(seeded):
    from automations import actions, conditions, schema, triggers
    from automations.models import Macro, Rule
    from tickets.placeholders import check_canned

    call_command("seed_demo", tickets=FEW, verbosity=0)  # idempotent: nothing twice
    acme, globex = seeded
    with tenant_scope(acme):
        rules = list(Rule.objects.order_by("position"))
        assert [(r.name, r.trigger, r.enabled) for r in rules] == [
            (name, trigger, True) for name, trigger in DEMO_RULES
        ]
        for rule in rules:
            problems = (
                triggers.validate_trigger(rule.trigger, rule.trigger_options, organization=acme)
                + conditions.validate_conditions(rule.conditions, organization=acme)
                + actions.validate_actions(rule.actions, organization=acme)
            )
            assert (rule.name, problems) == (rule.name, [])
        macros = list(Macro.objects.order_by("position"))
        assert [(m.name, m.owner_id, m.reply_public) for m in macros] == [
            (name, None, True) for name in DEMO_MACROS
        ]
        for macro in macros:
            problems = actions.validate_actions(
                macro.actions, organization=acme, allowed=schema.MACRO_ACTION_TYPES
            )
            assert (macro.name, problems) == (macro.name, [])
            check_canned(macro.reply_text)  # raises when the reply would not render
    with tenant_scope(globex):
        assert (Rule.objects.count(), Macro.objects.count()) == (0, 0)


def test_seed_demo_rules_name_acmes_own_team_status_and_priority(seeded):
    from automations.models import Rule
    from tenants.models import Team
    from tickets.models import Priority, Status

    acme, _ = seeded
    with tenant_scope(acme):
        billing = Team.objects.get(name="Billing")
        rules = {r.name: r for r in Rule.objects.all()}
        assert rules["Route billing"].actions[:2] == [
            {"type": "set_team", "team_id": billing.pk},
            {"type": "assign", "mode": "round_robin", "team_id": billing.pk},
        ]
        assert rules["Urgent from a known customer"].actions[0] == {
            "type": "set_priority",
            "priority_id": Priority.objects.get(name="Urgent").pk,
        }
        assert rules["Pending for 72 hours: remind the requester"].trigger_options == {
            "hours": 72,
            "status_id": Status.objects.get(name="Pending").pk,
        }


def test_seed_demo_leaves_a_rule_an_admin_edited_as_it_is(seeded):
    from automations.models import Rule

    acme, _ = seeded
    with tenant_scope(acme):
        Rule.objects.filter(name="Route billing").update(enabled=False, actions=[])
        Rule.objects.filter(name="Urgent from a known customer").delete()
    call_command("seed_demo", tickets=FEW, verbosity=0)
    with tenant_scope(acme):
        edited = Rule.objects.get(name="Route billing")
        assert (edited.enabled, edited.actions) == (False, [])
        # A deleted demo rule comes back, like any other demo row.
        assert Rule.objects.filter(name="Urgent from a known customer").count() == 1


def test_seed_demo_pending_ticket_has_waited_past_the_reminder(seeded):
    from datetime import timedelta

    from django.utils import timezone

    acme, _ = seeded
    with tenant_scope(acme):
        ticket = Ticket.objects.select_related("status").get(subject=PENDING_SUBJECT)
        waited = timezone.now() - ticket.status_changed_at
        assert ticket.status.name == "Pending"
        assert timedelta(hours=72) < waited < timedelta(hours=74)
        assert ticket.last_agent_reply_at == ticket.status_changed_at
        assert ticket.requester.customer.name == "Northwind"


# The demo rules doing what their names say, through the real after-commit path (Celery runs
# eagerly in tests, tests/conftest.py).


def _mail_ticket(acme, subject, email, body="Please help."):
    from tickets.services.contacts import contact_get_or_create
    from tickets.services.tickets import ticket_create

    requester = contact_get_or_create(organization=acme, email=email, name=email.split("@")[0])
    return ticket_create(
        organization=acme, subject=subject, requester=requester, body_text=body, source="email"
    )


def test_demo_billing_rule_routes_to_billing_round_robin(
    seeded, django_capture_on_commit_callbacks
):
    from tenants.models import Team

    acme, _ = seeded
    with tenant_scope(acme):
        with django_capture_on_commit_callbacks(execute=True):
            billing = [
                _mail_ticket(acme, f"Invoice {n} shows the wrong amount", f"c{n}@gmail.example")
                for n in range(3)
            ]
            other = _mail_ticket(acme, "Printer on fire", "c9@gmail.example")
        team = Team.objects.get(name="Billing")
        members = sorted(team.members.values_list("email", flat=True))
        rows = Ticket.objects.filter(pk__in=[t.pk for t in billing]).order_by("pk")
        assert [r.team_id for r in rows] == [team.pk] * 3
        assert sorted(r.assignee.email for r in rows) == members  # each member once
        assert [sorted(r.tags.values_list("name", flat=True)) for r in rows] == [["billing"]] * 3
        other.refresh_from_db()
        assert (other.team_id, other.assignee_id) == (None, None)


def test_demo_urgent_rule_raises_priority_for_known_customers_only(
    seeded, django_capture_on_commit_callbacks
):
    acme, _ = seeded
    with tenant_scope(acme):
        with django_capture_on_commit_callbacks(execute=True):
            known = _mail_ticket(acme, "Checkout broken", "kim@contoso.example", "URGENT, please!")
            unknown = _mail_ticket(acme, "Urgent: checkout broken", "lee@gmail.example")
        known.refresh_from_db()
        unknown.refresh_from_db()
        assert (known.priority.name, unknown.priority.name) == ("Urgent", "Normal")
        assert list(known.tags.values_list("name", flat=True)) == ["urgent"]


def test_demo_pending_reminder_mails_the_requester_once(seeded, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from automations.services.scan import automations_time_scan
    from outbound_mail.models import OutgoingMessage

    acme, _ = seeded
    for _ in range(2):  # the second scan finds nothing new for this period
        with django_capture_on_commit_callbacks(execute=True):
            automations_time_scan(now=timezone.now())
    with tenant_scope(acme):
        ticket = Ticket.objects.get(subject=PENDING_SUBJECT)
        sent = OutgoingMessage.objects.filter(ticket=ticket, kind="automation_mail")
        assert list(sent.values_list("to_address", "subject")) == [
            ("dev@northwind.example", f"Any news on “{PENDING_SUBJECT}”? [#{ticket.number}]")
        ]


def test_demo_sla_warning_notifies_the_teams_managers(seeded, django_capture_on_commit_callbacks):
    from django.utils import timezone

    from demo.sla_seed import CALENDAR, _business_minutes_before
    from outbound_mail.models import Notification
    from sla.models import Calendar
    from sla.policies import calendar_of
    from sla.services.scan import sla_scan
    from tenants.models import Team
    from tickets.models import Priority
    from tickets.services.contacts import contact_get_or_create
    from tickets.services.tickets import ticket_create

    acme, _ = seeded
    now = timezone.now()
    with tenant_scope(acme):
        clock = calendar_of(Calendar.objects.get(name=CALENDAR))
        requester = contact_get_or_create(organization=acme, email="ola@gmail.example")
        # "Urgent and high": a first response within 60 business minutes, warned at 75 %.
        ticket = ticket_create(
            organization=acme,
            subject="Card payments fail",
            requester=requester,
            body_text="All of them.",
            source="email",
            priority=Priority.objects.get(name="Urgent"),
            team=Team.objects.get(name="Billing"),
            created_at=_business_minutes_before(clock, now, 50),
        )
    with django_capture_on_commit_callbacks(execute=True):
        sla_scan(now=now, organizations=[acme])
    with tenant_scope(acme):
        notices = Notification.objects.filter(ticket=ticket, kind="automation_notice")
        assert list(notices.values_list("user__email", flat=True)) == ["admin@acme.test"]


def test_seed_demo_gives_acme_shared_views_and_reports_of_its_history(db):
    from django.test import Client

    from reports.models import TicketFact
    from tickets.models import SavedView

    call_command("seed_demo", tickets=12, verbosity=0)
    call_command("seed_demo", tickets=12, verbosity=0)
    acme = Organization.objects.get(slug="acme")
    with tenant_scope(acme):
        shared = list(
            SavedView.objects.filter(owner__isnull=True)
            .order_by("position")
            .values_list("name", flat=True)
        )
        assert shared == ["Urgent, open", "Billing, open"]
        # Every seeded ticket falls in the 90 days the seed rolls up (created within 60 days).
        assert TicketFact.objects.count() == Ticket.objects.filter(merged_into__isnull=True).count()
    client = Client(HTTP_HOST="acme.localhost")
    client.post("/login/", {"username": "admin@acme.test", "password": "demo"})
    page = client.get("/agent/reports/")
    assert page.status_code == 200
    assert b"Urgent, open" in client.get("/agent/").content  # the rail
