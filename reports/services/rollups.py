"""Keeping the reports' rollups current: a tenant's facts rebuilt for a date range
(`rollups_rebuild`, also after a change of time zone or calendars), and the beat's refresh of
the tickets whose timeline grew since its last run (`rollups_refresh`).

Both write through `_write`: batch by batch the tickets' facts are replaced, then every
DailyCount day they touched, before or after, is summed again from the facts. Each of those
transactions holds the tenant's RollupState row locked, so two writers never insert one
ticket's facts, or count one day, twice.
"""

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django_scopes import scopes_disabled

from reports.models import DailyCount, RollupCursor, RollupState, TicketFact
from reports.services.facts import Clock, facts_for
from tenants.models import Organization
from tenants.scoping import active_organization_id, bulk_create_checked, tenant_scope
from tickets.models import Ticket, TicketEvent

BATCH = 2000  # tickets per facts batch
EVENTS_PER_RUN = 20_000  # timeline rows the refresh reads per run; the next run goes on
# Event ids are taken in insert order but committed in any order: a row with a lower id can
# become visible after a higher one was read. The cursor therefore stops short of rows younger
# than this, which the next run reads again (recounting a ticket twice costs nothing).
SETTLE = timedelta(minutes=2)


def rollups_rebuild(*, organization_id: int, start: date, end: date) -> int:
    """Rebuild the active tenant's facts of every ticket that counts in [start, end] (created,
    answered or resolved in it, or open through it) and those days' counts. Returns the number
    of tickets. Runs inside that tenant's scope (a TenantTask, or `tenant_scope`)."""
    if active_organization_id() != organization_id:
        raise ValueError("rollups_rebuild runs inside the scope of the tenant it rebuilds")
    organization = Organization.objects.get(pk=organization_id)
    clock = Clock.load(organization)
    low, high = _bounds(clock, start), _bounds(clock, end + timedelta(days=1))
    touching = Ticket.objects.filter(created_at__lt=high).filter(
        Q(created_at__gte=low)
        | Q(resolved_at__isnull=True)
        | Q(resolved_at__gte=low)
        | Q(first_response_at__gte=low)
    )
    ids = list(touching.order_by("pk").values_list("pk", flat=True))
    days = {start + timedelta(days=n) for n in range((end - start).days + 1)}
    _write(organization, clock, ids, days)
    return len(ids)


def _bounds(clock: Clock, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.zone)


def rollups_refresh_tickets(*, organization: Organization, ticket_ids: Iterable[int]) -> None:
    """Bring the active tenant's facts of these tickets, and their days, up to date."""
    _write(organization, Clock.load(organization), sorted(set(ticket_ids)), set())


def rollups_refresh(*, now: datetime | None = None, limit: int = EVENTS_PER_RUN) -> int:
    """Beat: read the timeline past the cursor across tenants (to find the work only), refresh
    each tenant's touched tickets in its own scope, then move the cursor. Returns the number of
    tickets refreshed."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor = _cursor()
        # Across tenants to find which tickets changed; each is then refreshed in its tenant.
        with scopes_disabled():  # only ids are read here; the work is done in each tenant
            rows = list(
                TicketEvent.objects.filter(pk__gt=cursor.last_event_id)
                .order_by("pk")
                .values_list("pk", "organization_id", "ticket_id", "created_at")[:limit]
            )
        by_tenant: dict[int, set[int]] = {}
        for _pk, org_id, ticket_id, _at in rows:
            by_tenant.setdefault(org_id, set()).add(ticket_id)
        for organization in _organizations(by_tenant):
            with tenant_scope(organization):
                rollups_refresh_tickets(
                    organization=organization, ticket_ids=by_tenant[organization.pk]
                )
        cursor.last_event_id = _settled(rows, cursor.last_event_id, now, full=len(rows) == limit)
        cursor.save(update_fields=["last_event_id", "updated_at"])
    return sum(len(ids) for ids in by_tenant.values())


def _cursor() -> RollupCursor:
    cursor = RollupCursor.objects.select_for_update().order_by("pk").first()
    return cursor or RollupCursor.objects.create()


def _organizations(by_tenant: dict[int, set[int]]) -> list[Organization]:
    return list(Organization.objects.filter(pk__in=by_tenant).order_by("pk"))


def _settled(rows: list[tuple], last: int, now: datetime, *, full: bool) -> int:
    """The highest id before the first row still settling (every row when the run was full:
    a backlog that large is old, and must not be read again and again)."""
    for pk, _org, _ticket, created_at in rows:
        if not full and created_at > now - SETTLE:
            return last
        last = pk
    return last


def _write(organization: Organization, clock: Clock, ids: list[int], days: set[date]) -> None:
    """Replace the facts batch by batch, then count every day they touched, before or after,
    once."""
    touched = set(days)
    for offset in range(0, len(ids), BATCH):
        touched |= _replace(organization, clock, ids[offset : offset + BATCH])
    _recount(organization, touched)


@transaction.atomic
def _replace(organization: Organization, clock: Clock, ids: list[int]) -> set[date]:
    _lock(organization)
    old = TicketFact.objects.filter(ticket_id__in=ids)
    touched = _days(old.values_list("created_day", "resolved_day"))
    old.delete()
    facts = facts_for(ids, clock)
    bulk_create_checked(TicketFact, facts, batch_size=BATCH)
    return touched | _days((f.created_day, f.resolved_day) for f in facts)


def _lock(organization: Organization) -> RollupState:
    """The tenant's RollupState row, locked until the transaction ends."""
    RollupState.objects.get_or_create(organization=organization)
    return RollupState.objects.select_for_update().get(organization=organization)


def _days(pairs: Iterable[tuple[date | None, date | None]]) -> set[date]:
    return {day for pair in pairs for day in pair if day is not None}


@transaction.atomic
def _recount(organization: Organization, days: set[date]) -> None:
    """Sum those days' DailyCount rows again from the facts (two grouped queries)."""
    state = _lock(organization)
    RollupState.objects.filter(pk=state.pk).update(
        refreshed_at=timezone.now(), version=F("version") + 1
    )
    if not days:
        return
    DailyCount.objects.filter(day__in=days).delete()
    counts: dict[tuple, list[int]] = {}
    for field, slot in (("created_day", 0), ("resolved_day", 1)):
        rows = (
            TicketFact.objects.filter(**{f"{field}__in": days})
            .values(field, "team_id", "source")
            .annotate(n=Count("id"))
            .values_list(field, "team_id", "source", "n")
        )
        for day, team_id, source, n in rows:
            counts.setdefault((day, team_id, source), [0, 0])[slot] = n
    rows = [
        DailyCount(
            organization=organization,
            day=day,
            team_id=team_id,
            source=source,
            created=created,
            resolved=resolved,
        )
        for (day, team_id, source), (created, resolved) in counts.items()
    ]
    bulk_create_checked(DailyCount, rows, batch_size=BATCH)
