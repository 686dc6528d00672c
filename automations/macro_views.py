"""Macros in the agent workspace: apply one from the ticket page (htmx or a plain POST) or to
the list's selection; Settings -> Macros (admins: the shared ones) and My macros (every agent:
their own). A macro the agent may not use or edit, or another tenant's, is a 404."""

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from automations import action_text
from automations.macro_forms import MacroBulkForm, MacroEditor
from automations.macro_selectors import macro_usable_by, macros_owned_by
from automations.models import Macro
from automations.services.macros import (
    MacroFailed,
    ManyResult,
    macro_apply,
    macro_apply_many,
    macro_delete,
    macro_move,
    macro_save,
)
from tenants import confirm
from tenants.access import admin_required, agent_required
from tenants.redirects import safe_next
from tickets import placeholders, selectors
from tickets import views as ticket_views
from tickets.forms import BULK_LIMIT, TicketFilterForm
from tickets.models import Ticket

# -- applying -----------------------------------------------------------------------------------


@require_POST
@agent_required
def macro_apply_view(request, number: int):
    ticket = Ticket.objects.filter(number=number).first()
    if ticket is None:
        raise Http404("No such ticket.")
    if not request.POST.get("macro"):
        messages.error(request, "Choose a macro to apply.")
        return ticket_views.ticket_main_response(request, number)
    macro = _usable(request, request.POST["macro"])
    try:
        results = macro_apply(macro=macro, ticket=ticket, actor_user=request.user)
    except MacroFailed as exc:
        messages.error(request, f"{exc} Nothing was changed.")
    else:
        messages.success(request, _applied_message(macro, results))
    return ticket_views.ticket_main_response(request, number)


def _usable(request, pk) -> Macro:
    macro = macro_usable_by(request.user, pk)
    if macro is None:
        raise Http404("No such macro.")
    return macro


def _applied_message(macro: Macro, results) -> str:
    done = [r.detail for r in results if r.outcome != "unchanged" and r.detail]
    if not done:
        return f"Nothing to change: the ticket already matched “{macro.name}”."
    return f"Applied “{macro.name}”: {'; '.join(_lower_first(d) for d in done)}."


def _lower_first(text: str) -> str:
    """ "Status set to Pending." reads "status set to Pending" inside a sentence."""
    text = text.strip().rstrip(".")
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


@require_POST
@agent_required
def macro_apply_bulk(request):
    """The list's selection (ticked rows, or every ticket the filters match up to BULK_LIMIT)."""
    back = redirect(safe_next(request, reverse("tickets:list")))
    form = MacroBulkForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))  # type: ignore[arg-type]  # messages are str
        return back
    macro = _usable(request, form.cleaned_data["macro"])
    tickets = _targets(request, form.cleaned_data)
    result = macro_apply_many(macro=macro, tickets=tickets, actor_user=request.user)
    _report(request, macro, result)
    return back


def _targets(request, data) -> list[Ticket]:
    if data["all_matching"]:
        filters = TicketFilterForm(QueryDict(data["query"]))
        filters.is_valid()  # invalid values are dropped, as the list itself drops them
        values = {k: v for k, v in filters.cleaned_data.items() if v not in (None, "")}
        qs = selectors.ticket_queryset(selectors.TicketFilters(**values), request.user)
        return list(qs.order_by("pk")[:BULK_LIMIT])
    return list(Ticket.objects.filter(number__in=data["tickets"]).order_by("pk"))


def _report(request, macro: Macro, result: ManyResult) -> None:
    n = len(result.applied)
    if n:
        messages.success(request, f"Applied “{macro.name}” to {n} ticket{'s' if n != 1 else ''}.")
    if result.unchanged:
        numbers = ", ".join(f"#{number}" for number in result.unchanged)
        messages.info(request, f"Nothing to change on {numbers}.")
    for number, reason in result.failed.items():
        messages.error(request, f"#{number}: {reason} Nothing was changed on it.")
    if not (n or result.unchanged or result.failed):
        messages.error(request, "No tickets matched; nothing was changed.")


