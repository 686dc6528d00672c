"""Search's Celery task: rebuild a tenant's documents (after its language changed)."""

from celery import shared_task

from search.services import index_rebuild
from tenants.tasks import TenantTask


@shared_task(base=TenantTask, name="search.reindex", ignore_result=True)
def reindex(*, organization_id: int) -> int:
    """Every document of the tenant again, in its language (TenantTask entered it)."""
    return index_rebuild(organization_id=organization_id)
