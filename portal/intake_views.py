"""A new ticket from the portal: `/new/` lists the tenant's enabled intake forms to choose from
(or, with none, is the plain form: subject, message, files), `/new/<form_id>/` is one form.
The ticket's source is `portal` and its requester the signed-in contact; an agent previewing
the portal sees the page read-only. A disabled or another tenant's form is a 404."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from portal import auth
from portal.intake import intake_answer
from portal.intake_forms import NewTicketForm
from portal.models import IntakeForm
from portal.services.intake import portal_ticket_create
from tickets.models import Ticket
from tickets.services.attachments import Upload


@require_http_methods(["GET", "POST"])
@auth.contact_required
def new_ticket(request):
    choices = list(IntakeForm.objects.filter(enabled=True))
    if not choices:
        return _fill(request, None)
    if request.method == "POST":  # the plain form is not offered while forms exist
        return redirect("portal:new_ticket")
    context = {"intake_forms": choices, "can_act": request.visitor.can_act}
    return render(request, "portal/new_ticket_choose.html", context)


@require_http_methods(["GET", "POST"])
@auth.contact_required
def new_ticket_form(request, form_id: int):
    intake_form = (
        IntakeForm.objects.select_related("default_team", "default_priority")
        .filter(pk=form_id, enabled=True)
        .first()
    )
    if intake_form is None:
        raise Http404("No such form.")
    return _fill(request, intake_form)


def _fill(request, intake_form: IntakeForm | None):
    posted = request.method == "POST"
    context: dict = {"intake_form": intake_form, "can_act": request.visitor.can_act}
    if not request.visitor.can_act:  # an agent's preview reads, never acts
        return render(request, "portal/new_ticket.html", context, status=403 if posted else 200)
    form = NewTicketForm(
        request.POST if posted else None,
        request.FILES if posted else None,
        intake_form=intake_form,
    )
    if posted and form.is_valid():
        ticket = portal_ticket_create(
            organization=request.organization,
            requester=request.visitor.contact,
            subject=form.cleaned_data["subject"],
            body_text=form.cleaned_data["message"],
            source=Ticket.Source.PORTAL,
            intake_form=intake_form,
            answer=intake_answer(form),
            uploads=[_upload(f) for f in form.cleaned_data["attachments"]],
        )
        messages.success(request, f"Thank you: we have your request, number {ticket.number}.")
        return redirect("portal:ticket", number=ticket.number)
    # Browsers never keep chosen files after a page comes back: say so beside the file fields.
    context.update(form=form, files_lost=posted and bool(request.FILES))
    return render(request, "portal/new_ticket.html", context, status=400 if posted else 200)


def _upload(f) -> Upload:
    return Upload(filename=f.name, content=f.read(), content_type=f.content_type or "")
