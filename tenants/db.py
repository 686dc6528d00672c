"""What a request may ask of PostgreSQL about how to run its statements."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def in_one_process() -> Iterator[None]:
    """The statements inside run without parallel workers (PostgreSQL; elsewhere a no-op).

    For a request's many small counts in one statement (the rail): PostgreSQL plans a
    parallel scan for the widest of them, and on a busy server starting and feeding the
    workers costs more than the scan (the rail's counts: 50-110 ms alone against 150-210 ms
    with two workers, measured under load). `SET LOCAL` ends with the transaction it opens
    (or the caller's)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        yield
