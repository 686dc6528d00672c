"""Serialise the processing of messages that may belong to one thread.

Two messages of one thread share a Message-ID (one names the other in In-Reply-To/References,
or both name their parent) or, for clients that drop those headers, a sender and a normalized
subject. Each such key, with the tenant, hashes to a 64-bit number. A message (or a batch of
them) takes a PostgreSQL transaction-level advisory lock on each of its numbers before it looks
for its ticket, all in one statement and in ascending order, so two transactions never wait on
each other in a cycle; the locks last until its ticket or comment is committed. The second
message of a thread therefore sees the first one's ticket.

Advisory locks need no rows, so the key space is 2^64 and unrelated messages practically never
wait for each other. (The lock rows this replaced had 1,024 slots per tenant, and two batches of
50 messages nearly always shared one, so the two workers took turns.) On SQLite this is a
no-op: SQLite runs one writing transaction at a time anyway.
"""

import hashlib
from collections.abc import Iterable

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import BigIntegerField, Func, IntegerField, Value
from django.db.models.functions import Cast

from tenants.models import Organization

# Made by migration inbound_mail 0002: locks each distinct key of a bigint[] in ascending order.
LOCK_FUNCTION = "helpdesk_lock_keys"


def lock_number(organization_id: int, key: str) -> int:
    """The advisory lock number of a thread key in a tenant (a signed 64-bit integer)."""
    digest = hashlib.blake2b(f"{organization_id}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_thread_keys(organization_id: int, keys: Iterable[str]) -> int:
    """Inside a transaction: hold these thread keys until it ends; how many locks were taken."""
    numbers = sorted({lock_number(organization_id, key) for key in keys})
    if not numbers or connection.vendor != "postgresql":
        return 0
    locked = Func(
        Cast(Value(numbers), ArrayField(BigIntegerField())),
        function=LOCK_FUNCTION,
        output_field=IntegerField(),
    )
    rows = Organization.objects.filter(pk=organization_id).annotate(locked=locked)
    return rows.values_list("locked", flat=True).get()


def thread_keys(
    *, message_id: str, ids: list[str], sender: str, normalized_subject: str
) -> list[str]:
    keys = [f"id:{i}" for i in [message_id, *ids] if i]
    if sender and normalized_subject:
        keys.append(f"subject:{sender}:{normalized_subject}")
    return keys
