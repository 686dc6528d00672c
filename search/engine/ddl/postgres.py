"""Search's PostgreSQL objects (search.engine.ddl installs them): extensions (btree_gin,
unaccent), text search configurations `helpdesk_<language>` (unaccent, then the language's
dictionary), functions that upsert documents (what a document holds is written once, in
`pg_head_select` / `pg_comment_select`), statement-level triggers with transition tables on
tickets, comments, contacts, customers, attachments and intake submissions (so a COPY of a
million rows is one set-based upsert), the GIN index on (organization_id, vector), and
`search_ranked`, the bounded ranking the results page calls."""

# ruff: noqa: S608  # DDL and SQL built from this module's constants only, never from input
from collections.abc import Callable

Execute = Callable[[str], object]

LANGUAGES = {
    "simple": "simple",
    "english": "english_stem",
    "german": "german_stem",
    "french": "french_stem",
    "spanish": "spanish_stem",
    "italian": "italian_stem",
    "dutch": "dutch_stem",
    "portuguese": "portuguese_stem",
}

PG_CONFIG = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'helpdesk_{lang}') THEN
    CREATE TEXT SEARCH CONFIGURATION helpdesk_{lang} (COPY = pg_catalog.{lang});
    ALTER TEXT SEARCH CONFIGURATION helpdesk_{lang}
      ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
      WITH unaccent, {dictionary};
  END IF;
END $$;
"""

PG_CONFIG = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'helpdesk_{lang}') THEN
    CREATE TEXT SEARCH CONFIGURATION helpdesk_{lang} (COPY = pg_catalog.{lang});
    ALTER TEXT SEARCH CONFIGURATION helpdesk_{lang}
      ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
      WITH unaccent, {dictionary};
  END IF;
END $$;
"""

_DOC_COLUMNS = "organization_id, ticket_id, comment_id, is_public, vector"


def pg_head_select(where: str) -> str:
    """The tickets' own documents (comment_id 0): subject (A), requester and customer (B),
    intake answers and the names of attachments without a comment (C)."""
    return f"""
SELECT t.organization_id, t.id, 0::bigint, true,
  search_vector(
    search_config(t.organization_id), t.subject,
    search_people(r.name, r.email, cu.name),
    concat_ws(' ',
      (SELECT string_agg(j #>> '{{}}', ' ')
         FROM portal_submission ps
         CROSS JOIN LATERAL jsonb_path_query(ps."values", 'lax $[*].value[*]') AS j
        WHERE ps.ticket_id = t.id),
      (SELECT string_agg(search_filename(a.filename), ' ')
         FROM tickets_attachment a WHERE a.ticket_id = t.id AND a.comment_id IS NULL)),
    'C')
FROM tickets_ticket t
JOIN tickets_contact r ON r.id = t.requester_id
LEFT JOIN tickets_customer cu ON cu.id = t.customer_id
WHERE {where}"""


def pg_comment_select(where: str) -> str:
    """One document per comment: its text (C when public, D when internal, cut at 100,000
    characters: a tsvector holds at most 1 MB) and its attachments' names, with the ticket's
    subject (A) and people (B), so the words of one search may come from any of them."""
    return f"""
SELECT c.organization_id, c.ticket_id, c.id, c.is_public,
  search_vector(
    search_config(c.organization_id), t.subject,
    search_people(r.name, r.email, cu.name),
    concat_ws(' ', left(c.body_text, 100000),
      (SELECT string_agg(search_filename(a.filename), ' ')
         FROM tickets_attachment a WHERE a.comment_id = c.id)),
    CASE WHEN c.is_public THEN 'C' ELSE 'D' END::"char")
FROM tickets_comment c
JOIN tickets_ticket t ON t.id = c.ticket_id
JOIN tickets_contact r ON r.id = t.requester_id
LEFT JOIN tickets_customer cu ON cu.id = t.customer_id
WHERE {where}"""


