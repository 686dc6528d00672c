"""tenants.db: how a request asks PostgreSQL to run its statements."""

import pytest
from django.db import connection

from tenants.db import in_one_process

pytestmark = [
    pytest.mark.django_db(transaction=True),  # no outer transaction, as in a request
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's settings"),
]


def _workers() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        return cursor.fetchone()[0]


def test_statements_inside_run_without_parallel_workers_and_the_setting_ends_with_it():
    before = _workers()
    assert before != "0"  # the server's default, which the test would otherwise not see change
    with in_one_process():
        assert _workers() == "0"
    assert _workers() == before
