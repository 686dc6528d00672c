"""Settings -> SLA (tenant admins only): calendars with their weekly hours and holidays, and
policies in order with the due-time preview. Views parse, call one service, render; another
tenant's row is a 404 (the scoped managers never find it)."""

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from sla import preview, settings_services
from sla.calendar import CalendarError
from sla.forms import (
    CalendarForm,
    HolidayForm,
    HolidayImportForm,
    PolicyForm,
    PreviewForm,
    intervals_to_text,
)
from sla.models import Calendar, Holiday, Policy
from tenants.access import admin_required


def _row(model, pk, **related):
    row = model.objects.filter(pk=pk, **related).first() if str(pk).isdigit() else None
    if row is None:
        raise Http404("No such row.")
    return row


# -- calendars ----------------------------------------------------------------------------------


@admin_required
def calendars(request):
    form = CalendarForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        calendar = settings_services.calendar_save(
            organization=request.organization, calendar=None, **form.values()
        )
        messages.success(request, f"Calendar “{calendar.name}” added.")
        return redirect("sla:calendar", pk=calendar.pk)
    rows = list(Calendar.objects.prefetch_related("holidays", "policies"))
    return render(
        request,
        "sla/calendars.html",
        {"rows": rows, "form": form, "summaries": {c.pk: _weekly_summary(c) for c in rows}},
        status=400 if request.method == "POST" else 200,
    )


def _weekly_summary(calendar: Calendar) -> list[tuple[str, str]]:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    weekly = calendar.weekly or {}
    return [(names[n], intervals_to_text(weekly.get(str(n))) or "closed") for n in range(7)]


@admin_required
def calendar_edit(request, pk: int):
    calendar = _row(Calendar, pk)
    form = CalendarForm(request.POST or None, calendar=calendar)
    if request.method == "POST" and form.is_valid():
        settings_services.calendar_save(
            organization=request.organization, calendar=calendar, **form.values()
        )
        messages.success(request, "Calendar saved.")
        return redirect("sla:calendar", pk=calendar.pk)
    holiday = _edited_holiday(request, calendar)
    return _calendar_page(
        request,
        calendar,
        form=form,
        holiday_form=HolidayForm(calendar=calendar, holiday=holiday),
        editing_holiday=holiday,
        status=400 if request.method == "POST" else 200,
    )


def _edited_holiday(request, calendar: Calendar) -> Holiday | None:
    pk = request.GET.get("holiday")
    return _row(Holiday, pk, calendar=calendar) if pk else None


def _calendar_page(request, calendar, *, status=200, **forms):
    context = {
        "calendar": calendar,
        "form": CalendarForm(calendar=calendar),
        "holiday_form": HolidayForm(calendar=calendar),
        "import_form": HolidayImportForm(initial={"year": timezone.now().year}),
        "holidays": list(calendar.holidays.all()),
        "policies": list(calendar.policies.all()),
        "editing_holiday": None,
        **forms,
    }
    return render(request, "sla/calendar.html", context, status=status)


@require_POST
@admin_required
def calendar_default(request, pk: int):
    calendar = _row(Calendar, pk)
    settings_services.calendar_make_default(calendar=calendar)
    messages.success(request, f"“{calendar.name}” is now the default calendar.")
    return redirect("sla:calendars")


@require_POST
@admin_required
def calendar_delete(request, pk: int):
    calendar = _row(Calendar, pk)
    try:
        settings_services.calendar_delete(calendar=calendar)
        messages.success(request, f"Calendar “{calendar.name}” deleted.")
    except settings_services.InUse as exc:
        messages.error(request, str(exc))
    return redirect("sla:calendars")


# -- holidays -----------------------------------------------------------------------------------


@require_POST
@admin_required
def holiday_save(request, pk: int):
    calendar = _row(Calendar, pk)
    hid = request.POST.get("id")
    holiday = _row(Holiday, hid, calendar=calendar) if hid else None
    form = HolidayForm(request.POST, calendar=calendar, holiday=holiday)
    if not form.is_valid():
        return _calendar_page(
            request, calendar, holiday_form=form, editing_holiday=holiday, status=400
        )
    saved = settings_services.holiday_save(
        organization=request.organization, calendar=calendar, holiday=holiday, **form.values()
    )
    messages.success(request, f"Holiday {saved.date:%Y-%m-%d} saved.")
    return redirect("sla:calendar", pk=calendar.pk)


