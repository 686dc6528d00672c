"""The scan: timers whose due time or warning time has come are claimed, marked and announced
(`sla.breached`, `sla.warning` domain events after commit), each exactly once.

Per tenant, all in one transaction per run: the claim reads the open timers through the
partial indexes (organization, due_at) and (organization, warn_at) with FOR UPDATE SKIP
LOCKED, so two workers scanning at once split the rows between them and never both take
one; the marks are written before commit, so a later scan no longer sees them. Breaches are
claimed first: a timer past both its times is announced as breached only. The queries per
tenant do not grow with the number of timers. Warnings need no working-hours check here:
warn_at is a working instant already (sla.services.clock).
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from sla.models import TicketSLA
from sla.services.clock import LABELS
from tenants.models import Organization
from tenants.scoping import assert_writable, bulk_create_checked, tenant_scope
from tickets import events
from tickets.models import TicketEvent

LIMIT = 1000  # timers per tenant, kind and run; a full claim is continued by the next run


@dataclass
class Scanned:
    breached: int = 0
    warned: int = 0


def sla_scan(*, now: datetime | None = None, limit: int = LIMIT, organizations=None) -> Scanned:
    """Every tenant (or those given) in turn, each in its own transaction."""
    now = now or timezone.now()
    total = Scanned()
    if organizations is None:
        organizations = Organization.objects.order_by("pk")
    # One transaction for the run: a commit waits for the disk (some 25 ms each under load,
    # measured in bench/sla.py), so one per tenant would cost more than all the claims.
    with transaction.atomic():
        for organization in organizations:
            with tenant_scope(organization):
                done = _scan_tenant(organization, now, limit)
            total.breached += done.breached
            total.warned += done.warned
    return total


@transaction.atomic
def sla_scan_tenant(*, organization: Organization, now: datetime, limit: int = LIMIT) -> Scanned:
    """Claim, mark and announce the active tenant's due breaches and warnings."""
    return _scan_tenant(organization, now, limit)


def _scan_tenant(organization: Organization, now: datetime, limit: int) -> Scanned:
    open_timers = TicketSLA.objects.filter(
        stopped_at__isnull=True, breached_at__isnull=True, paused_since__isnull=True
    )
    breached = _claim(open_timers.filter(due_at__lte=now), "due_at", limit)
    warnings = open_timers.filter(
        warned_at__isnull=True, warn_at__isnull=False, warn_at__lte=now, due_at__gt=now
    )
    warned = _claim(warnings, "warn_at", limit)
    if breached:
        TicketSLA.objects.filter(pk__in=[t[0] for t in breached]).update(breached_at=now)
    if warned:
        TicketSLA.objects.filter(pk__in=[t[0] for t in warned]).update(warned_at=now)
    rows = [_event(organization, t, "breached") for t in breached]
    rows += [_event(organization, t, "warned") for t in warned]
    _insert_events(rows)
    for name, claimed in ((events.SLA_BREACHED, breached), (events.SLA_WARNING, warned)):
        for _, ticket_id, target, due_at in claimed:
            data = {"target": target, "due_at": due_at.isoformat()}
            events.emit(events.DomainEvent(name, organization.pk, ticket_id, None, data))
    return Scanned(len(breached), len(warned))


def _insert_events(rows: list[TicketEvent]) -> None:
    """The timeline rows of a run, checked like every tenant write. On PostgreSQL they are
    streamed with COPY: bulk_create has psycopg quote every value in Python, which cost some
    80 ms per 1,000 rows of a run in bench/sla.py (a quarter of the scan)."""
    if connection.vendor != "postgresql" or not rows:
        bulk_create_checked(TicketEvent, rows)
        return
    for row in rows:
        assert_writable(row)
    table = TicketEvent._meta.db_table
    copy_sql = f"COPY {table} (organization_id, ticket_id, kind, data, created_at) FROM STDIN"
    # connection.cursor() is allow-listed here (Makefile lint): COPY has no ORM form, and every
    # row's organization was checked against the active tenant just above.
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(
                (row.organization_id, row.ticket_id, row.kind, json.dumps(row.data), row.created_at)
            )


def _claim(timers, order: str, limit: int) -> list[tuple[int, int, str, datetime]]:
    # SKIP LOCKED: rows another scan holds are its own; it marks them before it commits.
    claimed = timers.select_for_update(skip_locked=True).order_by(order, "id")
    return list(claimed.values_list("id", "ticket_id", "target", "due_at")[:limit])


def _event(organization: Organization, claimed, action: str) -> TicketEvent:
    _, ticket_id, target, due_at = claimed
    verb = "breached" if action == "breached" else "warning"
    return TicketEvent(
        organization_id=organization.pk,
        ticket_id=ticket_id,
        kind=TicketEvent.Kind.SLA,
        data={
            "action": action,
            "target": target,
            "due_at": due_at.isoformat(),
            "text": f"{LABELS[target]} {verb}",
        },
    )
