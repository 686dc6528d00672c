"""Why a change happens when no person made it directly: an automation rule, or a macro an agent
applied. The automations app enters a Cause around the ticket services it calls; the services
stay unaware of it, and two places read it:

- `tickets.services.timeline._event_row` stamps each TicketEvent with `data["via"]`
  ({"kind", "name", "run"}), so the timeline says "by automation: Route billing" and groups the
  rows of one run (or one macro application) under one entry;
- `tickets.events.emit` gives each domain event the cause as plain values (`DomainEvent.cause`),
  so the automations that hear it know the chain it belongs to: the originating event's key and
  how many automation steps deep it is (loop protection).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

AUTOMATION = "automation"
MACRO = "macro"


@dataclass(frozen=True)
class Cause:
    kind: str  # AUTOMATION or MACRO
    name: str  # the rule's or the macro's name, as it was when it ran
    run: str  # one run of a rule or one application of a macro: groups its timeline rows
    origin: str = ""  # the key of the event a person (or the clock) made that started the chain
    depth: int = 0  # automation steps from that event to this change (a person's change: 0)
    rule_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def stamp(self) -> dict:
        """What a TicketEvent row carries of it (`data["via"]`)."""
        return {"kind": self.kind, "name": self.name, "run": self.run}


_current: ContextVar[Cause | None] = ContextVar("ticket_change_cause", default=None)


@contextmanager
def acting(cause: Cause) -> Iterator[Cause]:
    token = _current.set(cause)
    try:
        yield cause
    finally:
        _current.reset(token)


def current() -> Cause | None:
    return _current.get()
