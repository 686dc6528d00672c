"""The active tenant and the user's membership, for every template."""

from tenants import settings_nav


def tenant(request):
    return {
        "organization": getattr(request, "organization", None),
        "settings_sections": settings_nav.sections(),
    }
