"""Thin Celery tasks around the rollups: the beat's refresh (every few minutes, across
tenants) and a tenant's rebuild of a date range (after its time zone or calendars change)."""

from datetime import date

from celery import shared_task

from reports.services import rollups_rebuild, rollups_refresh
from tenants.tasks import TenantTask


@shared_task(name="reports.refresh", ignore_result=True)
def refresh() -> int:
    """Beat: bring the facts of every ticket whose timeline grew up to date."""
    return rollups_refresh()


@shared_task(base=TenantTask, name="reports.rebuild", ignore_result=True)
def rebuild(*, organization_id: int, start: str, end: str) -> int:
    """Rebuild the tenant's rollups of [start, end] (ISO dates; TenantTask entered it)."""
    return rollups_rebuild(
        organization_id=organization_id,
        start=date.fromisoformat(start),
        end=date.fromisoformat(end),
    )