@require_POST
@admin_required
def holiday_delete(request, pk: int, hid: int):
    calendar = _row(Calendar, pk)
    holiday = _row(Holiday, hid, calendar=calendar)
    settings_services.holiday_delete(organization=request.organization, holiday=holiday)
    messages.success(request, f"Holiday {holiday.date:%Y-%m-%d} deleted.")
    return redirect("sla:calendar", pk=calendar.pk)


@require_POST
@admin_required
def holidays_import(request, pk: int):
    calendar = _row(Calendar, pk)
    form = HolidayImportForm(request.POST)
    if not form.is_valid():
        return _calendar_page(request, calendar, import_form=form, status=400)
    found = form.holidays()
    added = settings_services.holidays_import(
        organization=request.organization, calendar=calendar, found=found
    )
    kept = len(found) - added
    text = (
        f"Imported {added} holidays for {form.cleaned_data['country']} {form.cleaned_data['year']}"
    )
    messages.success(
        request, text + (f"; {kept} dates were already set and kept." if kept else ".")
    )
    return redirect("sla:calendar", pk=calendar.pk)


# -- policies -----------------------------------------------------------------------------------


@admin_required
def policies(request):
    rows = list(Policy.objects.select_related("calendar"))
    return render(
        request,
        "sla/policies.html",
        {"rows": rows, "has_calendar": Calendar.objects.exists()},
    )


@admin_required
def policy_edit(request, pk: int | None = None):
    policy = _row(Policy, pk) if pk is not None else None
    if policy is None and not Calendar.objects.exists():
        messages.error(request, "Add a calendar first: a policy counts time by one.")
        return redirect("sla:calendars")
    form = PolicyForm(request.POST or None, policy=policy)
    if request.method == "POST" and form.is_valid():
        saved = settings_services.policy_save(
            organization=request.organization, policy=policy, **form.values()
        )
        messages.success(request, f"Policy “{saved.name}” saved.")
        return redirect("sla:policy", pk=saved.pk)
    preview_form, due = _preview(request, policy)
    return render(
        request,
        "sla/policy.html",
        {"policy": policy, "form": form, "preview_form": preview_form, "preview": due},
        status=400 if request.method == "POST" or (preview_form.is_bound and due is None) else 200,
    )


def _preview(request, policy: Policy | None):
    """The preview form (GET, prefilled from the policy) and its due times when asked."""
    if "preview-start" not in request.GET:
        return PreviewForm(initial=_preview_initial(policy)), None
    form = PreviewForm(request.GET)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    targets = {
        "first_response": data["first_response_minutes"],
        "next_response": data["next_response_minutes"],
        "resolution": data["resolution_minutes"],
    }
    if not any(targets.values()):
        form.add_error(None, "Give at least one target to preview.")
        return form, None
    try:
        start, rows = preview.due_times(
            calendar=data["calendar"], start_local=data["start"], targets=targets
        )
    except CalendarError as exc:
        form.add_error(None, exc.message)
        return form, None
    return form, {"start": start, "rows": rows, "calendar": data["calendar"]}


def _preview_initial(policy: Policy | None) -> dict:
    """Now, in the calendar's zone, and the policy's targets."""
    calendar = policy.calendar if policy else Calendar.objects.filter(is_default=True).first()
    initial: dict = {"calendar": calendar}
    if calendar is not None:
        local = timezone.localtime(timezone.now(), ZoneInfo(calendar.timezone))
        initial["start"] = local.replace(second=0, microsecond=0, tzinfo=None)
    if policy is not None:
        initial |= {f: getattr(policy, f) for f in PREVIEW_TARGETS}
    return initial


PREVIEW_TARGETS = ("first_response_minutes", "next_response_minutes", "resolution_minutes")


@require_POST
@admin_required
def policy_move(request, pk: int):
    direction = -1 if request.POST.get("direction") == "up" else 1
    settings_services.policy_move(
        organization=request.organization, policy=_row(Policy, pk), direction=direction
    )
    return redirect("sla:policies")


@require_POST
@admin_required
def policy_delete(request, pk: int):
    policy = _row(Policy, pk)
    settings_services.policy_delete(organization=request.organization, policy=policy)
    messages.success(request, f"Policy “{policy.name}” deleted; its tickets' timers follow.")
    return redirect("sla:policies")
