"""The tenant from the Host header (404 for an unknown host), entered for the whole request, and
the signed-in user's membership in it; the signed-in browser's session record, and the audit
entry of every settings change."""

from django.conf import settings
from django.http import Http404
from django.utils.functional import SimpleLazyObject

from tenants import audit, sessions
from tenants.hosts import is_platform_host, organization_for_host
from tenants.models import Membership
from tenants.scoping import tenant_scope


class TenantMiddleware:
    """Enter the tenant named by the Host header for the whole request; unknown hosts are 404."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        host = request.get_host()
        if is_platform_host(host):
            request.organization = None
            request.urlconf = settings.PLATFORM_URLCONF
            return self.get_response(request)
        organization = organization_for_host(host)
        if organization is None:
            raise Http404("No helpdesk at this address.")
        request.organization = organization
        with tenant_scope(organization):
            return self.get_response(request)


def _membership_for(request) -> Membership | None:
    user = request.user
    if request.organization is None or not user.is_authenticated or not user.is_active:
        return None
    return Membership.objects.filter(user=user).first()


class MembershipMiddleware:
    """`request.membership`: the user's role in this tenant, looked up only when asked."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: _membership_for(request))
        return self.get_response(request)


class SessionActivityMiddleware:
    """Keep the signed-in browser's UserSession row current: its last-seen time (at most once a
    minute), and its key when Django rotates it mid-request; the request's session key is
    known to the services meanwhile (a new password keeps the session that chose it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if getattr(request, "organization", None) is None or not hasattr(request, "session"):
            return self.get_response(request)
        key_before = request.session.session_key
        if key_before and request.user.is_authenticated:
            sessions.user_session_touch(request=request)
        token = sessions.current_session_key.set(key_before)
        try:
            response = self.get_response(request)
        finally:
            sessions.current_session_key.reset(token)
        key_after = request.session.session_key
        if key_before and key_after and key_after != key_before:
            sessions.user_session_rekey(old_key=key_before, new_key=key_after)
        return response


class SettingsAuditMiddleware:
    """Write an audit entry for every settings change a member makes (tenants.audit's rule)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method == "POST" and getattr(request, "organization", None) is not None:
            audit.audit_settings_change(request=request, response=response)
        return response
