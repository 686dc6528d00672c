"""Search's database objects live beside the other apps' migrations: nothing pins a ticket
table's columns (another app may change a column's type), and after a migration that dropped
a trigger (SQLite remakes a table for most changes, and its triggers go with it) the next
`migrate`'s post_migrate puts everything back."""

import pytest
from django.db import connection

from search.engine import ddl
from search.selectors import search_tickets
from tests.factories import make_ticket
from tickets.services.comments import comment_create


def _numbers(raw: str) -> list[int]:
    return [hit.ticket.number for hit in search_tickets(raw).hits]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite remakes the table")
def test_another_app_may_change_a_ticket_column_type(in_acme):
    with connection.cursor() as cursor:
        for table, column in (("tickets_ticket", "subject"), ("tickets_comment", "body_text")):
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(400)")
        cursor.execute("ALTER TABLE tickets_contact ALTER COLUMN name TYPE varchar(300)")
    ticket = make_ticket(in_acme.org, subject="Projector flickers", body="x")
    assert _numbers("projector") == [ticket.number]


def test_ensure_puts_back_a_dropped_trigger(in_acme):
    ticket = make_ticket(in_acme.org, subject="Scanner", body="x")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER search_comment_inserted ON tickets_comment")
        else:
            cursor.execute("DROP TRIGGER search_comment_inserted")
    comment_create(ticket=ticket, body_text="paper jam qv31")
    assert _numbers("qv31") == []  # the lost trigger: not indexed
    ddl.ensure("default")
    comment_create(ticket=ticket, body_text="again qv32")
    assert _numbers("qv32") == [ticket.number]
    # Installing again changes nothing that works.
    ddl.ensure("default")
    assert _numbers("scanner") == [ticket.number]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's GIN index")
def test_installing_over_existing_tickets_indexes_them_in_one_transaction(in_acme):
    """What the migration does on an install that already has tickets: uninstall, then
    install and fill inside one transaction (as a migration runs), with documents whose
    foreign keys are still to be checked when the GIN index is built."""
    from django.db import transaction

    ticket = make_ticket(in_acme.org, subject="Plotter offline", body="error kx77")

    def execute(sql, params=None):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    with transaction.atomic():
        ddl.uninstall(execute, "postgresql")
        execute("DROP INDEX IF EXISTS search_document_org_vector")
        execute("DELETE FROM search_document")
        execute("SET CONSTRAINTS ALL DEFERRED")
        ddl.install(execute, "postgresql")
        ddl.fill(execute, "postgresql")
    assert _numbers("kx77") == [ticket.number]
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'search_document'")
        assert cursor.fetchone()[0] > 0  # analysed: the planner knows the table's size
