"""For the portal's templates: who is visiting (`visitor`), whether an agent is looking
(`portal_agent`), and the tenant's portal settings (`portal_settings`); each read only when a
template asks, so the agents' pages pay nothing."""

from django.utils.functional import SimpleLazyObject

from portal import auth
from portal.selectors import request_portal_settings


def portal(request):
    if getattr(request, "organization", None) is None:
        return {}
    return {
        "visitor": SimpleLazyObject(lambda: auth.visitor(request)),
        "portal_agent": SimpleLazyObject(lambda: auth.is_agent(request)),
        "portal_settings": SimpleLazyObject(lambda: request_portal_settings(request)),
    }
