"""What SLA adds to the pages of the apps below it, registered from SlaConfig.ready(): the
Settings -> SLA pages in the settings navigation, and through tickets.contributions the list
badge (the nearest running timer), the list's "breached" and "due within 1 hour" filters and
its sort by due time, and the timers' card on the ticket page."""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from sla.models import TicketSLA
from tenants import settings_nav
from tickets import contributions

DUE_SOON = timedelta(hours=1)


def _running() -> QuerySet[TicketSLA]:
    return TicketSLA.objects.filter(stopped_at__isnull=True)


def _list_rows(qs: QuerySet) -> QuerySet:
    # One query for all the page's rows: the running timers, nearest first.
    running = _running().select_related("policy").order_by("due_at", "id")
    return qs.prefetch_related(Prefetch("sla", queryset=running, to_attr="sla_running"))


def _breached(qs: QuerySet) -> QuerySet:
    """Tickets with a running timer past its due time (marked by the scan or not yet)."""
    overdue = _running().filter(
        Q(breached_at__isnull=False) | Q(paused_since__isnull=True, due_at__lte=timezone.now())
    )
    return qs.filter(Exists(overdue.filter(ticket=OuterRef("pk"))))


def _due_soon(qs: QuerySet) -> QuerySet:
    """Tickets with a counting timer that comes due within the hour (not yet overdue)."""
    now = timezone.now()
    soon = _running().filter(
        paused_since__isnull=True,
        breached_at__isnull=True,
        due_at__gt=now,
        due_at__lte=now + DUE_SOON,
    )
    return qs.filter(Exists(soon.filter(ticket=OuterRef("pk"))))


def _with_next_due(qs: QuerySet) -> QuerySet:
    # A paused timer's due time is not counting down, so it does not rank the ticket.
    nearest = (
        _running()
        .filter(ticket=OuterRef("pk"), paused_since__isnull=True)
        .order_by("due_at")
        .values("due_at")[:1]
    )
    return qs.annotate(sla_next_due=Subquery(nearest))


def _ticket_timers() -> list[Prefetch]:
    return [Prefetch("sla", queryset=TicketSLA.objects.select_related("policy"))]


def register() -> None:
    for order, (label, url_name, description) in enumerate(SETTINGS_PAGES, start=57):
        settings_nav.register(label, url_name, order=order, description=description)
    contributions.register(
        contributions.Contribution(
            name="sla.timers",
            ticket_prefetches=_ticket_timers,
            sidebar_templates=("sla/_ticket_timers.html",),
            list_queryset=_list_rows,
            list_row_templates=("sla/_list_badge.html",),
            list_filters=(
                contributions.ListFilter("sla_breached", "SLA breached", _breached),
                contributions.ListFilter("sla_due_1h", "SLA due within 1 hour", _due_soon),
            ),
            list_sorts=(
                contributions.ListSort("sla_due", "SLA due time", "sla_next_due", _with_next_due),
            ),
        )
    )


SETTINGS_PAGES = [
    ("SLA policies", "sla:policies", "Which tickets get which response and resolution targets."),
    ("SLA calendars", "sla:calendars", "When the SLA clock runs: working hours and holidays."),
]
