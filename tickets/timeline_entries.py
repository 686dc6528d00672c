"""The ticket page's timeline as entries: each TicketEvent on its own, except the rows of one
automation run or one macro application (the same `data["via"]["run"]`, tickets.causes), which
show as one entry — "Automation “Route billing”: set team to Billing; assigned to Ann" — with
the rows it changed nested under it.

Pure: it groups rows the page already loaded, so the timeline costs no query of its own.
"""

from dataclasses import dataclass, field

from tickets import causes
from tickets.models import TicketEvent

# The header row kinds of a run (written last, inside the run's Cause: they carry its "via").
RUN_HEADERS = (TicketEvent.Kind.AUTOMATION, TicketEvent.Kind.MACRO)


@dataclass
class TimelineEntry:
    """One line of the timeline: a single `event`, or (when `run` is set) a run's header with
    the rows it changed in `children`."""

    event: TicketEvent  # the row the entry's time and actor come from
    run: str = ""
    kind: str = ""  # causes.AUTOMATION or causes.MACRO for a run
    name: str = ""  # the rule's or the macro's name
    header: TicketEvent | None = None
    children: list[TicketEvent] = field(default_factory=list)

    @property
    def is_run(self) -> bool:
        return bool(self.run)

    @property
    def results(self) -> list[dict]:
        results = (self.header.data.get("results") if self.header else None) or []
        return [r for r in results if isinstance(r, dict)]

    @property
    def summary(self) -> str:
        """What the run did, from its header's results: "set team to Billing; replied"; the
        actions that changed nothing are left out, a failed one says so."""
        parts = []
        for result in self.results:
            detail = _sentence_case(str(result.get("detail") or result.get("action") or ""))
            if result.get("outcome") == "failed":
                parts.append(f"failed: {detail}" if detail else "failed")
            elif result.get("outcome") != "unchanged" and detail:
                parts.append(detail)
        if not parts and self.header and self.header.data.get("error"):
            parts.append(f"failed: {self.header.data['error']}")
        return "; ".join(parts)

    @property
    def failed(self) -> bool:
        outcome = self.header.data.get("outcome") if self.header else ""
        return outcome in ("failed", "partial") or any(
            r.get("outcome") == "failed" for r in self.results
        )


def _sentence_case(text: str) -> str:
    """ "Team set to Billing." reads "team set to Billing" after a colon; "SLA …" stays."""
    text = text.strip().rstrip(".")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


def _via(event: TicketEvent) -> dict | None:
    via = event.data.get("via") if isinstance(event.data, dict) else None
    if isinstance(via, dict) and via.get("run"):
        return via
    return None


def timeline_entries(events) -> list[TimelineEntry]:
    """The entries of `events` (in timeline order): a run's entry stands where its first row
    stands, and takes its time and actor from its header row when it has one."""
    entries: list[TimelineEntry] = []
    runs: dict[str, TimelineEntry] = {}
    for event in events:
        via = _via(event)
        if via is None:
            entries.append(TimelineEntry(event=event))
            continue
        entry = runs.get(via["run"])
        if entry is None:
            kind = via.get("kind") or causes.AUTOMATION
            entry = TimelineEntry(event=event, run=via["run"], kind=kind, name=via.get("name", ""))
            runs[entry.run] = entry
            entries.append(entry)
        if event.kind in RUN_HEADERS and entry.header is None:
            entry.header, entry.event = event, event
        else:
            entry.children.append(event)
    return entries
