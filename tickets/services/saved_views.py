"""Saved views of the ticket list: create, change, reorder and delete them.

A view is personal (its owner's) or shared (no owner); who may change which is the pages'
concern (tickets.saved_view_views). Every change bumps the tenant's list version after commit,
so each agent's cached rail (tickets.selectors.rail_counts) shows it on the next page.
"""

from django.db import IntegrityError, transaction
from django.db.models import Max

from tenants.models import Organization, User
from tickets.models import SavedView
from tickets.saved_views import columns_clean
from tickets.selectors import bump_list_version

NAME_MAX = SavedView._meta.get_field("name").max_length or 80
# The rail lists every view an agent sees; a bound keeps it (and its one count query) small.
MAX_VIEWS_PER_GROUP = 50


class SavedViewError(ValueError):
    """A change that cannot be made; the message says why, for the agent."""


def _clean_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise SavedViewError("Give the view a name.")
    if len(name) > NAME_MAX:
        raise SavedViewError(f"A view's name is at most {NAME_MAX} characters.")
    return name


def _group(organization_id: int, owner_id: int | None):
    views = SavedView.objects.filter(organization_id=organization_id)
    return views.filter(owner__isnull=True) if owner_id is None else views.filter(owner=owner_id)


def _taken(view: SavedView, name: str) -> bool:
    same = _group(view.organization_id, view.owner_id).filter(name__iexact=name)
    return same.exclude(pk=view.pk).exists() if view.pk else same.exists()


def _save(view: SavedView, update_fields: list[str] | None = None) -> None:
    if _taken(view, view.name):
        raise SavedViewError(f"There is already a view named \u201c{view.name}\u201d.")
    try:
        with transaction.atomic():
            view.save(update_fields=update_fields)
    except IntegrityError:  # the same name saved at the same moment
        raise SavedViewError(f"There is already a view named \u201c{view.name}\u201d.") from None
    organization_id = view.organization_id
    transaction.on_commit(lambda: bump_list_version(organization_id))


@transaction.atomic
def saved_view_create(
    *,
    organization: Organization,
    owner: User | None,
    name: str,
    query: dict[str, str],
    columns: list[str],
) -> SavedView:
    """A new view at the end of its group (the owner's, or the shared views when no owner)."""
    group = _group(organization.pk, owner.pk if owner else None)
    if group.count() >= MAX_VIEWS_PER_GROUP:
        raise SavedViewError(f"At most {MAX_VIEWS_PER_GROUP} views: delete one first.")
    last = group.aggregate(last=Max("position"))["last"]
    view = SavedView(
        organization=organization,
        owner=owner,
        name=_clean_name(name),
        query={str(k): str(v) for k, v in query.items()},
        columns=columns_clean(columns),
        position=0 if last is None else last + 1,
    )
    _save(view)
    return view


@transaction.atomic
def saved_view_update(
    *,
    view: SavedView,
    name: str | None = None,
    query: dict[str, str] | None = None,
    columns: list[str] | None = None,
) -> SavedView:
    """Rename the view, or give it the filters and columns the list shows now."""
    fields = []
    if name is not None:
        view.name = _clean_name(name)
        fields.append("name")
    if query is not None:
        view.query = {str(k): str(v) for k, v in query.items()}
        fields.append("query")
    if columns is not None:
        view.columns = columns_clean(columns)
        fields.append("columns")
    if fields:
        _save(view, update_fields=fields)
    return view


@transaction.atomic
def saved_view_move(*, view: SavedView, offset: int) -> None:
    """One place up (-1) or down (+1) in its group; at either end nothing changes. The group is
    locked and renumbered, so two moves at once cannot give two views one place."""
    group = list(
        _group(view.organization_id, view.owner_id).select_for_update().order_by("position", "id")
    )
    index = next((i for i, v in enumerate(group) if v.pk == view.pk), None)
    if index is None:  # deleted meanwhile
        return
    target = index + (1 if offset > 0 else -1)
    if not 0 <= target < len(group):
        return
    group[index], group[target] = group[target], group[index]
    for position, row in enumerate(group):
        if row.position != position:
            row.position = position
            row.save(update_fields=["position"])
    organization_id = view.organization_id
    transaction.on_commit(lambda: bump_list_version(organization_id))


@transaction.atomic
def saved_view_delete(*, view: SavedView) -> None:
    organization_id = view.organization_id
    view.delete()
    transaction.on_commit(lambda: bump_list_version(organization_id))