def _pg_upsert(select: str) -> str:
    return (
        f"INSERT INTO search_document ({_DOC_COLUMNS}) {select}\n"
        "ON CONFLICT (organization_id, ticket_id, comment_id)\n"
        "DO UPDATE SET is_public = EXCLUDED.is_public, vector = EXCLUDED.vector;"
    )


def _pg_function(name: str, args: str, *statements: str) -> str:
    body = "\n".join(statements)
    return (
        f"CREATE OR REPLACE FUNCTION {name}({args}) RETURNS void\n"
        f"LANGUAGE sql VOLATILE AS $$\n{body}\n$$;"
    )


def _pg_index_functions() -> str:
    heads = _pg_upsert(pg_head_select("t.id = ANY(p_tickets)"))
    return "\n\n".join(
        [
            _pg_function("search_index_heads", "p_tickets bigint[]", heads),
            _pg_function(
                "search_index_comments",
                "p_comments bigint[]",
                _pg_upsert(pg_comment_select("c.id = ANY(p_comments)")),
            ),
            _pg_function(
                "search_index_tickets",
                "p_tickets bigint[]",
                heads,
                _pg_upsert(pg_comment_select("c.ticket_id = ANY(p_tickets)")),
            ),
            _pg_function(
                "search_index_tenant",
                "p_org bigint",
                _pg_upsert(pg_head_select("t.organization_id = p_org")),
                _pg_upsert(pg_comment_select("c.organization_id = p_org")),
            ),
            _pg_function(
                "search_index_all",
                "",
                _pg_upsert(pg_head_select("true")),
                _pg_upsert(pg_comment_select("true")),
            ),
        ]
    )


PG_HELPERS = r"""
-- The tenant's configuration (no settings row: simple).
CREATE OR REPLACE FUNCTION search_config(p_org bigint) RETURNS regconfig
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(
    (SELECT ('helpdesk_' || s.language)::regconfig FROM search_searchsettings s
      WHERE s.organization_id = p_org),
    'helpdesk_simple'::regconfig)
$$;

-- Who a ticket is from, as words: "Carol Doe carol@acme.test acme.test carol acme test
-- Acme Inc" (the parser reads an address and a domain as one token each).
CREATE OR REPLACE FUNCTION search_people(p_name text, p_email text, p_customer text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT concat_ws(' ', p_name, p_email, split_part(p_email, '@', 2),
                   translate(p_email, '@.+_-', '     '), p_customer)
$$;

-- An attachment's name as its words too: "invoice_4471.pdf invoice 4471 pdf".
CREATE OR REPLACE FUNCTION search_filename(p_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT p_name || ' ' || translate(p_name, '._-', '   ')
$$;

-- The parser reads "PX-99812" as "px" and the signed number "-99812"; a hyphen before a digit
-- is a space here (and in search.query), so the code's number is found as typed.
CREATE OR REPLACE FUNCTION search_words(p_text text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(coalesce(p_text, ''), '-(?=[0-9])', ' ', 'g')
$$;

CREATE OR REPLACE FUNCTION search_vector(
  p_config regconfig, p_subject text, p_people text, p_body text, p_weight "char"
) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT setweight(to_tsvector(p_config, search_words(p_subject)), 'A')
      || setweight(to_tsvector(p_config, coalesce(p_people, '')), 'B')
      || setweight(to_tsvector(p_config, search_words(p_body)), p_weight)
$$;
"""

