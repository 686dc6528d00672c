"""`manage.py reports_rebuild --tenant <slug> [--start YYYY-MM-DD] [--end YYYY-MM-DD]`: rebuild a
tenant's report rollups for a range (the last 400 days by default), after an import, a change
of the tenant's time zone or of its SLA calendars. The beat's refresh keeps them current
otherwise."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reports.services import rollups_rebuild
from tenants.models import Organization
from tenants.scoping import tenant_scope

DEFAULT_DAYS = 400


class Command(BaseCommand):
    help = "Rebuild a tenant's report rollups for a date range."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="the tenant's slug")
        parser.add_argument("--start", type=date.fromisoformat, help="first day (ISO date)")
        parser.add_argument("--end", type=date.fromisoformat, help="last day (ISO date)")

    def handle(self, *args, tenant: str, start=None, end=None, **options):
        organization = Organization.objects.filter(slug=tenant).first()
        if organization is None:
            raise CommandError(f"no tenant {tenant!r}")
        end = end or timezone.now().date()
        start = start or end - timedelta(days=DEFAULT_DAYS - 1)
        if start > end:
            raise CommandError("--start must not be after --end")
        with tenant_scope(organization):
            count = rollups_rebuild(organization_id=organization.pk, start=start, end=end)
        self.stdout.write(f"rebuilt the facts of {count} ticket(s), {start} to {end}")
