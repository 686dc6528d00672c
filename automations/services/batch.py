"""A tenant's gathered events (automations.batching) through the engine, in their order, in
chunks that share one transaction.

The rules version is read once and the batch's tickets and facts together
(automations.facts.facts_for_events); a ticket that a rule changed is read again for the events
after it (inside the chunk's transaction, so with what the chunk did). The matching events of a
chunk run in one transaction, without savepoints: the chunk first locks, in one statement, the
tickets its events would run rules on (`Chunk.lock`; one changed later in the batch is locked
when its rules run), the SLA policies are read once (sla.policies.remembered), the timeline
rows of all their rules are gathered
and written in one INSERT with their RuleRuns in another, the tenant's list version is bumped
once, and one commit ends them all. Per event that saves a commit, two INSERTs and their
compiling, which were most of what an event cost once its rules were decided.

A chunk ends after CHUNK_EVENTS events, and at once after an event that took a team's
round-robin pointer (automations.assignment.pointer_locks): that lock makes every other worker
assigning in the team wait until commit, so it is held no longer than before. Tickets' locks
are held until the chunk commits, a few events longer than before.

Whatever goes wrong in a chunk rolls all of it back (an action that raised, a foreign key that
failed at commit, a RuleRun already written by a redelivered task), and its events then run one
at a time, each in its own transaction, as `automations_handle_event` runs one: the action is
recorded failed, the event that raises is logged, and the others still run. An OperationalError
(a deadlock, a lost connection) is raised: the task runs the batch again, as a replay.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import OperationalError, transaction
from django.utils import timezone

from automations import assignment, schema
from automations.facts import TICKET_RELATED, Facts, TenantLookups, facts_for, facts_for_events
from automations.models import RuleRun
from automations.rules_cache import tenant_rules
from automations.services.run import (
    Candidate,
    Chain,
    Chunk,
    any_matches,
    candidates_in,
    decide_and_run,
    log_cut_chain,
    read_ticket,
)
from sla import policies
from tenants.models import Organization
from tenants.scoping import bulk_create_checked
from tickets.events import DomainEvent
from tickets.models import Ticket
from tickets.services import timeline

logger = logging.getLogger(__name__)

CHUNK_EVENTS = 25  # events per transaction at most: how long their tickets stay locked


@dataclass(frozen=True)
class Queued:
    """One gathered event with its chain (automations.batching's plain values, read back)."""

    event: DomainEvent
    origin: str
    depth: int
    event_at: datetime


@dataclass
class _Pending:
    item: Queued
    found: list[Candidate]
    facts: Facts | None  # as read with the batch; None once it may be stale
    decided: bool | None = None  # whether a rule would run on `facts` (before the chunk)


class _Batch:
    def __init__(self, organization_id: int, replay: bool):
        self.lookups = TenantLookups(organization_id)
        self.replay = replay
        self.changed: set[int] = set()  # tickets a rule ran on: read again for a later event

    def chain(self, item: Queued) -> Chain:
        event = item.event
        return Chain(event, event.name, item.origin, item.depth, item.event_at, self.replay)


def automations_handle_events(
    *, organization: Organization, queued: list[Queued], replay: bool = False
) -> list[RuleRun]:
    """Run the tenant's rules on each of its gathered events, in order; the runs. An event
    that raises is logged and the others still run; an OperationalError is raised (the task
    runs the batch again, as a replay)."""
    by_trigger = tenant_rules(organization_id=organization.pk)
    pending: list[_Pending] = []
    for item in queued:
        found = candidates_in(by_trigger, item.event)
        if not found:
            continue
        if item.depth >= schema.MAX_CHAIN_DEPTH:
            log_cut_chain(item.event, item.origin, item.depth)
            continue
        pending.append(_Pending(item, found, None))
    if not pending:
        return []
    batch = _Batch(organization.pk, replay)
    ids = {p.item.event.ticket_id for p in pending}
    related = Ticket.objects.select_related(*TICKET_RELATED)
    tickets = {t.pk: t for t in related.filter(pk__in=ids)}
    read = facts_for_events(
        tickets, [p.item.event for p in pending], now=timezone.now(), lookups=batch.lookups
    )
    for p, facts in zip(pending, read, strict=True):
        p.facts = facts
    runs: list[RuleRun] = []
    start = 0
    while start < len(pending):
        end, ran = _chunk(batch, pending, start)
        if ran is None:
            ran = _one_by_one(batch, pending[start:end])
        runs += ran
        start = end
    return runs


def _chunk(batch: _Batch, pending: list[_Pending], start: int) -> tuple[int, list[RuleRun] | None]:
    """Run events from `start` in one transaction; where the chunk ended, and its runs (None:
    it was rolled back, and its events must run one by one)."""
    end = start
    chunk = Chunk()
    try:
        with (
            transaction.atomic(),
            timeline.gathered() as waiting,
            assignment.pointer_locks() as pointers,
            policies.remembered(),  # SLA's, read once for the chunk's team and priority changes
        ):
            chunk.lock(_worth_locking(batch, pending[start : start + CHUNK_EVENTS]))
            while end < len(pending) and end - start < CHUNK_EVENTS:
                p = pending[end]
                end += 1
                if _one(batch, p, chunk):
                    batch.changed.add(p.item.event.ticket_id)
                if pointers:
                    break  # a team's pointer is locked: commit now, others wait for it
            timeline.write_gathered(waiting)
            bulk_create_checked(RuleRun, chunk.runs)
    except OperationalError:
        raise
    except Exception:
        logger.info(
            "automations: %s events rolled back together; each runs alone", end - start,
            exc_info=True,
        )  # fmt: skip
        # What the try changed in memory (the tickets, their facts, the tags it created) is
        # gone from the database: read again.
        batch.lookups.forget()
        batch.changed.update(p.item.event.ticket_id for p in pending[start:end])
        return end, None
    return end, chunk.runs


def _worth_locking(batch: _Batch, window: list[_Pending]) -> dict[int, Ticket]:
    """The tickets of these events (read with the batch, not changed since) on which a rule
    would run: the chunk locks them together at its start, instead of one statement each."""
    tickets: dict[int, Ticket] = {}
    for p in window:
        facts = p.facts
        if facts is None or p.item.event.ticket_id in batch.changed:
            continue
        facts.now = timezone.now()
        p.decided = any_matches(p.found, facts, facts.ticket)
        if p.decided and not facts.ticket.merged_into_id:
            tickets[facts.ticket.pk] = facts.ticket
    return tickets


def _one_by_one(batch: _Batch, pending: list[_Pending]) -> list[RuleRun]:
    """Each event in its own transaction (automations.services.run's path for one event)."""
    runs: list[RuleRun] = []
    for p in pending:
        try:
            ran = _one(batch, p, None)
        except OperationalError:
            raise
        except Exception:
            event = p.item.event
            name, ticket_id = event.name, event.ticket_id
            logger.exception("automations: event %s on ticket %s failed", name, ticket_id)
            batch.changed.add(event.ticket_id)  # its row in memory may hold what rolled back
            batch.lookups.forget()  # and the tags its actions created, rolled back too
            continue
        if ran:
            batch.changed.add(p.item.event.ticket_id)
            runs += ran
    return runs


def _one(batch: _Batch, p: _Pending, chunk: Chunk | None) -> list[RuleRun]:
    event = p.item.event
    facts = p.facts
    decided, p.decided = p.decided, None  # decided on these facts, once
    if event.ticket_id in batch.changed or facts is None:
        ticket = read_ticket(event.ticket_id)
        if ticket is None:
            return []
        facts = facts_for(ticket=ticket, event=event, now=timezone.now(), lookups=batch.lookups)
        decided = None
    elif decided is None:
        facts.now = timezone.now()
    if facts.ticket.merged_into_id:
        return []
    chain = batch.chain(p.item)
    return decide_and_run(facts.ticket, facts, p.found, chain, chunk, decided)
