"""Search's database objects, for both databases (`postgres` and `sqlite`, which import
nothing of each other), installed by search's migration and again after every `migrate`
(SearchConfig.ready connects `ensure`): CREATE OR REPLACE and IF NOT EXISTS throughout, so
installing twice changes nothing.

Why again after every migrate: no object here is a view a table's columns depend on (a view
would make PostgreSQL refuse another app's ALTER COLUMN TYPE on tickets_ticket.subject, say),
and SQLite drops a table's triggers when Django remakes the table for a schema change, so
they are put back right after. A change to what a document holds is a migration that calls
search.services.index_rebuild.
"""

from search.engine.ddl import postgres, sqlite
from search.engine.ddl.postgres import PG_INDEX, Execute
from search.engine.ddl.sqlite import FTS_TABLES, sqlite_reindex_statements

__all__ = ["FTS_TABLES", "PG_INDEX", "ensure", "fill", "install", "sqlite_reindex_statements"]


def install(execute: Execute, vendor: str) -> None:
    """Create or replace every object but the documents and the GIN index (idempotent)."""
    if vendor == "postgresql":
        postgres.install(execute)
    elif vendor == "sqlite":
        sqlite.install(execute)


def fill(execute: Execute, vendor: str) -> None:
    """Index everything there is (a new installation over existing tickets), then, on
    PostgreSQL, build the GIN index: once, far faster than keeping it current row by row."""
    if vendor == "postgresql":
        # CREATE INDEX refuses while the transaction owes deferred foreign-key checks on the
        # documents the fill wrote (a migration over existing tickets): run them first.
        execute("SELECT search_index_all()")
        execute("SET CONSTRAINTS ALL IMMEDIATE")
        execute(PG_INDEX)
        # The planner's statistics for what was just filled: without them a list or saved
        # view with text chose a hash join over every matching document (25 times slower).
        execute("ANALYZE search_document")
    elif vendor == "sqlite":
        for statement in sqlite_reindex_statements(heads="1", comments="1", doc_ids=None):
            execute(statement)


def uninstall(execute: Execute, vendor: str) -> None:
    if vendor == "postgresql":
        postgres.uninstall(execute)
    elif vendor == "sqlite":
        sqlite.uninstall(execute)


def ensure(using: str) -> None:
    """After `migrate`: install everything again (idempotent) once search's migration has run,
    so a later migration that remade a ticket table (SQLite drops its triggers with it) or
    replaced a function leaves search working."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    connection = connections[using]
    if ("search", "0002_index_triggers") not in MigrationRecorder(connection).applied_migrations():
        return
    with connection.cursor() as cursor:
        install(cursor.execute, connection.vendor)
