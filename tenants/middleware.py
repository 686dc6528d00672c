"""The tenant from the Host header (404 for an unknown host), entered for the whole request, and
the signed-in user's membership in it."""

from django.conf import settings
from django.http import Http404
from django.utils.functional import SimpleLazyObject

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
