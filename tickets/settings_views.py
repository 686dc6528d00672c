"""Settings pages for statuses, priorities and canned responses (tenant admins only)."""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from tenants import confirm, deletion_guards
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
    status = _row(Status, pk)
    return _delete_with_replacement(
        request,
        row=status,
        noun="status",
        replacements=settings_services.status_replacements(status),
        in_use=Ticket.objects.filter(status=status).count(),
        delete=settings_services.status_delete,
        list_url="settings_statuses",
    )


def _delete_with_replacement(request, *, row, noun, replacements, in_use, delete, list_url):
    """Confirm, and for a row tickets use, ask where they go; then delete in one service call.
    A row that automations name is refused first (tenants.deletion_guards)."""
    what, cancel_url = f"the {noun} “{row.name}”", reverse(list_url)
    if refused := deletion_guards.refusal(request, row, what=what, cancel_url=cancel_url):
        return refused
    options = {str(r.pk): r for r in replacements}
    picked = request.POST.get("replacement", "")
    replacement = options.get(picked)
    error = ""
    if in_use and confirm.confirmed(request) and replacement is None:
        error = f"Pick the {noun} its tickets move to."
    tickets = f"{in_use} ticket{'' if in_use == 1 else 's'}"
    confirmation = confirm.Confirmation(
        question=f"Delete the {noun} “{row.name}”?",
        detail=f"{tickets} {'uses' if in_use == 1 else 'use'} it; they move to the {noun} you pick."
        if in_use
        else "",
        cancel_url=reverse(list_url),
        choice=("replacement", f"Move its {tickets} to", _choices(replacements), error)
        if in_use and replacements
        else None,
    )
    if replacements and (not confirm.confirmed(request) or error):
        return confirm.confirm_page(request, confirmation, status=400 if error else 200)
    try:
        moved = delete(**{noun: row, "replacement": replacement, "actor_user": request.user})
    except settings_services.InUse as exc:
        messages.error(request, str(exc))
        return redirect(list_url)
    text = f"{noun.capitalize()} “{row.name}” deleted."
    if moved and replacement is not None:
        text += f" {tickets} moved to “{replacement.name}”."
    messages.success(request, text)
    return redirect(list_url)


def _choices(rows) -> list[tuple[str, str]]:
    return [(str(r.pk), r.name) for r in rows]


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
    priority = _row(Priority, pk)
    return _delete_with_replacement(
        request,
        row=priority,
        noun="priority",
        replacements=settings_services.priority_replacements(priority),
        in_use=Ticket.objects.filter(priority=priority).count(),
        delete=settings_services.priority_delete,
        list_url="settings_priorities",
    )


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
    canned = _row(CannedResponse, pk)
    question = f"Delete the canned response “{canned.name}”?"
    cancel_url = reverse("settings_canned")
    if asking := confirm.unconfirmed(request, confirm.Confirmation(question, cancel_url)):
        return asking
    settings_services.canned_response_delete(canned=canned)
    messages.success(request, f"Canned response “{canned.name}” deleted.")
    return redirect("settings_canned")
