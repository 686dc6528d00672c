"""The websocket's tenant and its agent: what tenants.middleware and tenants.access decide for a
page, decided once for a socket.

`TenantWebsocketMiddleware` names the organization from the Host header exactly as the pages'
TenantMiddleware does (`<slug>.<BASE_DOMAIN>` or a verified custom domain, the host checked
against ALLOWED_HOSTS); an unknown host or the platform's own is closed before any consumer
runs, and so is an Origin of another host: a page of another site cannot open a socket with
this tenant's cookies. `agent_role` is the consumer's admission: a signed-in, active user with
a membership (agent or admin) in that organization, whose session still exists.
"""

from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.http.request import split_domain_port, validate_host

from tenants.hosts import is_platform_host, organization_for_host
from tenants.models import Membership, Organization
from tenants.scoping import tenant_scope

AGENT_ROLES = (Membership.AGENT, Membership.ADMIN)


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return ""


def organization_for(host: str) -> Organization | None:
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    if is_platform_host(host):
        return None  # the platform's own host has no tenant, and no socket
    return organization_for_host(host)


def same_origin(origin: str, host: str) -> bool:
    """The page that opens the socket is on the socket's own host (and port)."""
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return bool(netloc) and netloc.lower() == host.strip().lower()


class TenantWebsocketMiddleware:
    """`scope["organization"]` from the Host header; anything else is refused."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("TenantWebsocketMiddleware is for websockets only")
        host = _header(scope, b"host")
        organization = None
        if same_origin(_header(scope, b"origin"), host):
            organization = await database_sync_to_async(organization_for)(host)
        if organization is None:
            return await WebsocketDenier()(scope, receive, send)
        return await self.application({**scope, "organization": organization}, receive, send)


def agent_role(*, organization: Organization, user, session: SessionBase | None) -> str | None:
    """The user's role in the organization when they may have a socket there, else None."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if session is None or not session.session_key or not session.exists(session.session_key):
        return None  # signed out, or ended from the sessions page since
    with tenant_scope(organization):
        role = Membership.objects.filter(user=user).values_list("role", flat=True).first()
    return role if role in AGENT_ROLES else None
