"""What the apps built on tickets add to the ticket page, without tickets importing them.

An app above tickets (outbound_mail's delivery status today; SLA timers, automation runs and
presence as they arrive) registers a Contribution in its AppConfig.ready(). The ticket selector
adds every registered prefetch to the comments it loads, so the page keeps a fixed number of
queries however many comments it shows, and the templates include every registered fragment:
`comment_templates` in each comment's header (with `c`, the comment, and `ticket` in context),
`sidebar_templates` in the sidebar (with `ticket`), `reply_toolbar_templates` under the reply
box (with `ticket`: controls that act on the whole ticket, e.g. "Apply macro").

The ticket list takes contributions too (SLA badges, filters and sorts today): `list_queryset`
adds annotations or prefetches to the rows a page loads (a fixed number of queries however many
rows), `list_row_templates` are included in each row (with `t`, the ticket), `list_filters` are
extra choices of the list's `only` parameter and `list_sorts` extra sort keys on a field that the
sort's own `annotate` adds (nullable; rows without a value sort last); `list_params` are
filters with their own URL parameter and a value (`?choice=12:Billing`, portal's intake
answers), each a select of the options its `choices()` offers. `bulk_action_templates`
are included in the selection's bulk bar, inside its form (a button with its own `formaction`
receives the same `tickets`, `all_matching`, `query` and `next` fields).

The list's text filter (`q`, and the portal's) comes from one registered `text_search`
(search's full-text match): `text_search_q(q, public_only=...)` is its Q on Ticket, or None
when no app registered one (the list then matches number, subject and requester itself).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

QuerysetHook = Callable[[QuerySet], QuerySet]


def _unchanged(qs: QuerySet) -> QuerySet:
    return qs


@dataclass(frozen=True)
class ListFilter:
    """One choice of the list's `only` filter: `?only=<value>` narrows the rows with `apply`.

    `pure`: `apply` builds its conditions from its arguments alone, reading neither the clock
    nor any row, so the rail may reuse the SQL of a count it made (tickets.selectors)."""

    value: str
    label: str
    apply: QuerysetHook
    pure: bool = False


@dataclass(frozen=True)
class ListParam:
    """A filter with its own URL parameter: `?<name>=<value>` narrows the rows with
    `apply(qs, value)` (a value it does not know finds nothing; `pure` as ListFilter's).
    `choices()` gives the select's
    options as groups, [(group label, [(value, label), ...]), ...]; it is read only when the
    whole list page renders (one query at most), and no options means no select."""

    name: str
    label: str
    apply: Callable[[QuerySet, str], QuerySet]
    choices: Callable[[], Sequence[tuple[str, Sequence[tuple[str, str]]]]]
    pure: bool = False


@dataclass(frozen=True)
class ListSort:
    """A sort key of the list: `?sort=<value>` orders by `field` ascending, which `annotate`
    adds to the queryset; the keyset cursor carries it like the built-in sorts' fields."""

    value: str
    label: str
    field: str
    annotate: QuerysetHook


@dataclass(frozen=True)
class Contribution:
    name: str
    # Called each time a page loads, so querysets are built fresh (never shared between requests).
    comment_prefetches: Callable[[], Sequence[Prefetch]] = tuple
    comment_templates: tuple[str, ...] = ()
    sidebar_templates: tuple[str, ...] = ()
    reply_toolbar_templates: tuple[str, ...] = ()
    # The ticket page's own prefetches (beside the comments'), e.g. the SLA timers with policies.
    ticket_prefetches: Callable[[], Sequence[Prefetch]] = tuple
    # The ticket list (see the module docstring).
    list_queryset: QuerysetHook = _unchanged
    list_row_templates: tuple[str, ...] = ()
    list_filters: tuple[ListFilter, ...] = ()
    list_sorts: tuple[ListSort, ...] = ()
    list_params: tuple[ListParam, ...] = ()
    bulk_action_templates: tuple[str, ...] = ()


_contributions: dict[str, Contribution] = {}
_generation = [0]  # how many times the registrations changed (compiled list SQL follows it)


def generation() -> int:
    return _generation[0]


def register(contribution: Contribution) -> None:
    """Add or replace (by name) what one app shows on the ticket page."""
    _contributions[contribution.name] = contribution
    _generation[0] += 1


def comment_prefetches() -> list[Prefetch]:
    return [p for c in _contributions.values() for p in c.comment_prefetches()]


def comment_templates() -> list[str]:
    return [t for c in _contributions.values() for t in c.comment_templates]


def sidebar_templates() -> list[str]:
    return [t for c in _contributions.values() for t in c.sidebar_templates]


def reply_toolbar_templates() -> list[str]:
    return [t for c in _contributions.values() for t in c.reply_toolbar_templates]


def bulk_action_templates() -> list[str]:
    return [t for c in _contributions.values() for t in c.bulk_action_templates]


def ticket_prefetches() -> list[Prefetch]:
    return [p for c in _contributions.values() for p in c.ticket_prefetches()]


def list_queryset(qs: QuerySet) -> QuerySet:
    for c in _contributions.values():
        qs = c.list_queryset(qs)
    return qs


def list_row_templates() -> list[str]:
    return [t for c in _contributions.values() for t in c.list_row_templates]


def list_filters() -> dict[str, ListFilter]:
    return {f.value: f for c in _contributions.values() for f in c.list_filters}


def list_params() -> dict[str, ListParam]:
    return {p.name: p for c in _contributions.values() for p in c.list_params}


def list_sorts() -> dict[str, ListSort]:
    return {s.value: s for c in _contributions.values() for s in c.list_sorts}


# -- the list's text filter ------------------------------------------------------------------

TextSearch = Callable[..., Q]  # (q: str, *, public_only: bool) -> Q on Ticket

_text_search: list[TextSearch] = []


def register_text_search(match: TextSearch) -> None:
    """Make `match` the list's `q` (replacing any earlier one)."""
    _text_search[:] = [match]
    _generation[0] += 1


def text_search_registered() -> bool:
    return bool(_text_search)


def text_search_q(q: str, *, public_only: bool) -> Q | None:
    """The registered text search's Q for `q`; `public_only` leaves internal notes out (the
    portal, customers). None when nothing is registered."""
    return _text_search[0](q, public_only=public_only) if _text_search else None