PG_TRIGGER_FUNCTIONS = r"""
-- Every trigger is statement-level with transition tables: one set-based upsert per INSERT,
-- UPDATE or DELETE however many rows it touched (a COPY, a bulk edit of 10,000 tickets), and
-- no column lists or WHEN clauses, which would pin the columns' types against other apps'
-- migrations. An UPDATE indexes again only the rows whose indexed columns changed.

-- tickets_ticket
CREATE OR REPLACE FUNCTION search_ticket_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_heads(ARRAY(SELECT n.id FROM new_rows n));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_ticket_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_tickets(ARRAY(
    SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE o.subject IS DISTINCT FROM n.subject OR o.requester_id IS DISTINCT FROM n.requester_id
        OR o.customer_id IS DISTINCT FROM n.customer_id));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_ticket_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM search_document d USING old_rows o
   WHERE d.organization_id = o.organization_id AND d.ticket_id = o.id;
  RETURN NULL;
END $$;

-- tickets_comment
CREATE OR REPLACE FUNCTION search_comment_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_comments(ARRAY(SELECT n.id FROM new_rows n));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_comment_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Moved by a merge or a split: the old ticket's document goes.
  DELETE FROM search_document d USING old_rows o JOIN new_rows n ON n.id = o.id
   WHERE o.ticket_id IS DISTINCT FROM n.ticket_id
     AND d.organization_id = o.organization_id AND d.ticket_id = o.ticket_id
     AND d.comment_id = o.id;
  PERFORM search_index_comments(ARRAY(
    SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE o.body_text IS DISTINCT FROM n.body_text OR o.is_public IS DISTINCT FROM n.is_public
        OR o.ticket_id IS DISTINCT FROM n.ticket_id));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_comment_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM search_document d USING old_rows o
   WHERE d.organization_id = o.organization_id AND d.ticket_id = o.ticket_id
     AND d.comment_id = o.id;
  RETURN NULL;
END $$;

-- tickets_contact and tickets_customer: their tickets' documents carry their names
CREATE OR REPLACE FUNCTION search_contact_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_tickets(ARRAY(
    SELECT t.id FROM new_rows n JOIN old_rows o ON o.id = n.id
      JOIN tickets_ticket t ON t.organization_id = n.organization_id AND t.requester_id = n.id
     WHERE o.name IS DISTINCT FROM n.name OR o.email IS DISTINCT FROM n.email));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_customer_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_tickets(ARRAY(
    SELECT t.id FROM new_rows n JOIN old_rows o ON o.id = n.id
      JOIN tickets_ticket t ON t.organization_id = n.organization_id AND t.customer_id = n.id
     WHERE o.name IS DISTINCT FROM n.name));
  RETURN NULL;
END $$;

-- tickets_attachment: the names are in their comment's document, or the ticket's own
CREATE OR REPLACE FUNCTION search_attachments_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_heads(ARRAY(
    SELECT DISTINCT n.ticket_id FROM new_rows n WHERE n.comment_id IS NULL));
  PERFORM search_index_comments(ARRAY(
    SELECT DISTINCT n.comment_id FROM new_rows n WHERE n.comment_id IS NOT NULL));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_attachments_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_heads(ARRAY(
    SELECT o.ticket_id FROM old_rows o WHERE o.comment_id IS NULL
    UNION SELECT n.ticket_id FROM new_rows n WHERE n.comment_id IS NULL));
  PERFORM search_index_comments(ARRAY(
    SELECT o.comment_id FROM old_rows o WHERE o.comment_id IS NOT NULL
    UNION SELECT n.comment_id FROM new_rows n WHERE n.comment_id IS NOT NULL));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_attachments_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_heads(ARRAY(
    SELECT DISTINCT o.ticket_id FROM old_rows o WHERE o.comment_id IS NULL));
  PERFORM search_index_comments(ARRAY(
    SELECT DISTINCT o.comment_id FROM old_rows o WHERE o.comment_id IS NOT NULL));
  RETURN NULL;
END $$;

-- portal_submission: the intake answers are in the ticket's own document
CREATE OR REPLACE FUNCTION search_submissions_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_heads(ARRAY(SELECT n.ticket_id FROM new_rows n));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_submissions_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_heads(ARRAY(
    SELECT o.ticket_id FROM old_rows o UNION SELECT n.ticket_id FROM new_rows n));
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_submissions_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM search_index_heads(ARRAY(SELECT o.ticket_id FROM old_rows o));
  RETURN NULL;
END $$;

-- The results page's ranking, bounded whatever the words: first the tenant's newest p_window
-- documents are read in the order of the unique index (ticket_id descending) and matched one
-- by one. When they hold the whole tenant, or at least p_limit matching tickets (a common
-- word: "please" is in 40 percent of all mail), the best of those are the answer, marked capped
-- when the tenant has more: a common word never touches its huge GIN posting list. Only
-- otherwise (a rarer word) the GIN index on (organization_id, vector) finds the matches,
-- with bitmap scans only (the planner, not knowing the tenant, could walk a whole tenant for
-- a word another tenant uses often), and at most p_cap documents are ranked. p_exclude ('' for
-- none) leaves out tickets with any (visible) document matching it.
CREATE OR REPLACE FUNCTION search_ranked(
  p_org bigint, p_query text, p_exclude text, p_public_only boolean, p_cap integer,
  p_window integer, p_limit integer
) RETURNS TABLE (ticket_id bigint, rank real, capped boolean)
LANGUAGE plpgsql STABLE
SET enable_seqscan = on SET enable_indexscan = on SET enable_indexonlyscan = on
AS $$
#variable_conflict use_column
DECLARE
  cfg regconfig := search_config(p_org);
  q tsquery := to_tsquery(cfg, p_query);
  ex tsquery := CASE WHEN p_exclude = '' THEN NULL ELSE to_tsquery(cfg, p_exclude) END;
  top_id bigint;
  read_docs integer;
  ids bigint[];
  ranks real[];
BEGIN
  SELECT t.id INTO top_id FROM tickets_ticket t WHERE t.organization_id = p_org
   ORDER BY t.number DESC LIMIT 1;
  IF top_id IS NULL OR numnode(q) = 0 THEN
    RETURN;
  END IF;
  WITH w AS MATERIALIZED (
    SELECT d.ticket_id, d.vector, d.is_public FROM search_document d
     WHERE d.ticket_id <= top_id AND d.organization_id = p_org
     ORDER BY d.ticket_id DESC, d.comment_id DESC LIMIT p_window
  ), info AS (
    SELECT count(*)::integer AS n, min(w.ticket_id) AS boundary FROM w
  ), m AS (
    SELECT w.ticket_id, max(ts_rank_cd(w.vector, q)) AS rank FROM w CROSS JOIN info
     WHERE w.vector @@ q AND (w.is_public OR NOT p_public_only)
       -- the oldest ticket may lie partly outside the window
       AND (info.n < p_window OR w.ticket_id > info.boundary)
     GROUP BY w.ticket_id
  ), x AS (
    SELECT DISTINCT w.ticket_id FROM w
     WHERE ex IS NOT NULL AND w.vector @@ ex AND (w.is_public OR NOT p_public_only)
  )
  SELECT (SELECT info.n FROM info),
         array_agg(m.ticket_id ORDER BY m.rank DESC, m.ticket_id DESC),
         array_agg(m.rank ORDER BY m.rank DESC, m.ticket_id DESC)
    INTO read_docs, ids, ranks
    FROM m WHERE m.ticket_id NOT IN (SELECT x.ticket_id FROM x);
  IF read_docs < p_window OR coalesce(array_length(ids, 1), 0) >= p_limit THEN
    RETURN QUERY SELECT u.id, u.rank, read_docs >= p_window
      FROM unnest(ids[1:p_limit], ranks[1:p_limit]) AS u(id, rank);
    RETURN;
  END IF;
  PERFORM set_config('enable_seqscan', 'off', true);
  PERFORM set_config('enable_indexscan', 'off', true);
  PERFORM set_config('enable_indexonlyscan', 'off', true);
  RETURN QUERY
    -- At most p_cap matching documents are read; the exclusion filters those (so excluding
    -- a common word cannot make it read every match).
    SELECT h.ticket_id, max(ts_rank_cd(h.vector, q))::real AS rank,
           sum(count(*)) OVER () >= p_cap FROM (
      SELECT d.ticket_id, d.vector FROM search_document d
       WHERE d.organization_id = p_org AND d.vector @@ q
         AND (d.is_public OR NOT p_public_only)
       LIMIT p_cap) h
     WHERE ex IS NULL OR NOT EXISTS (
       SELECT 1 FROM search_document x
        WHERE x.ticket_id = h.ticket_id AND x.organization_id = p_org AND x.vector @@ ex
          AND (x.is_public OR NOT p_public_only))
    GROUP BY h.ticket_id ORDER BY 2 DESC, 1 DESC LIMIT p_limit;
END $$;
"""

