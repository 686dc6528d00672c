"""Trigram indexes for the agent search (PostgreSQL only; SQLite scans, which is fine there).

Django's `icontains` on PostgreSQL compares `UPPER(col) LIKE UPPER(pattern)`, so the indexes are
on `UPPER(col)` for the planner to use them.
"""

from django.db import migrations

INDEXES = [
    ("ticket_subject_trgm", "tickets_ticket", "UPPER(subject)"),
    ("contact_email_trgm", "tickets_contact", "UPPER(email)"),
    ("contact_name_trgm", "tickets_contact", "UPPER(name)"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression} gin_trgm_ops)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("tickets", "0003_open_activity_index")]
    operations = [migrations.RunPython(create, drop)]
