"""The search index, kept by the database itself: search.engine.ddl installs the extensions,
text search configurations, functions and triggers (PostgreSQL) or the FTS5 tables and
triggers (SQLite), indexes what exists, and builds the GIN index. The same objects are put
back after every later `migrate` (SearchConfig.ready), so this migration never needs editing;
a change to what a document holds is a new migration that calls
search.services.index_rebuild."""

from django.db import migrations

from search.engine import ddl


def forward(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    ddl.install(schema_editor.execute, vendor)
    ddl.fill(schema_editor.execute, vendor)


def backward(apps, schema_editor) -> None:
    ddl.uninstall(schema_editor.execute, schema_editor.connection.vendor)


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0001_documents_and_settings"),
        ("tickets", "0012_comment_held_by_send_guard"),
        ("portal", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