# (table, trigger and function name, event)
PG_TRIGGER_SPECS = [
    ("tickets_ticket", "search_ticket_inserted", "inserted"),
    ("tickets_ticket", "search_ticket_updated", "updated"),
    ("tickets_ticket", "search_ticket_deleted", "deleted"),
    ("tickets_comment", "search_comment_inserted", "inserted"),
    ("tickets_comment", "search_comment_updated", "updated"),
    ("tickets_comment", "search_comment_deleted", "deleted"),
    ("tickets_contact", "search_contact_updated", "updated"),
    ("tickets_customer", "search_customer_updated", "updated"),
    ("tickets_attachment", "search_attachments_inserted", "inserted"),
    ("tickets_attachment", "search_attachments_updated", "updated"),
    ("tickets_attachment", "search_attachments_deleted", "deleted"),
    ("portal_submission", "search_submissions_inserted", "inserted"),
    ("portal_submission", "search_submissions_updated", "updated"),
    ("portal_submission", "search_submissions_deleted", "deleted"),
]
_REFERENCING = {
    "inserted": ("INSERT", "NEW TABLE AS new_rows"),
    "updated": ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    "deleted": ("DELETE", "OLD TABLE AS old_rows"),
}


def _pg_trigger(table: str, name: str, event: str) -> str:
    operation, referencing = _REFERENCING[event]
    return (
        f"CREATE TRIGGER {name} AFTER {operation} ON {table} REFERENCING {referencing} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
    )


