"""The rail's live counts for every agent page, computed only when a template reads them."""

from django.utils.functional import SimpleLazyObject

from tenants.models import Team
from tickets import selectors


def rail(request):
    """The left rail's views and counts on every agent page, computed only if a page shows it."""
    membership = getattr(request, "membership", None)
    if getattr(request, "organization", None) is None or not membership:
        return {}
    return {
        "counts": SimpleLazyObject(
            lambda: selectors.rail_counts(request.organization.pk, request.user)
        ),
        "teams": SimpleLazyObject(lambda: list(Team.objects.all())),
    }
