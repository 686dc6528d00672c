"""The tags settings page (tenant admins): rename, merge and delete the tenant's tags. Tags are
created where agents use them, on tickets and in bulk."""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tenants.access import admin_required
from tickets.models import Tag
from tickets.services.tags import TagError, tag_delete, tag_merge, tag_rename


def _tag(pk) -> Tag:
    tag = Tag.objects.filter(pk=pk).first()
    if tag is None:
        raise Http404("No such tag.")
    return tag


@require_GET
@admin_required
def tags(request):
    rows = list(Tag.objects.annotate(n=Count("tickets")).order_by("name"))
    return render(request, "settings/tags.html", {"rows": rows})


def _tickets(n: int) -> str:
    return f"{n} ticket{'s' if n != 1 else ''}"


@require_POST
@admin_required
def tag_rename_view(request, pk: int):
    tag = _tag(pk)
    old = tag.name
    try:
        tag_rename(tag=tag, name=request.POST.get("name", "")[:500], actor_user=request.user)
    except TagError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Renamed “{old}” to “{tag.name}”.")
    return redirect("settings_tags")


@require_POST
@admin_required
def tag_merge_view(request, pk: int):
    source = _tag(pk)
    value = request.POST.get("into", "")
    target = Tag.objects.filter(pk=int(value)).first() if value.isdigit() else None
    if target is None:
        messages.error(request, "Pick a tag of this helpdesk to merge into.")
        return redirect("settings_tags")
    name = source.name
    try:
        n = tag_merge(source=source, target=target, actor_user=request.user)
    except TagError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Merged “{name}” into “{target.name}” ({_tickets(n)}).")
    return redirect("settings_tags")


@require_POST
@admin_required
def tag_delete_view(request, pk: int):
    tag = _tag(pk)
    name = tag.name
    n = tag_delete(tag=tag, actor_user=request.user)
    messages.success(request, f"Deleted “{name}” (removed from {_tickets(n)}).")
    return redirect("settings_tags")
