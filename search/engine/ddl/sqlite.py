"""Search's SQLite objects (search.engine.ddl installs them): two FTS5 tables
(`search_fts_simple`, and `search_fts_porter` for English stemming: each tenant's documents
live in the one its language picks; rowid = the comment's id, or minus the ticket's id for the
ticket's own document) and row-level triggers that keep them, as PostgreSQL's do."""

# ruff: noqa: S608  # DDL and SQL built from this module's constants only, never from input
from collections.abc import Callable

Execute = Callable[[str], object]

SQLITE_TABLES = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_simple USING fts5("
    "subject, people, body, organization_id UNINDEXED, ticket_id UNINDEXED, is_public UNINDEXED, "
    "tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts_porter USING fts5("
    "subject, people, body, organization_id UNINDEXED, ticket_id UNINDEXED, is_public UNINDEXED, "
    "tokenize = 'porter unicode61 remove_diacritics 2')",
)
# (table, which tenants' documents it holds)
FTS_TABLES = (("search_fts_simple", "NOT stemmed"), ("search_fts_porter", "stemmed"))

_SQLITE_STEMMED = (
    "coalesce((SELECT s.language FROM search_searchsettings s "
    "WHERE s.organization_id = {org}), 'simple') = 'english'"
)
_SQLITE_PEOPLE = "coalesce(r.name, '') || ' ' || r.email || ' ' || coalesce(cu.name, '')"


def sqlite_head_select(where: str) -> str:
    """The tickets' own documents (rowid: minus the ticket's id)."""
    return f"""
SELECT -t.id AS doc_id, t.organization_id, t.id AS ticket_id, 1 AS is_public,
  {_SQLITE_STEMMED.format(org="t.organization_id")} AS stemmed,
  t.subject AS subject, {_SQLITE_PEOPLE} AS people,
  coalesce((SELECT group_concat(j.value, ' ') FROM portal_submission ps, json_tree(ps."values") j
             WHERE ps.ticket_id = t.id AND j.type = 'text'
               AND (j.key = 'value' OR j.path LIKE '%.value')), '')
  || ' ' || coalesce((SELECT group_concat(a.filename, ' ') FROM tickets_attachment a
                       WHERE a.ticket_id = t.id AND a.comment_id IS NULL), '') AS body
FROM tickets_ticket t
JOIN tickets_contact r ON r.id = t.requester_id
LEFT JOIN tickets_customer cu ON cu.id = t.customer_id
WHERE {where}"""


def sqlite_comment_select(where: str) -> str:
    """One document per comment (rowid: the comment's id)."""
    return f"""
SELECT c.id AS doc_id, c.organization_id, c.ticket_id, c.is_public,
  {_SQLITE_STEMMED.format(org="c.organization_id")} AS stemmed,
  t.subject AS subject, {_SQLITE_PEOPLE} AS people,
  substr(c.body_text, 1, 100000) || ' '
  || coalesce((SELECT group_concat(a.filename, ' ') FROM tickets_attachment a
                WHERE a.comment_id = c.id), '') AS body
FROM tickets_comment c
JOIN tickets_ticket t ON t.id = c.ticket_id
JOIN tickets_contact r ON r.id = t.requester_id
LEFT JOIN tickets_customer cu ON cu.id = t.customer_id
WHERE {where}"""


def sqlite_reindex_statements(
    *, heads: str | None, comments: str | None, doc_ids: str | None
) -> list[str]:
    """Statements that drop the documents `doc_ids` (an SQL list of rowids; None: none) and
    insert the heads and comments matching the two conditions (None: none) into the table the
    tenant's language picks."""
    statements = []
    if doc_ids is not None:
        statements += [
            f"DELETE FROM {table} WHERE rowid IN ({doc_ids})" for table, _c in FTS_TABLES
        ]
    selects = [sqlite_head_select(heads)] if heads else []
    selects += [sqlite_comment_select(comments)] if comments else []
    source = " UNION ALL ".join(selects)
    for table, condition in FTS_TABLES:
        statements.append(
            f"INSERT INTO {table} (rowid, subject, people, body, organization_id, ticket_id, "
            "is_public) SELECT doc_id, subject, people, body, organization_id, ticket_id, "
            f"is_public FROM ({source}) WHERE {condition}"
        )
    return statements


def _body(statements: list[str]) -> str:
    return "\n  ".join(f"{s};" for s in statements)


def _trigger(name: str, event: str, table: str, statements: list[str], when: str = "") -> str:
    when_sql = f" WHEN {when}" if when else ""
    return (
        f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when_sql}\n"
        f"BEGIN\n  {_body(statements)}\nEND"
    )


