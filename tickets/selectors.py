"""Reads for the agent workspace: filtered ticket lists with keyset pages, the rail's counts
with the saved views', a ticket."""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from time import monotonic
from typing import cast

from django.core.cache import cache
from django.db.models import (
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)
from django.db.models.expressions import RawSQL
from django.utils import timezone

from tenants.db import in_one_process
from tenants.models import Organization, Team, TeamMember
from tickets import contributions
from tickets.models import (
    DONE_CATEGORIES,
    UNRESOLVED_CATEGORIES,
    Attachment,
    Comment,
    Contact,
    Follower,
    SavedView,
    StatusCategory,
    Tag,
    Ticket,
    TicketEvent,
    TicketTag,
)

PAGE_SIZE = 50
RECENTLY_RESOLVED = timedelta(days=7)

# sort name -> (ordering fields, the field the cursor carries, descending?)
SORTS = {
    "updated": ("last_activity_at", True),
    "newest": ("created_at", True),
    "oldest": ("created_at", False),
    "number": ("number", True),
}


@dataclass
class TicketFilters:
    view: str = "open"  # open | mine | unassigned | pending | resolved | all
    category: str = ""
    assignee: str = ""  # "" any | "me" | "none" | user id
    team: int | None = None
    priority: int | None = None
    q: str = ""
    sort: str = "updated"
    after: str = ""
    only: str = ""  # a filter an app above tickets contributes (tickets.contributions)
    tag: str = ""  # a tag's name, any case
    # Filters with their own parameter, by name -> value (tickets.contributions.ListParam).
    params: dict[str, str] = dataclass_field(default_factory=dict)


def _view_q(view: str, user) -> Q:
    if view == "mine":
        return Q(assignee=user, status_category__in=UNRESOLVED_CATEGORIES)
    if view == "unassigned":
        return Q(assignee__isnull=True, status_category__in=UNRESOLVED_CATEGORIES)
    if view == "pending":
        return Q(status_category=StatusCategory.PENDING)
    if view == "resolved":
        return Q(
            status_category__in=DONE_CATEGORIES, resolved_at__gte=timezone.now() - RECENTLY_RESOLVED
        )
    if view == "all":
        return Q()
    return Q(status_category__in=UNRESOLVED_CATEGORIES)


MAX_SEARCH_REQUESTERS = 200


def _search_q(q: str) -> Q:
    # Full-text search (the search app) when it is registered: the same match as its page.
    matched = contributions.text_search_q(q, public_only=False)
    if matched is not None:
        return matched
    q = q.strip().lstrip("#")
    if q.isdigit():
        return Q(number=int(q))
    # Ids first, as a list: PostgreSQL then ORs two index scans (trigram on the subject, the
    # requester index) instead of probing a subquery for every ticket of the tenant.
    requesters = list(
        Contact.objects.filter(Q(email__icontains=q) | Q(name__icontains=q)).values_list(
            "pk", flat=True
        )[:MAX_SEARCH_REQUESTERS]
    )
    return Q(subject__icontains=q) | Q(requester_id__in=requesters)


def ticket_queryset(filters: TicketFilters, user) -> QuerySet[Ticket]:
    qs = Ticket.objects.filter(_view_q(filters.view, user))
    if filters.category in StatusCategory.values:
        qs = qs.filter(status_category=filters.category)
    if filters.assignee == "me":
        qs = qs.filter(assignee=user)
    elif filters.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        qs = qs.filter(assignee_id=int(filters.assignee))
    if filters.team:
        qs = qs.filter(team_id=filters.team)
    if filters.priority:
        qs = qs.filter(priority_id=filters.priority)
    if filters.q.strip():
        qs = qs.filter(_search_q(filters.q))
    if filters.tag.strip():
        tagged = TicketTag.objects.filter(tag__name__iexact=filters.tag.strip())
        qs = qs.filter(pk__in=tagged.values("ticket_id"))
    contributed = contributions.list_filters().get(filters.only)
    if contributed is not None:
        qs = contributed.apply(qs)
    for name, value in filters.params.items():
        param = contributions.list_params().get(name)
        if param is not None:
            qs = param.apply(qs, value)
    return qs


def _parse_cursor(after: str, field: str):
    value, _, pk = after.rpartition("_")
    if not pk.isdigit() or not value:
        return None
    if value == "null":  # a contributed sort's rows without a value (they come last)
        return None, int(pk)
    if field == "number":
        return (int(value), int(pk)) if value.isdigit() else None
    try:
        return datetime.fromisoformat(value), int(pk)
    except ValueError:
        return None


