"""Reads the portal's pages share: the tenant's portal settings."""

from django.http import Http404

from portal.models import PortalSettings


def portal_settings(organization) -> PortalSettings:
    """The tenant's portal settings (made with the defaults on first use)."""
    found, _ = PortalSettings.objects.get_or_create(organization=organization)
    return found


def request_portal_settings(request) -> PortalSettings:
    """The request's tenant's portal settings, read once however many parts of the page (the
    enabled check, the view, the templates' context) ask."""
    found = getattr(request, "_portal_settings", None)
    if found is None:
        found = request._portal_settings = portal_settings(request.organization)
    return found


def require_portal_enabled(request) -> PortalSettings:
    """The settings, or a 404 when the admin turned the portal off."""
    found = request_portal_settings(request)
    if not found.portal_enabled:
        raise Http404("The portal is not enabled.")
    return found
