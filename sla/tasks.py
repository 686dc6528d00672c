"""Thin Celery tasks around the SLA services: the scan (beat, every minute) and the recompute
of a tenant's open tickets after its policies, calendars or holidays changed."""

from celery import shared_task
from django_scopes import get_scope

from sla.services.recompute import recompute_tenant
from sla.services.scan import sla_scan
from tenants.tasks import TenantTask


@shared_task(name="sla.scan", ignore_result=True)
def scan() -> int:
    """Beat: mark and announce due breaches and warnings in every tenant."""
    done = sla_scan()
    return done.breached + done.warned


@shared_task(base=TenantTask, name="sla.recompute", ignore_result=True)
def recompute(*, organization_id: int) -> int:
    """Recompute every open ticket's timers of the tenant (TenantTask entered it)."""
    return recompute_tenant(organization=get_scope()["organization"])
