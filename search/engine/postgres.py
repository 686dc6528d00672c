"""Search on PostgreSQL: `search_document` rows (kept by search's triggers), ranked by
`search_ranked` (search's migration: the tenant's newest COMMON_WINDOW documents first, which
answer a common word alone; otherwise the GIN index on (organization_id, vector), at most
RANK_CAP documents ranked), and ts_headline only for the rows a page shows.

The user's words reach the database only as the text of `to_tsquery(config, %s)` built by
`search.query.to_tsquery` (every operand quoted), and always as a parameter.
"""

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import QuerySet
from django_scopes import get_scope

from search import configs, highlight
from search.engine import COMMON_WINDOW, RANK_CAP, Ranking, Snippet, ddl
from search.models import SearchDocument
from search.query import ParsedQuery, to_tsquery, to_tsquery_excluded

# The snippet: at most two passages of up to 30 words from the best matching comment. The
# title: the whole subject, every match marked.
_HEADLINE = (
    f'StartSel="{highlight.START}", StopSel="{highlight.END}", MaxWords=30, MinWords=12, '
    'ShortWord=2, MaxFragments=2, FragmentDelimiter=" … "'
)
_TITLE = f'StartSel="{highlight.START}", StopSel="{highlight.END}", HighlightAll=true'
# A document's rank by its own text only (weights {D, C, B, A}): the snippet comes from the
# comment whose words match, not from one that carries the matching subject.
_BODY_WEIGHTS = "{0.1, 0.2, 0, 0}"
# A comment's text is headlined from its first 20,000 characters (ts_headline reads it all).
_HEADLINE_CHARS = 20000


def _organization_id() -> int:
    return get_scope()["organization"].pk


def _documents(text: str, *, public_only: bool) -> QuerySet:
    # The configuration as a constant, so the tsquery is made once (search.configs).
    query = SearchQuery(text, config=configs.tenant_config(_organization_id()), search_type="raw")
    docs = SearchDocument.objects.filter(vector=query)
    if public_only:
        docs = docs.filter(is_public=True)
    return docs.values("ticket_id")


def ticket_ids(parsed: ParsedQuery, *, public_only: bool) -> QuerySet:
    """The tenant's tickets with a document holding every word, for `Ticket pk__in`."""
    return _documents(to_tsquery(parsed), public_only=public_only)


def excluded_ticket_ids(parsed: ParsedQuery, *, public_only: bool) -> QuerySet | None:
    """The tenant's tickets with a (visible) document holding an excluded term."""
    text = to_tsquery_excluded(parsed)
    return _documents(text, public_only=public_only) if text else None


def ranked(parsed: ParsedQuery, *, organization_id: int, public_only: bool, limit: int) -> Ranking:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ticket_id, capped FROM search_ranked(%s, %s, %s, %s, %s, %s, %s)",
            [
                organization_id,
                to_tsquery(parsed),
                to_tsquery_excluded(parsed),
                public_only,
                RANK_CAP,
                COMMON_WINDOW,
                limit,
            ],
        )
        rows = cursor.fetchall()
    return Ranking(ticket_ids=[row[0] for row in rows], capped=bool(rows and rows[0][1]))


_SNIPPETS = f"""
WITH q AS MATERIALIZED (
  SELECT search_config(%(org)s) AS cfg, to_tsquery(search_config(%(org)s), %(query)s) AS q
), docs AS (
  -- The shown tickets' documents by the unique index; OFFSET 0 keeps the match out of this
  -- scan, so a common word's GIN posting list is never read for it.
  SELECT d.ticket_id, d.comment_id, d.is_public, d.vector FROM search_document d
   WHERE d.organization_id = %(org)s AND d.ticket_id = ANY(%(ids)s::bigint[])
     AND (d.is_public OR NOT %(public_only)s)
  OFFSET 0
), best AS (
  SELECT DISTINCT ON (d.ticket_id) d.ticket_id, d.comment_id, d.is_public
    FROM docs d CROSS JOIN q
   WHERE d.vector @@ q.q
   ORDER BY d.ticket_id, ts_rank_cd('{_BODY_WEIGHTS}', d.vector, q.q) DESC, d.comment_id DESC
)
SELECT b.ticket_id, b.comment_id, b.is_public,
       ts_headline(q.cfg, t.subject, q.q, %(title)s),
       CASE WHEN b.comment_id = 0 THEN ''
            ELSE ts_headline(q.cfg, left(c.body_text, {_HEADLINE_CHARS}), q.q, %(headline)s) END
  FROM best b CROSS JOIN q
  JOIN tickets_ticket t ON t.id = b.ticket_id AND t.organization_id = %(org)s
  LEFT JOIN tickets_comment c ON c.id = b.comment_id AND c.organization_id = %(org)s
"""  # noqa: S608  # only constants are formatted in; every value is a parameter


def snippets(
    parsed: ParsedQuery, *, organization_id: int, ticket_ids: list[int], public_only: bool
) -> dict[int, Snippet]:
    if not ticket_ids:
        return {}
    params: dict[str, str | int | bool | list[int]] = {
        "org": organization_id,
        "query": to_tsquery(parsed),
        "ids": ticket_ids,
        "public_only": public_only,
        "title": _TITLE,
        "headline": _HEADLINE,
    }
    with connection.cursor() as cursor:
        cursor.execute(_SNIPPETS, params)
        rows = cursor.fetchall()
    return {
        ticket_id: Snippet(comment_id, not is_public, title or "", text or "")
        for ticket_id, comment_id, is_public, title, text in rows
    }


def rebuild(*, organization_id: int | None) -> int:
    """Every document of the tenant (or of all tenants) again (search.engine.ddl's
    search_index_tenant / search_index_all); returns how many there are."""
    with transaction.atomic(), connection.cursor() as cursor:
        if organization_id is not None:
            cursor.execute(
                "DELETE FROM search_document WHERE organization_id = %s", [organization_id]
            )
            cursor.execute("SELECT search_index_tenant(%s)", [organization_id])
            cursor.execute(
                "SELECT count(*) FROM search_document WHERE organization_id = %s",
                [organization_id],
            )
            return cursor.fetchone()[0]
        # Everything: filling a table and building its GIN index once is many times faster
        # than keeping the index current row by row (the benchmark's million tickets).
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        # TRUNCATE refuses while this transaction still owes deferred foreign-key checks on
        # the table (documents its triggers wrote): run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE search_document")
        cursor.execute("DROP INDEX IF EXISTS search_document_org_vector")
        cursor.execute("SELECT search_index_all()")
        cursor.execute(ddl.PG_INDEX)
        cursor.execute("ANALYZE search_document")
        cursor.execute("SELECT count(*) FROM search_document")
        return cursor.fetchone()[0]
