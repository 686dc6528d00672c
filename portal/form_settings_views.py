"""Settings -> Portal forms (tenant admins only): the intake forms in the portal's order, each
form's name, description, switch and defaults, and its fields (add, edit, reorder, delete).
Views parse, call one service, render; another tenant's form or field is a 404 (the scoped
managers never find it); a bad POST gets its messages beside the fields, never a 500."""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.form_settings_forms import IntakeFieldForm, IntakeFormForm
from portal.models import IntakeField, IntakeForm
from portal.services import intake as services
from tenants import confirm
from tenants.access import admin_required


def _form(pk) -> IntakeForm:
    found = IntakeForm.objects.filter(pk=pk).first()
    if found is None:
        raise Http404("No such form.")
    return found


def _field(intake_form: IntakeForm, pk) -> IntakeField:
    found = IntakeField.objects.filter(form=intake_form, pk=pk).first()
    if found is None:
        raise Http404("No such field.")
    return found


def _direction(request) -> int:
    return -1 if request.POST.get("direction") == "up" else 1


@require_GET
@admin_required
def form_list(request):
    rows = list(
        IntakeForm.objects.select_related("default_team", "default_priority").annotate(
            field_count=Count("fields")
        )
    )
    return render(request, "portal/settings/forms.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@admin_required
def form_edit(request, pk: int | None = None):
    intake_form = _form(pk) if pk is not None else None
    form = IntakeFormForm(request.POST or None, instance=intake_form)
    if request.method == "POST" and form.is_valid():
        saved = services.intake_form_save(
            organization=request.organization, intake_form=intake_form, **form.cleaned_data
        )
        messages.success(request, f"Form “{saved.name}” saved.")
        return redirect("portal_forms:edit", pk=saved.pk)
    fields = list(intake_form.fields.all()) if intake_form is not None else []
    context = {"form": form, "editing": intake_form, "fields": fields}
    status = 400 if request.method == "POST" else 200
    return render(request, "portal/settings/form.html", context, status=status)


@require_POST
@admin_required
def form_move(request, pk: int):
    services.intake_form_move(intake_form=_form(pk), direction=_direction(request))
    return redirect("portal_forms:list")


@require_POST
@admin_required
def form_delete(request, pk: int):
    intake_form = _form(pk)
    question = f"Delete the form “{intake_form.name}”?"
    detail = (
        "Customers can no longer choose it. Its tickets keep what was submitted, but the "
        "ticket list can no longer filter on its fields."
    )
    cancel_url = reverse("portal_forms:list")
    if asking := confirm.unconfirmed(request, confirm.Confirmation(question, cancel_url, detail)):
        return asking
    services.intake_form_delete(intake_form=intake_form)
    messages.success(request, f"Form “{intake_form.name}” deleted.")
    return redirect("portal_forms:list")


@require_http_methods(["GET", "POST"])
@admin_required
def field_edit(request, pk: int, field_pk: int | None = None):
    intake_form = _form(pk)
    intake_field = _field(intake_form, field_pk) if field_pk is not None else None
    form = IntakeFieldForm(request.POST or None, intake_form=intake_form, instance=intake_field)
    if request.method == "POST" and form.is_valid():
        saved = services.intake_field_save(
            intake_form=intake_form, intake_field=intake_field, **form.cleaned_data
        )
        messages.success(request, f"Field “{saved.label}” saved.")
        return redirect("portal_forms:edit", pk=intake_form.pk)
    context = {"form": form, "intake_form": intake_form, "editing": intake_field}
    status = 400 if request.method == "POST" else 200
    return render(request, "portal/settings/form_field.html", context, status=status)


@require_POST
@admin_required
def field_move(request, pk: int, field_pk: int):
    intake_field = _field(_form(pk), field_pk)
    services.intake_field_move(intake_field=intake_field, direction=_direction(request))
    return redirect("portal_forms:edit", pk=pk)


@require_POST
@admin_required
def field_delete(request, pk: int, field_pk: int):
    intake_form = _form(pk)
    intake_field = _field(intake_form, field_pk)
    question = f"Delete the field “{intake_field.label}” of “{intake_form.name}”?"
    detail = (
        "Tickets keep the answers already submitted; the ticket list can no longer filter on it."
    )
    cancel_url = reverse("portal_forms:edit", args=[intake_form.pk])
    if asking := confirm.unconfirmed(request, confirm.Confirmation(question, cancel_url, detail)):
        return asking
    services.intake_field_delete(intake_field=intake_field)
    messages.success(request, f"Field “{intake_field.label}” deleted.")
    return redirect("portal_forms:edit", pk=intake_form.pk)
