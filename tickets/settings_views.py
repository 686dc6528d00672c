"""Settings pages for statuses, priorities and canned responses (tenant admins only)."""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants.access import admin_required
from tickets import placeholders, settings_services
from tickets.models import CannedResponse, Priority, Status, Ticket
from tickets.settings_forms import CannedForm, PriorityForm, StatusForm


def _row(model, pk):
    row = model.objects.filter(pk=pk).first() if str(pk).isdigit() else None
    if row is None:
        raise Http404("No such row.")
    return row


def _edit_target(request, model):
    pk = request.GET.get("edit") or request.POST.get("id")
    return _row(model, pk) if pk else None


@admin_required
def statuses(request):
    status = _edit_target(request, Status)
    form = StatusForm(request.POST or None, instance=status)
    if request.method == "POST" and form.is_valid():
        settings_services.status_save(
            organization=request.organization, status=status, **form.cleaned_data
        )
        messages.success(request, "Status saved.")
        return redirect("settings_statuses")
    rows = list(Status.objects.all())
    usage = _ticket_counts("status_id")
    return render(
        request,
        "settings/statuses.html",
        {"rows": rows, "form": form, "editing": status, "usage": usage},
        status=400 if request.method == "POST" else 200,
    )


def _ticket_counts(field: str) -> dict[int, int]:
    """How many tickets use each status or priority: shown so admins know what they delete."""
    return dict(Ticket.objects.values_list(field).annotate(n=Count("pk")).order_by())


@require_POST
@admin_required
def status_move(request, pk: int):
    direction = -1 if request.POST.get("direction") == "up" else 1
    settings_services.position_move(model=Status, row=_row(Status, pk), direction=direction)
    return redirect("settings_statuses")


@require_POST
@admin_required
def status_delete(request, pk: int):
    try:
        settings_services.status_delete(status=_row(Status, pk))
        messages.success(request, "Status deleted.")
    except settings_services.InUse as exc:
        messages.error(request, str(exc))
    return redirect("settings_statuses")


@admin_required
def priorities(request):
    priority = _edit_target(request, Priority)
    form = PriorityForm(request.POST or None, instance=priority)
    if request.method == "POST" and form.is_valid():
        settings_services.priority_save(
            organization=request.organization, priority=priority, **form.cleaned_data
        )
        messages.success(request, "Priority saved.")
        return redirect("settings_priorities")
    rows = list(Priority.objects.order_by("-rank", "id"))
    usage = _ticket_counts("priority_id")
    return render(
        request,
        "settings/priorities.html",
        {"rows": rows, "form": form, "editing": priority, "usage": usage},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@admin_required
def priority_delete(request, pk: int):
    try:
        settings_services.priority_delete(priority=_row(Priority, pk))
        messages.success(request, "Priority deleted.")
    except settings_services.InUse as exc:
        messages.error(request, str(exc))
    return redirect("settings_priorities")


@admin_required
def canned_responses(request):
    canned = _edit_target(request, CannedResponse)
    form = CannedForm(
        request.POST or None, instance=canned or CannedResponse(organization=request.organization)
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Canned response saved.")
        return redirect("settings_canned")
    return render(
        request,
        "settings/canned.html",
        {
            "rows": list(CannedResponse.objects.all()),
            "form": form,
            "editing": canned,
            "placeholders": placeholders.AVAILABLE,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@admin_required
def canned_delete(request, pk: int):
    settings_services.canned_response_delete(canned=_row(CannedResponse, pk))
    messages.success(request, "Canned response deleted.")
    return redirect("settings_canned")