# btree_gin: the tenant and the words in one index, so a tenant's search never reads another
# tenant's postings.
PG_INDEX = (
    "CREATE INDEX IF NOT EXISTS search_document_org_vector ON search_document "
    "USING gin (organization_id, vector)"
)


_PG_FUNCTION_SIGNATURES = (
    "search_ranked(bigint, text, text, boolean, integer, integer, integer)",
    *(f"{name}()" for _table, name, _event in PG_TRIGGER_SPECS),
    "search_index_tickets(bigint[])",
    "search_index_heads(bigint[])",
    "search_index_comments(bigint[])",
    "search_index_tenant(bigint)",
    "search_index_all()",
    'search_vector(regconfig, text, text, text, "char")',
    "search_filename(text)",
    "search_words(text)",
    "search_people(text, text, text)",
    "search_config(bigint)",
)


def install(execute: Execute) -> None:
    execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    for lang, dictionary in LANGUAGES.items():
        execute(PG_CONFIG.format(lang=lang, dictionary=dictionary))
    execute(PG_HELPERS)
    execute(_pg_index_functions())
    execute(PG_TRIGGER_FUNCTIONS)
    for table, name, event in PG_TRIGGER_SPECS:
        execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        execute(_pg_trigger(table, name, event))


def uninstall(execute: Execute) -> None:
    for table, name, _event in PG_TRIGGER_SPECS:
        execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    execute("DROP INDEX IF EXISTS search_document_org_vector")
    for function in _PG_FUNCTION_SIGNATURES:
        execute(f"DROP FUNCTION IF EXISTS {function}")
    for lang in LANGUAGES:
        execute(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS helpdesk_{lang}")
