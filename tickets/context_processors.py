"""The rail's live counts (built-in views, teams, saved views) and its Reports link for every
agent page, computed only when a template reads them."""

from django.utils.functional import SimpleLazyObject

from tickets import selectors


def rail(request):
    """The left rail's views and counts on every agent page, computed only if a page shows it."""
    membership = getattr(request, "membership", None)
    if getattr(request, "organization", None) is None or not membership:
        return {}
    teams = SimpleLazyObject(lambda: selectors.rail_teams(request.user))
    return {
        "counts": SimpleLazyObject(
            lambda: selectors.rail_counts(request.organization.pk, request.user)
        ),
        "teams": teams,
        # Admins and team managers get the rail's Reports link (the page checks for itself).
        "show_reports": SimpleLazyObject(
            lambda: membership.is_admin or any(team.managed for team in teams)
        ),
    }
