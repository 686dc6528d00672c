"""The reports and saved views part of seed_demo: two shared views in acme's rail (urgent open
tickets, Billing's open tickets) and the rollups of the seeded history, so that Reports shows
the last 90 days at once instead of after the beat task's first runs. Idempotent: a view that
exists by name is left as it is, and a rebuild replaces what it rebuilds."""

from datetime import timedelta

from django.utils import timezone

from reports.services import rollups_rebuild
from tenants.models import Organization, Team
from tickets.models import Priority, SavedView
from tickets.services.saved_views import saved_view_create

DAYS = 90


def seed_views(org: Organization) -> None:
    urgent = Priority.objects.filter(name="Urgent").first()
    billing = Team.objects.filter(name="Billing").first()
    views = []
    if urgent is not None:
        views.append(("Urgent, open", {"view": "open", "priority": str(urgent.pk)}))
    if billing is not None:
        views.append(("Billing, open", {"view": "open", "team": str(billing.pk), "sort": "oldest"}))
    for name, query in views:
        if not SavedView.objects.filter(owner__isnull=True, name=name).exists():
            saved_view_create(
                organization=org,
                owner=None,
                name=name,
                query=query,
                columns=["requester", "status", "priority", "assignee", "updated"],
            )


def seed_rollups(org: Organization) -> None:
    today = timezone.localdate()
    rollups_rebuild(organization_id=org.pk, start=today - timedelta(days=DAYS), end=today)
