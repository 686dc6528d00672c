"""The ticket list's columns and what a saved view keeps of a list URL.

The number and the subject always show; the others are chosen with `?cols=<key>` (repeated, in
any order: they show in the order of COLUMNS). A URL without `cols` shows DEFAULT_COLUMNS; the
list's form always sends an empty `cols` too, so "none of them" is a choice of its own.
"""

from dataclasses import dataclass

from django.http import QueryDict

from tickets import selectors


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    css: str  # the header's and cells' class (static/css/app.css sizes them)


COLUMNS = (
    Column("requester", "Requester", "requester"),
    Column("status", "Status", "status"),
    Column("priority", "Priority", "prio"),
    Column("assignee", "Assignee", "assignee"),
    Column("team", "Team", "team"),
    Column("created", "Created", "age created"),
    Column("updated", "Last activity", "age"),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)
DEFAULT_COLUMNS = ["status", "priority", "assignee", "updated"]


def columns_from_params(params: QueryDict) -> list[str]:
    """The columns a list URL asks for, known keys only, in the list's order."""
    if "cols" not in params:
        return list(DEFAULT_COLUMNS)
    return columns_clean(params.getlist("cols"))


def columns_clean(keys) -> list[str]:
    wanted = {str(k) for k in keys}
    return [key for key in COLUMN_KEYS if key in wanted]


def saved_view_id(params: QueryDict) -> int | None:
    """The saved view a list URL was opened from (`?sv=<id>`), if it names one."""
    value = params.get("sv", "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def query_differs(view: dict, filters: selectors.TicketFilters, columns: list[str]) -> bool:
    """Whether the list shows other filters or columns than the saved view (one of the rail's
    entries) it was opened from: the list then offers to save the changes."""
    own = QueryDict(view["query"])
    stored = selectors.filters_from_query(own.dict())
    differs = selectors.filters_query(stored) != selectors.filters_query(filters)
    return differs or columns_clean(own.getlist("cols")) != columns
