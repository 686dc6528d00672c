"""Search on SQLite (the embedded default): the FTS5 tables search's migration keeps by
triggers, `search_fts_simple` and `search_fts_porter` (English stemming). A tenant's documents
are in the one its language picks, so every read asks both with the tenant's id and gets the
one tenant's rows. Rowids: a comment's id, or minus the ticket's id for the ticket's own.

The user's words reach FTS5 only as the MATCH expression `search.query.to_fts5` builds (every
term a quoted string), and always as a parameter.
"""

from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django_scopes import get_scope

from search import highlight
from search.engine import RANK_CAP, Ranking, Snippet, ddl
from search.query import ParsedQuery, to_fts5, to_fts5_excluded

TABLES = tuple(table for table, _tenants in ddl.FTS_TABLES)
# bm25's column weights (subject, people, body); internal notes count half.
_WEIGHTS = "10.0, 4.0, 1.0"


def _organization_id() -> int:
    return get_scope()["organization"].pk


def _public(public_only: bool) -> str:
    return " AND is_public = 1" if public_only else ""


def _documents(match: str, organization_id: int, public_only: bool) -> tuple[str, list[str | int]]:
    parts = [
        f"SELECT ticket_id FROM {t} WHERE {t} MATCH %s AND organization_id = %s"  # noqa: S608  # constant table names; values are parameters
        + _public(public_only)
        for t in TABLES
    ]
    return " UNION ALL ".join(parts), [match, organization_id] * len(TABLES)


def ticket_ids(parsed: ParsedQuery, *, public_only: bool) -> RawSQL:
    """The tenant's tickets with a document holding every word, for `Ticket pk__in`."""
    return RawSQL(*_documents(to_fts5(parsed), _organization_id(), public_only))  # noqa: S611  # constant SQL; the MATCH text is a parameter


def excluded_ticket_ids(parsed: ParsedQuery, *, public_only: bool) -> RawSQL | None:
    """The tenant's tickets with a (visible) document holding an excluded term."""
    match = to_fts5_excluded(parsed)
    return RawSQL(*_documents(match, _organization_id(), public_only)) if match else None  # noqa: S611  # constant SQL; the MATCH text is a parameter


def ranked(parsed: ParsedQuery, *, organization_id: int, public_only: bool, limit: int) -> Ranking:
    excluded = to_fts5_excluded(parsed)
    where, exclude_params = "", list[str | int]()
    if excluded:
        sql, exclude_params = _documents(excluded, organization_id, public_only)
        where = f" AND ticket_id NOT IN ({sql})"
    parts = [
        f"SELECT * FROM (SELECT ticket_id, bm25({t}, {_WEIGHTS}) "  # noqa: S608  # constant table names; values are parameters
        "* CASE WHEN is_public THEN 1.0 ELSE 0.5 END AS score "
        f"FROM {t} WHERE {t} MATCH %s AND organization_id = %s{_public(public_only)}{where} "
        "LIMIT %s)"
        for t in TABLES
    ]
    sql = (
        "SELECT ticket_id, min(score) AS best, count(*) FROM ("  # noqa: S608  # constant table names; values are parameters
        + " UNION ALL ".join(parts)
        + ") GROUP BY ticket_id ORDER BY best, ticket_id DESC"
    )
    params = [to_fts5(parsed), organization_id, *exclude_params, RANK_CAP] * len(TABLES)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    capped = sum(row[2] for row in rows) >= RANK_CAP
    return Ranking(ticket_ids=[row[0] for row in rows[:limit]], capped=capped)


def snippets(
    parsed: ParsedQuery, *, organization_id: int, ticket_ids: list[int], public_only: bool
) -> dict[int, Snippet]:
    if not ticket_ids:
        return {}
    marks = f"'{highlight.START}', '{highlight.END}'"
    holes = ", ".join(["%s"] * len(ticket_ids))
    parts = [
        f"SELECT ticket_id, rowid, is_public, highlight({t}, 0, {marks}), "  # noqa: S608  # constant table names; values are parameters
        f"snippet({t}, 2, {marks}, ' … ', 24), bm25({t}, 0.0, 0.0, 1.0) "
        f"FROM {t} WHERE {t} MATCH %s AND organization_id = %s AND ticket_id IN ({holes})"
        + _public(public_only)
        for t in TABLES
    ]
    params: list[str | int] = [to_fts5(parsed), organization_id, *ticket_ids] * len(TABLES)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    best: dict[int, tuple] = {}
    for row in rows:
        ticket_id, rowid, _public_flag, _title, _text, body_score = row
        # A comment whose own text matches beats the ticket's own fields (bm25: lower is better).
        key = (body_score if rowid > 0 else 0.0, -rowid)
        if ticket_id not in best or key < best[ticket_id][0]:
            best[ticket_id] = (key, row)
    found = {}
    for ticket_id, (_key, row) in best.items():
        _t, rowid, is_public, title, text, _score = row
        comment_id = rowid if rowid > 0 else 0
        found[ticket_id] = Snippet(
            comment_id, not is_public, title or "", text if rowid > 0 else ""
        )
    return found


def rebuild(*, organization_id: int | None) -> int:
    """Every document of the tenant (or of all tenants) again; returns how many there are."""
    org = str(int(organization_id)) if organization_id else ""
    statements = ddl.sqlite_reindex_statements(
        heads=f"t.organization_id = {org}" if org else "1",
        comments=f"c.organization_id = {org}" if org else "1",
        doc_ids=None,
    )
    count = 0
    with transaction.atomic(), connection.cursor() as cursor:
        for table in TABLES:
            where = f" WHERE organization_id = {org}" if org else ""
            cursor.execute(f"DELETE FROM {table}{where}")  # noqa: S608  # constants and an int
        for statement in statements:
            cursor.execute(statement)
            count += cursor.rowcount
    return count