def _cursor_of(ticket: Ticket, field: str) -> str:
    value = getattr(ticket, field)
    if value is None:
        return f"null_{ticket.pk}"
    return f"{value.isoformat() if hasattr(value, 'isoformat') else value}_{ticket.pk}"


@dataclass
class TicketPage:
    tickets: list[Ticket]
    next_cursor: str


def ticket_page(filters: TicketFilters, user) -> TicketPage:
    """One page of the list; keyset pagination so page 2,000 costs what page 1 costs."""
    field, descending = SORTS.get(filters.sort, SORTS["updated"])
    qs = contributions.list_queryset(ticket_queryset(filters, user))
    contributed_sort = contributions.list_sorts().get(filters.sort)
    contributed_order: list = []
    if contributed_sort is not None:
        qs, field, contributed_order = _contributed_sort(filters, qs, contributed_sort)
    cursor = _parse_cursor(filters.after, field) if filters.after else None
    if cursor and not contributed_order:
        value, pk = cursor
        op = "lt" if descending else "gt"
        # The redundant bound turns the cursor into an index range scan; the OR alone would
        # make PostgreSQL read the index from the start and filter.
        qs = qs.filter(**{f"{field}__{op}e": value}).filter(
            Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk})
        )
    order = contributed_order or ([f"-{field}", "-pk"] if descending else [field, "pk"])
    rows = list(
        qs.select_related("status", "priority", "assignee", "requester", "team")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
        .order_by(*order)[: PAGE_SIZE + 1]
    )
    next_cursor = _cursor_of(rows[PAGE_SIZE - 1], field) if len(rows) > PAGE_SIZE else ""
    return TicketPage(tickets=rows[:PAGE_SIZE], next_cursor=next_cursor)


def _contributed_sort(
    filters: TicketFilters, qs: QuerySet[Ticket], sort: contributions.ListSort
) -> tuple[QuerySet[Ticket], str, list]:
    """A contributed sort: its (nullable) field ascending, rows without a value last, and the
    cursor's bound on it."""
    field = sort.field
    qs = sort.annotate(qs)
    cursor = _parse_cursor(filters.after, field) if filters.after else None
    if cursor:
        value, pk = cursor
        if value is None:
            qs = qs.filter(**{f"{field}__isnull": True, "pk__gt": pk})
        else:
            qs = qs.filter(
                Q(**{f"{field}__gt": value})
                | Q(**{field: value, "pk__gt": pk})
                | Q(**{f"{field}__isnull": True})
            )
    return qs, field, [F(field).asc(nulls_last=True), "pk"]


# -- rail counts, cached until something changes ----------------------------------------------


def _version_key(organization_id: int) -> str:
    return f"ticket-list-version:{organization_id}"


def bump_list_version(organization_id: int) -> None:
    try:
        cache.incr(_version_key(organization_id))
    except ValueError:
        cache.set(_version_key(organization_id), 1, None)


# A saved view counts at most this many tickets (the rail shows "1000+"): each count reads a
# bounded number of index entries, however wide the view ("every closed ticket").
SAVED_VIEW_COUNT_CAP = 1000


# A count's SQL and parameters; None: it can find nothing (an unknown contributed value).
_CountSql = tuple[str, tuple] | None

# Each count's compiled SQL, per process, while the tenant, the agent and the filters are the
# same: building and compiling the rail's 20-30 querysets costs more CPU than PostgreSQL spends
# counting most of them. Filters that read the clock ("resolved in the last 7 days") or rows
# (a contributed filter not marked pure; the list's plain `q` without the search app) are
# compiled every time (`_reusable`). The rest depend on their arguments alone, and on the
# tenant's search configuration, which search remembers for a minute (search.configs):
# entries expire after as long.
COMPILED_TTL = 60.0
COMPILED_MAX = 5000
_compiled: dict[tuple, tuple[float, _CountSql]] = {}


def _reusable(filters: TicketFilters) -> bool:
    """Whether the SQL of these filters stays right while they stay the same."""
    if filters.view == "resolved":  # the last RECENTLY_RESOLVED, from now
        return False
    if filters.q.strip() and not contributions.text_search_registered():
        return False  # `_search_q` reads the matching contacts
    contributed = contributions.list_filters().get(filters.only)
    if contributed is not None and not contributed.pure:
        return False
    params = contributions.list_params()
    return all(params[name].pure for name in filters.params if name in params)


