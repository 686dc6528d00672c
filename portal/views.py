"""The portal's front page at the tenant host's root: the tenant's welcome, signing in, and the
ways in (a new ticket, my tickets, the contact form). With the portal off, `/` is what it was:
agents go to their workspace, anyone else to the agents' sign-in."""

from django.shortcuts import redirect, render

from portal import auth
from portal.auth_forms import LinkRequestForm
from portal.selectors import request_portal_settings
from portal.services.auth import LINK_MINUTES


def home(request):
    settings = request_portal_settings(request)
    if not settings.portal_enabled:
        if auth.is_agent(request):
            return redirect("tickets:list")
        return redirect("login")
    context = {"form": LinkRequestForm(), "next": "", "link_minutes": LINK_MINUTES}
    return render(request, "portal/home.html", context)
