"""The platform quarantine: mail no tenant claimed, for platform staff on the platform host."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from inbound_mail import selectors
from inbound_mail.models import UnclaimedMessage
from inbound_mail.services import quarantine
from inbound_mail.views import raw_download


def staff_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@staff_required
def unclaimed(request):
    rows = selectors.unclaimed_list()
    return render(request, "inbound_mail/platform_quarantine.html", {"rows": rows})


@require_GET
@staff_required
def unclaimed_raw(request, pk: int):
    message = get_object_or_404(UnclaimedMessage, pk=pk)
    return raw_download(message.sha256, f"unclaimed-{message.pk}")


@require_POST
@staff_required
def unclaimed_reprocess(request, pk: int):
    receipt = quarantine.unclaimed_reprocess(message=get_object_or_404(UnclaimedMessage, pk=pk))
    if receipt.inbound_ids:
        messages.success(request, "Routed to its tenant and queued.")
    else:
        messages.error(request, "Still no tenant has an address it was sent to.")
    return redirect("inbound_mail_platform:unclaimed")


@require_POST
@staff_required
def unclaimed_delete(request, pk: int):
    quarantine.unclaimed_delete(message=get_object_or_404(UnclaimedMessage, pk=pk))
    messages.success(request, "Message deleted.")
    return redirect("inbound_mail_platform:unclaimed")