def rail_counts(organization_id: int, user) -> dict:
    """The left rail's counts: the built-in views', the teams' and the agent's saved views'
    (shared ones first, with their names and links). Recomputed only after a ticket or a
    saved view in the tenant changed (`bump_list_version`), in a fixed number of queries
    however many saved views there are."""
    version = cache.get_or_set(_version_key(organization_id), 1, None)
    key = f"ticket-rail:{organization_id}:{user.pk}:{version}"
    counts = cache.get(key)
    if counts is None:
        counts = _compute_rail_counts(organization_id, user, saved_views_visible(user))
        cache.set(key, counts, 300)
    return counts


# Which rows come first and from where, not which rows: left out of a count's key.
_ORDER_ONLY = ("sort", "after")


def _count_key(filters: TicketFilters) -> tuple:
    """What decides which rows a list has (every field of its filters but the order and the
    page): views with one key are counted once. The tag is matched stripped; `q` is kept as
    written ("447 " finds the word, "447" any word starting with it)."""
    key: list = []
    for f in dataclasses.fields(filters):
        value = getattr(filters, f.name)
        if f.name in _ORDER_ONLY:
            continue
        if f.name == "tag":
            value = value.strip()
        elif f.name == "params":
            value = tuple(sorted(value.items()))
        key.append(value)
    return tuple(key)


_BUILT_IN = ("mine", "unassigned", "open", "pending", "resolved")


def _compute_rail_counts(organization_id: int, user, views: Sequence[SavedView]) -> dict:
    """Every count of the rail in one statement: one scalar subquery per built-in view, team
    and saved view, each planned on its own, so each reads only its own rows through the index
    that fits it (the list's), not every ticket of the tenant once per view. Each is the
    list's own queryset (`ticket_queryset`), and a saved view that shows the rows of a
    built-in view, a team or another saved view ("Billing, open") shares that one's count."""
    team_ids = list(Team.objects.values_list("pk", flat=True))
    built_in = {name: TicketFilters(view=name) for name in _BUILT_IN}
    built_in |= {f"team_{pk}": TicketFilters(view="open", team=pk) for pk in team_ids}
    wanted: dict[str, _CountSql] = {}
    by_key: dict[tuple, str] = {}
    for name, filters in built_in.items():
        by_key.setdefault(_count_key(filters), name)
        wanted[name] = _count_sql(organization_id, user, filters, None)
    counted_as: dict[int, str] = {}  # saved view -> the count it shows
    cap = SAVED_VIEW_COUNT_CAP + 1  # one more than shown says "more than that"
    for view in views:
        filters = filters_from_query(view.query)
        name = by_key.setdefault(_count_key(filters), f"view_{view.pk}")
        if name not in wanted:
            wanted[name] = _count_sql(organization_id, user, filters, cap)
        counted_as[view.pk] = name
    counts = _counts_at_once(organization_id, wanted)
    rail: dict = {name: counts[name] for name in _BUILT_IN}
    rail["teams"] = {pk: counts[f"team_{pk}"] for pk in team_ids}
    rail["views"] = [
        {
            "pk": view.pk,
            "name": view.name,
            "shared": view.is_shared,
            "query": view.list_query(),
            "count": min(counts[counted_as[view.pk]], SAVED_VIEW_COUNT_CAP),
            "more": counts[counted_as[view.pk]] > SAVED_VIEW_COUNT_CAP,
        }
        for view in views
    ]
    return rail


def forget_compiled_counts() -> None:
    """Compile every count again (this process): after a tenant's search configuration changed."""
    _compiled.clear()


def _count_sql(organization_id: int, user, filters: TicketFilters, cap: int | None) -> _CountSql:
    """COUNT(*) of at most `cap` of the list's rows for `filters` (no cap: all), as the SQL of
    a scalar subquery with its parameters, compiled again only when it has to be."""
    key = (organization_id, user.pk, _count_key(filters), cap, contributions.generation())
    now = monotonic()
    found = _compiled.get(key)
    if found is not None and now - found[0] < COMPILED_TTL:
        return found[1]
    queryset = ticket_queryset(filters, user)
    compiled: _CountSql = None
    if not queryset.query.is_empty():
        rows = queryset.order_by().values("pk")
        sql, params = (rows if cap is None else rows[:cap]).query.sql_with_params()
        compiled = f"SELECT COUNT(*) FROM ({sql}) capped", tuple(params)  # noqa: S608  # the compiled SQL; values are parameters
    if _reusable(filters):
        if len(_compiled) >= COMPILED_MAX:
            _compiled.clear()
        _compiled[key] = (now, compiled)
    return compiled


