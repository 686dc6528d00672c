"""Reads the portal's pages share: the tenant's portal settings."""

from django.http import Http404

from portal.models import PortalSettings


def portal_settings(organization) -> PortalSettings:
    """The tenant's portal settings (made with the defaults on first use)."""
    found, _ = PortalSettings.objects.get_or_create(organization=organization)
    return found


def require_portal_enabled(request) -> PortalSettings:
    """The settings, or a 404 when the admin turned the portal off."""
    found = portal_settings(request.organization)
    if not found.portal_enabled:
        raise Http404("The portal is not enabled.")
    return found
