"""The pages of the list's saved views: save the list as a view, rename it or choose its
columns, give it the list's current filters, reorder and delete.

An agent sees and changes their own views and sees the shared ones; only admins create or
change shared views. Anything else (another agent's view, another tenant's, a shared view for
an agent who is no admin) is a 404.
"""

from django.contrib import messages
from django.db.models import Q
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tenants import confirm
from tenants.access import agent_required
from tickets import saved_views, selectors
from tickets.forms import SavedViewForm, filters_from_params
from tickets.models import SavedView
from tickets.services import saved_views as services
from tickets.services.saved_views import SavedViewError


def _may_change(request, view: SavedView) -> bool:
    return view.owner_id == request.user.pk or (view.is_shared and request.membership.is_admin)


def _changeable(request, pk: int) -> SavedView:
    view = SavedView.objects.filter(Q(owner=request.user) | Q(owner__isnull=True), pk=pk).first()
    if view is None or not _may_change(request, view):
        raise Http404("No such view.")
    return view


def _list_url(view: SavedView) -> str:
    return f"{reverse('tickets:list')}?{view.list_query()}"


def _from_list(query: str) -> tuple[dict[str, str], list[str]]:
    """The filters and columns of a list URL's query string, as a view keeps them."""
    params = QueryDict(query)
    filters = filters_from_params(params)
    return selectors.filters_query(filters), saved_views.columns_from_params(params)


@require_GET
@agent_required
def saved_view_list(request):
    views = selectors.saved_views_visible(request.user)
    is_admin = request.membership.is_admin
    groups = [
        ("Your views", [v for v in views if not v.is_shared], True),
        ("Shared views", [v for v in views if v.is_shared], is_admin),
    ]
    context = {"groups": groups, "can_share": is_admin}
    return render(request, "tickets/saved_views/list.html", context)


@require_POST
@agent_required
def saved_view_new(request):
    """The list as it is now, saved under a name (shared when an admin asks for it)."""
    form = SavedViewForm(request.POST)
    query = request.POST.get("query", "")[:4000]
    back = f"{reverse('tickets:list')}?{QueryDict(query).urlencode()}"
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(back)
    filters, columns = _from_list(form.cleaned_data["query"])
    shared = form.cleaned_data["shared"] and request.membership.is_admin
    try:
        view = services.saved_view_create(
            organization=request.organization,
            owner=None if shared else request.user,
            name=form.cleaned_data["name"],
            query=filters,
            columns=columns,
        )
    except SavedViewError as error:
        messages.error(request, str(error))
        return redirect(back)
    messages.success(request, f"Saved the view “{view.name}”.")
    return redirect(_list_url(view))


@require_http_methods(["GET", "POST"])
@agent_required
def saved_view_edit(request, pk: int):
    """Rename a view and choose its columns."""
    view = _changeable(request, pk)
    initial = {"name": view.name, "columns": view.columns}
    form = SavedViewForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.saved_view_update(
                view=view, name=form.cleaned_data["name"], columns=form.cleaned_data["columns"]
            )
        except SavedViewError as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Saved the view “{view.name}”.")
            return redirect("tickets:saved_views")
    status = 400 if form.is_bound else 200
    context = {"view": view, "form": form, "list_url": _list_url(view)}
    return render(request, "tickets/saved_views/edit.html", context, status=status)


@require_POST
@agent_required
def saved_view_save_list(request, pk: int):
    """Give the view the filters and columns the list shows now."""
    view = _changeable(request, pk)
    filters, columns = _from_list(request.POST.get("query", "")[:4000])
    services.saved_view_update(view=view, query=filters, columns=columns)
    messages.success(request, f"Saved the view “{view.name}” with these filters.")
    return redirect(_list_url(view))


@require_POST
@agent_required
def saved_view_move(request, pk: int):
    view = _changeable(request, pk)
    direction = request.POST.get("direction")
    if direction in ("up", "down"):
        services.saved_view_move(view=view, offset=-1 if direction == "up" else 1)
    return redirect("tickets:saved_views")


@require_POST
@agent_required
def saved_view_delete(request, pk: int):
    view = _changeable(request, pk)
    question = f"Delete the view “{view.name}”?"
    detail = "Every agent loses it from the rail." if view.is_shared else ""
    confirmation = confirm.Confirmation(
        question, reverse("tickets:saved_views"), detail, template="agent_confirm.html"
    )
    if asking := confirm.unconfirmed(request, confirmation):
        return asking
    name = view.name
    services.saved_view_delete(view=view)
    messages.success(request, f"Deleted the view “{name}”.")
    return redirect("tickets:saved_views")
