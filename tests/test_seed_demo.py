from django.core.management import call_command

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
        assert Ticket.objects.count() == 20 + len(SLA_TICKETS)  # the SLA demo tickets
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
