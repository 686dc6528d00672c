"""The SLA part of seed_demo: acme's business calendar (Europe/Berlin, Mon-Fri 09:00-17:00) with
this year's German public holidays, two policies (Urgent/High with tight targets, a default
for everything else), and a few open tickets whose timers started in the past so that the
list shows them near and past breach. Idempotent: what exists by name is left as it is."""

from datetime import datetime, timedelta

import holidays as holiday_data
from django.utils import timezone

from sla import settings_services
from sla.models import Calendar, Policy
from sla.policies import calendar_of
from tickets.models import Priority, Ticket
from tickets.services.contacts import contact_get_or_create
from tickets.services.tickets import ticket_create

CALENDAR = "Berlin office"
WEEKLY = {str(n): [["09:00", "17:00"]] if n < 5 else [] for n in range(7)}
# (name, priorities, first response, next response, resolution, warn percent)
POLICIES = [
    ("Urgent and high", ["Urgent", "High"], 60, 120, 8 * 60, 75),
    ("Standard", [], 4 * 60, 8 * 60, 3 * 8 * 60, 80),
]
# (subject, priority, business minutes already spent of the first response when seeded)
SLA_TICKETS = [
    ("Checkout is down for all customers", "Urgent", 50),  # 10 business minutes left
    ("Payment provider rejects every card", "Urgent", 90),  # 30 minutes past due
    ("Password reset mails arrive late", "High", 20),
    ("Question about our invoice address", "Normal", 4 * 60 - 15),  # 15 minutes left
    ("Order history is empty since yesterday", "Normal", 5 * 60),  # an hour past due
]


def seed_sla(org) -> None:
    """Calendar, holidays and policies, through the settings pages' services."""
    calendar = Calendar.objects.filter(name=CALENDAR).first()
    if calendar is None:
        calendar = settings_services.calendar_save(
            organization=org, calendar=None, name=CALENDAR, timezone="Europe/Berlin", weekly=WEEKLY
        )
        settings_services.calendar_make_default(calendar=calendar)
        year = timezone.now().year
        found = dict(sorted(holiday_data.country_holidays("DE", years=year).items()))
        settings_services.holidays_import(organization=org, calendar=calendar, found=found)
    for name, priority_names, first, following, resolution, warn in POLICIES:
        if Policy.objects.filter(name=name).exists():
            continue
        ids = sorted(Priority.objects.filter(name__in=priority_names).values_list("pk", flat=True))
        settings_services.policy_save(
            organization=org,
            policy=None,
            name=name,
            calendar=calendar,
            priority_ids=ids,
            first_response_minutes=first,
            next_response_minutes=following,
            resolution_minutes=resolution,
            warn_percent=warn,
        )


def seed_sla_tickets(org) -> None:
    """Open tickets created so long ago (in business time) that their first response is near
    or past due now; created once each (by subject)."""
    clock = calendar_of(Calendar.objects.get(name=CALENDAR))
    now = timezone.now()
    requester = contact_get_or_create(organization=org, email="olga@northwind.example", name="Olga")
    for subject, priority_name, spent in SLA_TICKETS:
        if Ticket.objects.filter(subject=subject).exists():
            continue
        ticket_create(
            organization=org,
            subject=subject,
            requester=requester,
            body_text=f"{subject}. Please help quickly.\n\nOlga",
            source="email",
            priority=Priority.objects.get(name=priority_name),
            created_at=_business_minutes_before(clock, now, spent),
        )


def _business_minutes_before(clock, now: datetime, minutes: int) -> datetime:
    """The latest instant from which `minutes` business minutes have run by `now` (stepping back
    five minutes at a time: seeding runs once, and a month back is a few thousand steps)."""
    start = now
    for _ in range(12 * 24 * 31):
        if clock.between(start, now) >= minutes * 60:
            return start
        start -= timedelta(minutes=5)
    return start
