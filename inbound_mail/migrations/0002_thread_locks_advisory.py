"""Thread locks become PostgreSQL advisory locks (see inbound_mail/locks.py): the lock rows go,
and a function takes a set of advisory locks in one statement, in ascending order."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION helpdesk_lock_keys(keys bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    k bigint;
    n integer := 0;
BEGIN
    FOR k IN SELECT DISTINCT key FROM unnest(keys) AS key ORDER BY key LOOP
        PERFORM pg_advisory_xact_lock(k);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS helpdesk_lock_keys(bigint[])")


class Migration(migrations.Migration):
    dependencies = [("inbound_mail", "0001_initial")]

    operations = [
        migrations.DeleteModel(name="ThreadLock"),
        migrations.RunPython(create, drop),
    ]