# -- editing: shared (Settings -> Macros) and personal (My macros) -------------------------------


@dataclass(frozen=True)
class Area:
    """The shared list (admins) or one agent's own list: who owns its macros and its pages."""

    shared: bool
    list_url: str
    edit_url: str
    new_url: str
    move_url: str
    delete_url: str
    list_template: str
    edit_template: str


SHARED = Area(
    True,
    "macros:shared",
    "macros:shared_edit",
    "macros:shared_new",
    "macros:shared_move",
    "macros:shared_delete",
    "automations/macros/settings_list.html",
    "automations/macros/settings_edit.html",
)
MINE = Area(
    False,
    "macros:mine",
    "macros:mine_edit",
    "macros:mine_new",
    "macros:mine_move",
    "macros:mine_delete",
    "automations/macros/mine_list.html",
    "automations/macros/mine_edit.html",
)


def _owner(request, area: Area):
    return None if area.shared else request.user


def _own_macro(request, area: Area, pk) -> Macro:
    """A macro of this list; another's personal macro, a shared one on My macros, or another
    tenant's is a 404."""
    macro = macros_owned_by(_owner(request, area)).filter(pk=pk).first()
    if macro is None:
        raise Http404("No such macro.")
    return macro


def _list(request, area: Area):
    rows = list(macros_owned_by(_owner(request, area)))
    names = action_text.names_for([m.actions for m in rows], request.organization)
    described = [(m, [action_text.describe(a, names=names) for a in m.actions]) for m in rows]
    return render(request, area.list_template, {"rows": described, "area": area})


def _edit(request, area: Area, pk=None):
    macro = _own_macro(request, area, pk) if pk is not None else None
    owner = _owner(request, area)
    data = request.POST if request.method == "POST" else None
    editor = MacroEditor(data, organization=request.organization, owner=owner, macro=macro)
    if data is not None and "add_row" in data:
        editor = editor.add_row()
    elif data is not None and editor.is_valid():
        saved = macro_save(
            organization=request.organization, macro=macro, owner=owner, **editor.values()
        )
        messages.success(request, f"Macro “{saved.name}” saved.")
        return redirect(area.list_url)
    context = {
        "editor": editor,
        "macro": macro,
        "area": area,
        "checked": data is not None and "add_row" not in data,
        "placeholders": placeholders.CANNED,
    }
    return render(request, area.edit_template, context, status=_status(request, data))


def _status(request, data) -> int:
    if data is None or "add_row" in data:
        return 200
    return 400


def _move(request, area: Area, pk):
    macro = _own_macro(request, area, pk)
    macro_move(macro=macro, up=request.POST.get("direction") != "down")
    return redirect(area.list_url)


def _delete(request, area: Area, pk):
    macro = _own_macro(request, area, pk)
    question = f"Delete the macro “{macro.name}”?"
    page = "settings/confirm.html" if area is SHARED else "agent_confirm.html"
    confirmation = confirm.Confirmation(question, reverse(area.list_url), template=page)
    if asking := confirm.unconfirmed(request, confirmation):
        return asking
    macro_delete(macro=macro)
    messages.success(request, f"Macro “{macro.name}” deleted.")
    return redirect(area.list_url)


@admin_required
def shared_list(request):
    return _list(request, SHARED)


@admin_required
def shared_edit(request, pk: int | None = None):
    return _edit(request, SHARED, pk)


@require_POST
@admin_required
def shared_move(request, pk: int):
    return _move(request, SHARED, pk)


@require_POST
@admin_required
def shared_delete(request, pk: int):
    return _delete(request, SHARED, pk)


@agent_required
def mine_list(request):
    return _list(request, MINE)


@agent_required
def mine_edit(request, pk: int | None = None):
    return _edit(request, MINE, pk)


@require_POST
@agent_required
def mine_move(request, pk: int):
    return _move(request, MINE, pk)


@require_POST
@agent_required
def mine_delete(request, pk: int):
    return _delete(request, MINE, pk)
