"""Ticket numbers stay unique and gap-free when many requests create tickets at once."""

import threading

import pytest
from django.db import connection, connections

from tests.factories import make_ticket
from tickets.models import Ticket

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL (CI runs it)"
)


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticket_creation_gives_unique_numbers(acme, globex):
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def create(tenant, n):
        try:
            barrier.wait(timeout=10)
            with tenant.scope():
                for i in range(n):
                    make_ticket(
                        tenant.org,
                        subject=f"{tenant.org.slug} {i}",
                        email=f"c{threading.get_ident()}@x.test",
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=create, args=(acme if i % 2 else globex, 10)) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    for tenant in (acme, globex):
        with tenant.scope():
            numbers = sorted(Ticket.objects.values_list("number", flat=True))
        assert numbers == list(range(1, 41))
