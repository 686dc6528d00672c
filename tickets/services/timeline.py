"""TicketEvent rows: the ticket's timeline and audit log, naming who acted; every change writes
one.
Rows made under a tickets.causes.Cause say so in `data["via"]`.

A caller that makes many changes in one transaction (the automations engine: a ticket's rules
and their actions) can gather the rows instead (`gathered`): they wait in a list, in the order
they were made, and the caller writes them together (`write_gathered`, one INSERT) before it
commits. Their ids and created_at then come in the same order as when each was written at
once; nothing reads a ticket's timeline back inside such a transaction. The same gathering
queues the tenant's list version bump once (tickets.services.lists)."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from tenants.scoping import bulk_create_checked
from tickets import causes
from tickets.models import TicketEvent


@dataclass
class Gathered:
    """What a caller's changes left to write (`rows`, in order) and the tenants whose list
    bump they queued already (`bumped`)."""

    rows: list[TicketEvent] = field(default_factory=list)
    bumped: list[int] = field(default_factory=list)

    def mark(self) -> tuple[int, int]:
        return len(self.rows), len(self.bumped)

    def drop_since(self, mark: tuple[int, int]) -> None:
        """A savepoint taken at `mark` rolled back: what was gathered since is gone with it
        (the bumps' after-commit callbacks too, so a later change queues its own)."""
        del self.rows[mark[0] :]
        del self.bumped[mark[1] :]


_gathering: ContextVar[Gathered | None] = ContextVar("timeline_gathering", default=None)


def _event(ticket, kind, *, actor_user=None, actor_contact=None, **data) -> TicketEvent:
    event = _event_row(ticket, kind, actor_user=actor_user, actor_contact=actor_contact, **data)
    _write([event])
    return event


def _event_row(ticket, kind, *, actor_user=None, actor_contact=None, **data) -> TicketEvent:
    cause = causes.current()
    if cause is not None:
        data["via"] = cause.stamp()  # an automation or a macro made it (tickets.causes)
    return TicketEvent(
        organization_id=ticket.organization_id,
        ticket=ticket,
        kind=kind,
        actor_user=actor_user,
        actor_contact=actor_contact,
        data=data,
    )


def _write(rows: Iterable[TicketEvent]) -> None:
    """Write the rows now, or add them to the gathered ones (`gathered`)."""
    waiting = _gathering.get()
    if waiting is not None:
        waiting.rows.extend(rows)
        return
    rows = list(rows)
    if len(rows) == 1:
        rows[0].save()
    else:
        bulk_create_checked(TicketEvent, rows)


@contextmanager
def gathered() -> Iterator[Gathered]:
    """Inside, the rows `_event` and `_write` make are kept (in order) in what it gives, for
    the caller to write with `write_gathered` inside the same transaction. A caller that rolls
    back part of its work (a savepoint) drops what was gathered since (`Gathered.mark`)."""
    waiting = Gathered()
    token = _gathering.set(waiting)
    try:
        yield waiting
    finally:
        _gathering.reset(token)


def gathering() -> Gathered | None:
    """What is gathered so far (`gathered`), or None when rows are written at once."""
    return _gathering.get()


def write_gathered(waiting: Gathered) -> None:
    """Write the gathered rows in one INSERT, in the order they were made."""
    bulk_create_checked(TicketEvent, waiting.rows)
    waiting.rows.clear()
