"""Serialise the processing of messages that may belong to one thread.

Two messages of one thread share a Message-ID (one names the other in In-Reply-To/References,
or both name their parent) or, for clients that drop those headers, a sender and a normalized
subject. Each such key hashes to one of SLOTS lock rows of the tenant; a message locks all of
its slots (SELECT ... FOR UPDATE, in slot order, so two messages never wait on each other in
a cycle) before it looks for its ticket, and holds them until its ticket or comment is
committed. The second message of a thread therefore sees the first one's ticket. On SQLite
the row locks are no-ops, but SQLite runs one writing transaction at a time anyway.
"""

import hashlib

from inbound_mail.models import ThreadLock
from tenants.models import Organization

SLOTS = 1024
# Tenants whose lock rows this process has made sure of, keyed by (id, created_at) so that a
# recreated tenant with a reused id is not mistaken for the old one.
_ready: set[tuple[int, object]] = set()


class LockRowsMissing(Exception):
    """Fewer lock rows than slots: they are created on the next try."""


def slot_of(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % SLOTS


def ensure_tenant_slots(organization: Organization) -> None:
    """Create the tenant's lock rows, all at once and outside any transaction: an INSERT that
    waits for a concurrent INSERT of the same row while holding other locks could deadlock."""
    key = (organization.pk, organization.created_at)
    if key in _ready:
        return
    if ThreadLock.objects.count() < SLOTS:
        ThreadLock.objects.bulk_create(
            [ThreadLock(organization=organization, slot=slot) for slot in range(SLOTS)],
            ignore_conflicts=True,
        )
    _ready.add(key)


def lock_slots(slots: list[int]) -> None:
    """Inside a transaction: hold the slots (in slot order) until it ends."""
    locked = list(
        ThreadLock.objects.select_for_update()
        .filter(slot__in=slots)
        .order_by("slot")
        .values_list("slot", flat=True)
    )
    if len(locked) != len(slots):
        _ready.clear()
        raise LockRowsMissing(f"lock rows missing for slots {sorted(set(slots) - set(locked))}")


def thread_keys(
    *, message_id: str, ids: list[str], sender: str, normalized_subject: str
) -> list[str]:
    keys = [f"id:{i}" for i in [message_id, *ids] if i]
    if sender and normalized_subject:
        keys.append(f"subject:{sender}:{normalized_subject}")
    return keys
