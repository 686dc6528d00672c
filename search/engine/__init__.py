"""The two databases' search engines behind one interface; the selectors and services call
`engine()` and never ask which database runs.

    ticket_ids(parsed, *, public_only)           an expression for Ticket `pk__in`
    excluded_ticket_ids(parsed, *, public_only)  the same for the excluded terms, or None
    ranked(parsed, *, organization_id, public_only, limit) -> Ranking
    snippets(parsed, *, organization_id, ticket_ids, public_only) -> {ticket_id: Snippet}
    rebuild(*, organization_id)                  every document again, set-based

PostgreSQL (`postgres`): the documents search's triggers keep in `search_document`, a GIN
index leading with the tenant, ts_rank_cd and ts_headline. SQLite (`sqlite`): FTS5 tables,
bm25, snippet() and highlight(). Both mark highlights with the private-use characters of
`search.highlight`, which turns them into <mark> after escaping everything else.

These modules hold search's SQL and are the only ones that open cursors (the Makefile's ban
list allows `search/engine/`).
"""

from dataclasses import dataclass
from types import ModuleType

from django.db import connection

# At most this many documents are ranked for one search; on PostgreSQL the tenant's newest
# COMMON_WINDOW documents are matched first, and a word common enough to fill a page there is
# answered from them alone (search's migration, `search_ranked`).
RANK_CAP = 500
COMMON_WINDOW = 2000


@dataclass(frozen=True)
class Ranking:
    ticket_ids: list[int]
    # More documents matched than were ranked (a common word): the best among the newest.
    capped: bool


@dataclass(frozen=True)
class Snippet:
    comment_id: int  # 0: the match is in the ticket's own fields
    internal: bool
    title: str  # the subject, with markers around the matched words
    text: str  # the best matching passage, with markers ("" for the ticket's own fields)


def engine() -> ModuleType:
    if connection.vendor == "postgresql":
        from search.engine import postgres

        return postgres
    from search.engine import sqlite

    return sqlite
