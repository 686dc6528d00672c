"""The Celery task base that enters the tenant: tasks take `organization_id` and plain values."""

from celery import Task
from django_scopes import scopes_disabled

from tenants.models import Organization
from tenants.scoping import tenant_scope


class TenantTask(Task):
    """Looks up `organization_id` (a required keyword argument) and runs inside its scope."""

    abstract = True

    def __call__(self, *args, organization_id: int, **kwargs):
        with scopes_disabled():  # Organization is not tenant-owned; this only finds the tenant
            organization = Organization.objects.filter(pk=organization_id).first()
        if organization is None:
            return None  # the tenant was deleted after the task was queued: nothing to do
        with tenant_scope(organization):
            return super().__call__(*args, organization_id=organization_id, **kwargs)