def _deletes(doc_ids: str) -> list[str]:
    return [f"DELETE FROM {table} WHERE rowid IN ({doc_ids})" for table, _c in FTS_TABLES]


def _tickets_where(tickets: str) -> dict[str, str | None]:
    """Every document of the tickets `tickets` (an SQL condition on t)."""
    ids = f"SELECT t.id FROM tickets_ticket t WHERE {tickets}"
    return {
        "heads": tickets,
        "comments": tickets,
        "doc_ids": f"SELECT -id FROM ({ids}) UNION ALL SELECT id FROM tickets_comment "
        f"WHERE ticket_id IN ({ids})",
    }


def _attachment(row: str) -> dict[str, str | None]:
    # The comment's document, or the ticket's own when the attachment has no comment.
    return {
        "heads": f"t.id = {row}.ticket_id AND {row}.comment_id IS NULL",
        "comments": f"c.id = {row}.comment_id",
        "doc_ids": f"coalesce({row}.comment_id, -{row}.ticket_id)",
    }


def _head(ticket: str) -> dict[str, str | None]:
    return {"heads": f"t.id = {ticket}", "comments": None, "doc_ids": f"-{ticket}"}


def sqlite_triggers() -> dict[str, str]:
    """Trigger name -> its CREATE TRIGGER statement."""
    reindex = sqlite_reindex_statements
    comment: dict[str, str | None] = {
        "heads": None,
        "comments": "c.id = NEW.id",
        "doc_ids": "NEW.id",
    }
    triggers: list[tuple[str, str, str, list[str], str]] = [
        ("search_ticket_inserted", "INSERT", "tickets_ticket", reindex(**_head("NEW.id")), ""),
        (
            "search_ticket_changed",
            "UPDATE OF subject, requester_id, customer_id",
            "tickets_ticket",
            reindex(**_tickets_where("t.id = NEW.id")),
            "OLD.subject IS NOT NEW.subject OR OLD.requester_id IS NOT NEW.requester_id "
            "OR OLD.customer_id IS NOT NEW.customer_id",
        ),
        ("search_ticket_deleted", "DELETE", "tickets_ticket", _deletes("-OLD.id"), ""),
        ("search_comment_inserted", "INSERT", "tickets_comment", reindex(**comment), ""),
        (
            "search_comment_changed",
            "UPDATE OF body_text, is_public, ticket_id",
            "tickets_comment",
            reindex(**comment),
            "OLD.body_text IS NOT NEW.body_text OR OLD.is_public IS NOT NEW.is_public "
            "OR OLD.ticket_id IS NOT NEW.ticket_id",
        ),
        ("search_comment_deleted", "DELETE", "tickets_comment", _deletes("OLD.id"), ""),
        (
            "search_contact_changed",
            "UPDATE OF name, email",
            "tickets_contact",
            reindex(**_tickets_where("t.requester_id = NEW.id")),
            "OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email",
        ),
        (
            "search_customer_changed",
            "UPDATE OF name",
            "tickets_customer",
            reindex(**_tickets_where("t.customer_id = NEW.id")),
            "OLD.name IS NOT NEW.name",
        ),
        (
            "search_attachment_inserted",
            "INSERT",
            "tickets_attachment",
            reindex(**_attachment("NEW")),
            "",
        ),
        (
            "search_attachment_changed",
            "UPDATE OF filename, comment_id, ticket_id",
            "tickets_attachment",
            reindex(**_attachment("OLD")) + reindex(**_attachment("NEW")),
            "",
        ),
        (
            "search_attachment_deleted",
            "DELETE",
            "tickets_attachment",
            reindex(**_attachment("OLD")),
            "",
        ),
        (
            "search_submission_inserted",
            "INSERT",
            "portal_submission",
            reindex(**_head("NEW.ticket_id")),
            "",
        ),
        (
            "search_submission_changed",
            "UPDATE",
            "portal_submission",
            reindex(**_head("OLD.ticket_id")) + reindex(**_head("NEW.ticket_id")),
            "",
        ),
        (
            "search_submission_deleted",
            "DELETE",
            "portal_submission",
            reindex(**_head("OLD.ticket_id")),
            "",
        ),
    ]
    return {
        name: _trigger(name, event, table, statements, when)
        for name, event, table, statements, when in triggers
    }


def install(execute: Execute) -> None:
    for statement in SQLITE_TABLES:
        execute(statement)
    for name, statement in sqlite_triggers().items():
        execute(f"DROP TRIGGER IF EXISTS {name}")
        execute(statement)


def uninstall(execute: Execute) -> None:
    for name in sqlite_triggers():
        execute(f"DROP TRIGGER IF EXISTS {name}")
    for table, _condition in FTS_TABLES:
        execute(f"DROP TABLE IF EXISTS {table}")
