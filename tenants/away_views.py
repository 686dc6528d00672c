"""The signed-in agent's away switch (the user menu): away agents keep their tickets but get no new
ones from round-robin or least-loaded assignment; their team mates see them marked away."""

from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from tenants import services
from tenants.access import agent_required
from tenants.models import Membership
from tenants.redirects import safe_next

CHOICES = {"1": True, "0": False}


@require_POST
@agent_required
def account_away(request):
    # An explicit value rather than a toggle: a double click or a second tab leaves it as asked.
    is_away = CHOICES.get(request.POST.get("away", ""))
    if is_away is None:
        return HttpResponseBadRequest("Say away=1 or away=0.")
    membership = Membership.objects.get(pk=request.membership.pk)
    services.membership_set_away(membership=membership, is_away=is_away)
    if is_away:
        text = "You are away: automatic assignment skips you until you are back."
    else:
        text = "You are back: automatic assignment gives you tickets again."
    messages.success(request, text)
    return redirect(safe_next(request, reverse("tickets:list")))