def _counts_at_once(organization_id: int, counts_sql: dict[str, _CountSql]) -> dict[str, int]:
    """How many rows each count has, in one query: SELECT (SELECT COUNT(*) ...), ... with each
    subquery planned on its own. One that can find nothing is 0 without asking.

    Each subquery is compiled on its own (every queryset is scoped by the ticket manager) and
    put in as SQL: as Subquery expressions Django would resolve each one again inside the
    outer query and rename its tables' aliases, which for the rail's counts costs more than
    compiling them."""
    counts = {name: 0 for name, compiled in counts_sql.items() if compiled is None}
    subqueries = {
        name: RawSQL(*compiled, output_field=IntegerField())  # noqa: S611  # SQL Django compiled, with its parameters
        for name, compiled in counts_sql.items()
        if compiled is not None
    }
    if subqueries:
        # The tenant's own row carries the subqueries.
        row = Organization.objects.filter(pk=organization_id).values(**subqueries)
        with in_one_process():
            values = cast(dict[str, int | None], row.get())
        counts |= {name: n or 0 for name, n in values.items()}
    return counts


def rail_teams(user) -> list[Team]:
    """The tenant's teams for the rail and the list's filters; `managed`: the agent manages it
    (the rail's Reports link), read in the same query."""
    managed = TeamMember.objects.filter(team=OuterRef("pk"), user=user, is_manager=True)
    return list(Team.objects.annotate(managed=Exists(managed)))


# -- saved views ------------------------------------------------------------------------------

# The list's own parameters a saved view keeps (`after`, the page, is not one of them).
QUERY_KEYS = ("view", "category", "assignee", "team", "priority", "q", "tag", "sort", "only")


def filters_query(filters: TicketFilters) -> dict[str, str]:
    """The list's URL parameters that give these filters, as a saved view stores them."""
    values = {key: getattr(filters, key) for key in QUERY_KEYS} | filters.params
    return {key: str(value) for key, value in values.items() if value not in (None, "")}


def filters_from_query(query: dict) -> TicketFilters:
    """A saved view's parameters as the list's filters (stored values were checked by the
    list's form when saved; whatever no longer fits is left out, as the list leaves it)."""
    data: dict = {k: str(query[k]) for k in QUERY_KEYS if k in query}
    for key in ("team", "priority"):
        if key in data:
            data[key] = int(data[key]) if data[key].isdigit() else None
    known = contributions.list_params()
    params = {k: str(v) for k, v in query.items() if k in known and k not in QUERY_KEYS}
    return TicketFilters(**data, params=params)


def saved_views_visible(user) -> list[SavedView]:
    """The agent's saved views: the shared ones, then their own, each in its order."""
    return list(
        SavedView.objects.filter(Q(owner=user) | Q(owner__isnull=True)).order_by(
            F("owner").asc(nulls_first=True), "position", "id"
        )
    )


# -- one ticket ------------------------------------------------------------------------------


def ticket_detail(number: int) -> Ticket:
    """The ticket with everything its page shows, in a fixed number of queries.

    Apps above tickets add their per-comment prefetches through `tickets.contributions`.
    """
    attachments = Attachment.objects.order_by("id")
    comments = Comment.objects.select_related("author_user", "author_contact").prefetch_related(
        Prefetch("attachments", queryset=attachments),
        *contributions.comment_prefetches(),
    )
    events = TicketEvent.objects.select_related("actor_user", "actor_contact")
    return (
        Ticket.objects.select_related(
            "status", "priority", "assignee", "team", "requester", "customer", "organization"
        )
        .prefetch_related(
            Prefetch("comments", queryset=comments),
            Prefetch("events", queryset=events),
            "collaborators",
            Prefetch("tags", queryset=Tag.objects.order_by("name")),
            Prefetch("followers", queryset=Follower.objects.select_related("user")),
            *contributions.ticket_prefetches(),
        )
        .get(number=number)
    )


def requester_recent_tickets(ticket: Ticket, limit: int = 5) -> list[Ticket]:
    return list(
        Ticket.objects.filter(requester_id=ticket.requester_id)
        .exclude(pk=ticket.pk)
        .select_related("status")
        .order_by("-created_at")[:limit]
    )
