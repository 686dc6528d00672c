"""The engine: a tenant's rules run on one ticket, for one domain event or one time rule's
period, in order, in one transaction that holds the ticket's lock.

For each rule whose trigger options and conditions match (automations.triggers,
automations.conditions over automations.facts), its RuleRun is written with what each action
did (automations.actions, each in its own savepoint: an action that raises is "failed" and
the others still run) and, unless nothing changed, one TicketEvent of kind "automation"
heads the rows its actions wrote. The actions run inside a tickets.causes.Cause, so their
rows say "by automation" and the events they emit carry the chain: its origin (the event a
person or the clock made) and depth. Loops cannot happen: a rule runs at most once per ticket
and origin (RuleRun's unique constraint; checked under the ticket's lock, so no two workers
race past it), and an event MAX_CHAIN_DEPTH steps from its origin runs no rules at all.

The queries grow with what the rules do, not with how many there are: the rules come from
the per-process cache (automations.rules_cache); their trigger options are checked before
anything is read (`candidates`, which the subscriber asks too before it queues an event); the
ticket and its facts are read without a lock, and the ticket is locked only when a rule
matches (a lock is a write, whose commit waits for the disk), the conditions then decided
again on the locked row; the actions keep the ticket current, and the facts follow what they
did to its tags and collaborators; the runs and their timeline rows are written together at
the end. Gathered events (automations.batching) run in batches, in chunks that share one
transaction (automations.services.batch, through `decide_and_run` with a `Chunk`).
"""

import dataclasses
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import OperationalError, transaction
from django.utils import timezone

from automations import schema, triggers
from automations.actions import ActionResult, execute
from automations.facts import (
    TICKET_RELATED,
    Facts,
    facts_for,
)
from automations.models import Rule, RuleRun
from automations.rules_cache import CompiledRule, compiled, rules_for
from automations.schema import ActionType
from automations.services.scan import clock_of, period_key, qualifies, threshold_of
from tenants.models import Organization
from tenants.scoping import bulk_create_checked
from tickets import causes
from tickets.events import DomainEvent
from tickets.models import Ticket, TicketEvent
from tickets.services import timeline

logger = logging.getLogger(__name__)

TIME_EVENT = "time"  # RuleRun.event of a time rule's run
# Actions whose change the facts do not see on the ticket itself: its tags and collaborators.
_REFRESHING = (ActionType.ADD_TAGS, ActionType.REMOVE_TAGS, ActionType.ADD_COLLABORATORS)
_CUT_LOGGED_SECONDS = 24 * 3600  # a cut chain is logged once per ticket and origin in this time


@dataclass(frozen=True)
class Chain:
    """What the rules run for: the event (None for a time rule), its chain, when it happened."""

    event: DomainEvent | None
    event_name: str
    origin: str
    depth: int
    event_at: datetime | None
    replay: bool = False  # run again after a failure: some of its rules may have run

    @property
    def fresh(self) -> bool:
        """A person's event (not the clock's): its origin is new, so nothing ran in it yet."""
        return self.depth == 0 and self.event is not None and not self.replay


@dataclass
class Chunk:
    """The runs of a batch's events that share one transaction (automations.services.batch):
    written together when it ends, after the timeline rows gathered meanwhile."""

    runs: list[RuleRun] = dataclasses.field(default_factory=list)
    held: set[int] = dataclasses.field(default_factory=set)  # tickets it holds locked
    stale: set[int] = dataclasses.field(default_factory=set)  # of those, changed since read

    def lock(self, tickets: dict[int, Ticket]) -> None:
        """Lock these tickets (as read, by id) in one statement, in id order, so that two
        workers' chunks wait for each other instead of deadlocking. A ticket whose row changed
        since it was read is read again whole when its rules run; the others are current
        until commit (the actions change them in place)."""
        if not tickets:
            return
        rows = Ticket.objects.select_for_update(of=("self",)).filter(pk__in=list(tickets))
        for row in rows.order_by("pk"):
            self.held.add(row.pk)
            if not _same_row(row, tickets[row.pk]):
                self.stale.add(row.pk)

    def ran(self, ticket_id: int, origin: str) -> set[int]:
        """The rules that ran on the ticket in this chain so far in the chunk (not written
        yet, so not in the RuleRun table)."""
        return {r.rule_id for r in self.runs if r.ticket_id == ticket_id and r.origin == origin}


Candidate = tuple[CompiledRule, str]  # a rule whose options take the event; why it failed


def candidates(*, organization_id: int, event: DomainEvent) -> list[Candidate]:
    """The tenant's rules whose trigger and options take the event, in order (no query but the
    rules cache's): what the engine then checks the conditions of on the ticket."""
    trigger = triggers.trigger_of(event.name)
    if trigger is None:
        return []
    return _taking(rules_for(organization_id=organization_id, trigger=trigger), trigger, event)


def _taking(rules: list[CompiledRule], trigger: str, event: DomainEvent) -> list[Candidate]:
    return [(rule, error) for rule in rules for error in _options(rule, trigger, event)]


def candidates_in(by_trigger: dict[str, list[CompiledRule]], event: DomainEvent):
    trigger = triggers.trigger_of(event.name)
    if trigger is None:
        return []
    return _taking(by_trigger.get(trigger, []), trigger, event)


def automations_handle_event(
    *, organization: Organization, event: DomainEvent, origin: str, depth: int, event_at: datetime
) -> list[RuleRun]:
    """Run the tenant's rules of the event's trigger on its ticket; the runs of those that
    matched. Nothing is read but the rules version when no rule's trigger options match."""
    found = candidates(organization_id=organization.pk, event=event)
    if not found:
        return []
    if depth >= schema.MAX_CHAIN_DEPTH:
        log_cut_chain(event, origin, depth)
        return []
    chain = Chain(event, event.name, origin, depth, event_at)
    # First without a lock: most events match no rule, and then nothing is locked or written
    # (locking a row is a write: its commit would wait for the disk).
    ticket = read_ticket(event.ticket_id)
    if ticket is None or ticket.merged_into_id:
        return []
    facts = facts_for(ticket=ticket, event=event, now=timezone.now())
    return decide_and_run(ticket, facts, found, chain)


def decide_and_run(
    ticket: Ticket,
    facts: Facts,
    found: list[Candidate],
    chain: Chain,
    chunk: Chunk | None = None,
    decided: bool | None = None,
) -> list[RuleRun]:
    """Decide the conditions on the ticket as read (unless the caller `decided` on these
    facts already); when a rule would run, lock the ticket, decide again and run them. In a
    `chunk` (a batch's transaction, with its gathering) the runs are added to it, and an
    action that raises ends the chunk's try (_ActionRaised)."""
    if not (any_matches(found, facts, ticket) if decided is None else decided):
        return []
    if chunk is not None:
        locked = _chunk_locked(chunk, ticket)
        if locked is None or locked.merged_into_id:
            return []
        attempt = dataclasses.replace(facts, ticket=locked)
        runs, headers = _run_matching(locked, found, chain, attempt, False, chunk)
        waiting = timeline.gathering()
        assert waiting is not None, "a chunk runs inside its gathering"
        waiting.rows += headers
        chunk.runs += runs
        return runs
    # Each action runs in a savepoint so that one that raises leaves nothing behind; that is
    # two more statements per action (and the services' own). Actions raise only on bugs, so
    # the rules run first without them; should an action raise, all of it is rolled back and
    # run again with the savepoints, which records that action as failed and keeps the rest.
    try:
        with transaction.atomic():
            locked = _relocked(ticket)
            if locked is None or locked.merged_into_id:
                return []
            # The locked row's fields; its tags and collaborators as just read (their writers
            # do not take the ticket's lock, so reading them again here would prove nothing).
            # A copy: the actions change the facts, and a second try starts from these.
            attempt = dataclasses.replace(facts, ticket=locked)
            return _run_rules(locked, found, chain, attempt, careful=False)
    except _ActionRaised:
        facts.lookups.forget()  # what the rolled-back try created or found
    with transaction.atomic():
        locked = _locked(ticket.pk)  # whole again: the first try changed the one in memory
        if locked is None or locked.merged_into_id:
            return []
        return _run_rules(locked, found, chain, dataclasses.replace(facts, ticket=locked))


class _ActionRaised(Exception):
    """An action raised where no savepoint was taken: the try is rolled back and redone."""


def automations_run_time_rule(
    *, organization: Organization, rule_id: int, ticket_id: int, clock: datetime
) -> RuleRun | None:
    """Run one time rule on one ticket for the period its clock started, when the ticket still
    qualifies (the same clock, past the hours); the same path as an event's rules, depth 0."""
    rule = Rule.objects.filter(pk=rule_id, enabled=True).first()
    if rule is None or not rule.is_time_based:
        return None
    now = timezone.now()
    threshold = threshold_of(rule, now)
    if threshold is None or clock > threshold:
        return None
    hours = timedelta(hours=rule.trigger_options["hours"])
    chain = Chain(None, TIME_EVENT, period_key(rule, clock), 0, clock + hours)
    with transaction.atomic():
        ticket = _locked(ticket_id)
        if ticket is None or clock_of(rule, ticket) != clock or not qualifies(rule, ticket):
            return None  # merged, gone, done, or a new period began (the scan finds that one)
        runs = _run_rules(ticket, [(compiled(rule), "")], chain)
    return runs[0] if runs else None


def _options(rule: CompiledRule, trigger: str, event: DomainEvent) -> list[str]:
    """[""] when the rule's trigger options take the event, [] when not, [why] when they could
    not be checked (the rule is then recorded as failed on the ticket)."""
    try:
        return (
            [""] if triggers.options_match(rule.rule.trigger_options or {}, trigger, event) else []
        )
    except Exception as exc:
        logger.exception("automations: the trigger options of rule %s raised", rule.rule.pk)
        return [f"The trigger options could not be checked: {exc}"]


def read_ticket(ticket_id: int) -> Ticket | None:
    return Ticket.objects.select_related(*TICKET_RELATED).filter(pk=ticket_id).first()


def _locked(ticket_id: int) -> Ticket | None:
    locked = Ticket.objects.select_for_update(of=("self",)).select_related(*TICKET_RELATED)
    return locked.filter(pk=ticket_id).first()


# Every column of the ticket row: the locked read compares them all, so that the row read
# before, when it is unchanged, is current (the actions change it in place, automations.actions'
# `held`, instead of each reading it again).
_ROW_COLUMNS = tuple(f.attname for f in Ticket._meta.concrete_fields)


def _same_row(row: Ticket, ticket: Ticket) -> bool:
    return all(getattr(row, column) == getattr(ticket, column) for column in _ROW_COLUMNS)


def _relocked(ticket: Ticket) -> Ticket | None:
    """The ticket locked: the one read before when nothing of its row changed meanwhile (a
    locking read of the row alone), else read again whole."""
    now = next(iter(Ticket.objects.select_for_update(of=("self",)).filter(pk=ticket.pk)), None)
    if now is None:
        return None
    if _same_row(now, ticket):
        return ticket
    return _locked(ticket.pk)


def _chunk_locked(chunk: Chunk, ticket: Ticket) -> Ticket | None:
    """The ticket locked in the chunk's transaction. One the chunk holds is current as given:
    read since the chunk locked it, or unchanged since (what changes it there re-reads it
    for the next event, automations.services.batch); one that changed before the lock is read
    again whole; another is locked now (_relocked) and held from then on."""
    if ticket.pk in chunk.stale:
        return _locked(ticket.pk)
    if ticket.pk in chunk.held:
        return ticket
    locked = _relocked(ticket)
    if locked is not None:
        chunk.held.add(ticket.pk)
        if locked is not ticket:  # read again: the copy the later events hold is not current
            chunk.stale.add(ticket.pk)
    return locked


def any_matches(found: list[Candidate], facts: Facts, ticket: Ticket) -> bool:
    """Whether a rule would run (or be recorded as failed); the engine decides again on the
    locked ticket."""
    for candidate, options_error in found:
        if options_error or candidate.error or _matches(candidate, facts)[0]:
            facts.notes.clear()  # said when the rules run on the locked ticket
            return True
    _log_notes(facts, ticket)
    return False


def _run_rules(
    ticket: Ticket,
    found: list[Candidate],
    chain: Chain,
    facts: Facts | None = None,
    *,
    careful: bool = True,
) -> list[RuleRun]:
    # The timeline rows the actions write wait, and go with the runs' own in one INSERT (in
    # the order they were made): one statement per ticket instead of one per change.
    # The tenant's list version is bumped once after commit (tickets.services.lists), too.
    with timeline.gathered() as waiting:
        runs, headers = _run_matching(ticket, found, chain, facts, careful)
        waiting.rows += headers
        timeline.write_gathered(waiting)
    bulk_create_checked(RuleRun, runs)
    return runs


def _run_matching(
    ticket: Ticket,
    found: list[Candidate],
    chain: Chain,
    facts: Facts | None,
    careful: bool,
    chunk: Chunk | None = None,
) -> tuple[list[RuleRun], list[TicketEvent]]:
    if facts is None:
        facts = facts_for(ticket=ticket, event=chain.event, now=timezone.now())
    # A person's event starts a new chain: nothing can have run in it (a redelivered task
    # would fail on RuleRun's unique constraint and change nothing).
    already: set[int] | None = set() if chain.fresh else None
    runs: list[RuleRun] = []
    headers: list[TicketEvent] = []
    for candidate, options_error in found:
        rule = candidate.rule
        error = options_error or candidate.error
        if not error:
            matched, error = _matches(candidate, facts)
            _log_notes(facts, ticket)
            if not matched:
                continue
        if already is None:  # the ticket's lock keeps this true until commit
            already = _already_ran(ticket, chain.origin)
            if chunk is not None:
                already |= chunk.ran(ticket.pk, chain.origin)
        if rule.pk in already:
            logger.info(
                "automations: rule %r already ran on ticket #%s in this chain (origin %s, "
                "event %s, depth %s): not run again",
                rule.name, ticket.number, chain.origin, chain.event_name, chain.depth,
            )  # fmt: skip
            continue
        already.add(rule.pk)
        run, results = _run_rule(ticket, rule, facts, chain, error, headers, careful)
        runs.append(run)
        # Later rules see what this one changed: the ticket's own fields are kept current by
        # the actions, its tags and collaborators here (their writers do not take the ticket's
        # lock, so reading them again would prove no more than following what was done).
        _follow_actions(facts, results)
        if rule.stop_processing:
            break
    return runs, headers


def _follow_actions(facts: Facts, results: list[ActionResult]) -> None:
    for result in results:
        if result.outcome != "done" or result.action not in _REFRESHING:
            continue
        if result.action == ActionType.ADD_COLLABORATORS:
            facts.has_collaborators = True
        added = {name.casefold() for name in result.tags_added}
        removed = {name.casefold() for name in result.tags_removed}
        facts.tag_names = (facts.tag_names | added) - removed


def _matches(candidate: CompiledRule, facts: Facts) -> tuple[bool, str]:
    try:
        return bool(candidate.matcher and candidate.matcher.matches(facts)), ""
    except Exception as exc:
        logger.exception("automations: the conditions of rule %s raised", candidate.rule.pk)
        return True, f"The conditions could not be checked: {exc}"


def _log_notes(facts: Facts, ticket: Ticket) -> None:
    """What evaluating the conditions noted (a pattern that ran out of time), once each."""
    for note in facts.notes:
        logger.warning("automations: ticket #%s: %s", ticket.number, note)
    facts.notes.clear()


def _already_ran(ticket: Ticket, origin: str) -> set[int]:
    return set(
        RuleRun.objects.filter(ticket=ticket, origin=origin).values_list("rule_id", flat=True)
    )


def _run_rule(
    ticket: Ticket,
    rule: Rule,
    facts: Facts,
    chain: Chain,
    error: str,
    headers: list,
    careful: bool = True,
) -> tuple[RuleRun, list[ActionResult]]:
    """The rule's actions in order under its Cause; its RuleRun and header row (added to
    `headers`), both written by the caller."""
    run_key = uuid.uuid4().hex
    cause = causes.Cause(
        causes.AUTOMATION, rule.name, run_key, chain.origin, chain.depth + 1, rule.pk
    )
    with causes.acting(cause):
        results = [] if error else _execute_all(rule.actions or [], ticket, facts, careful)
    outcome = _outcome(results, error)
    error = error or "; ".join(r.detail for r in results if r.outcome == "failed")
    shown = [{"action": r.action, "outcome": r.outcome, "detail": r.detail} for r in results]
    if outcome != RuleRun.Outcome.UNCHANGED:
        headers.append(_header(ticket, rule, chain, outcome, shown, error, cause))
    run = RuleRun(
        organization_id=ticket.organization_id,
        rule=rule,
        rule_name=rule.name,
        ticket=ticket,
        event=chain.event_name,
        origin=chain.origin,
        depth=chain.depth,
        outcome=outcome,
        results=shown,
        error=error[:2000],
        event_at=chain.event_at,
        created_at=timezone.now(),
    )
    return run, results


def _execute_all(actions: list, ticket: Ticket, facts: Facts, careful: bool) -> list[ActionResult]:
    # execute() keeps `ticket` as each action left it, for the next ("assign round-robin
    # within the ticket's team" after "set team").
    if not careful:
        return [_execute_bare(action, ticket, facts) for action in actions]
    return [_execute(action, ticket, facts) for action in actions]


def _execute_bare(action, ticket: Ticket, facts: Facts) -> ActionResult:
    """The action with no savepoint of its own: whatever it raises ends the try."""
    try:
        return execute(action, ticket=ticket, facts=facts, actor_user=None, held=True)
    except OperationalError:
        raise  # as in _execute: the whole event is tried again (the task)
    except Exception as exc:
        raise _ActionRaised() from exc


def _execute(action, ticket: Ticket, facts: Facts) -> ActionResult:
    kind = action.get("type", "?") if isinstance(action, dict) else "?"
    waiting = timeline.gathering()
    mark = waiting.mark() if waiting is not None else (0, 0)
    try:
        with transaction.atomic():  # a savepoint: a failing action leaves nothing behind
            return execute(action, ticket=ticket, facts=facts, actor_user=None)
    except OperationalError:
        # A deadlock (two workers assigning round-robin in two teams in opposite order) or a
        # lost connection is no fault of the rule: the whole event is tried again (the task).
        raise
    except Exception as exc:
        logger.exception("automations: action %s failed on ticket #%s", kind, ticket.number)
        facts.lookups.forget()  # a tag it created is rolled back with its savepoint
        if waiting is not None:
            waiting.drop_since(mark)  # its timeline rows and list bump, rolled back with it
        return ActionResult(kind, "failed", f"{type(exc).__name__}: {exc}"[:500])


def _outcome(results: list[ActionResult], error: str) -> str:
    kinds = {r.outcome for r in results}
    if error or kinds == {"failed"}:  # the conditions could not be checked, or nothing worked
        return RuleRun.Outcome.FAILED
    if "failed" in kinds:
        return RuleRun.Outcome.PARTIAL
    if "done" in kinds:
        return RuleRun.Outcome.APPLIED
    return RuleRun.Outcome.UNCHANGED


def _header(ticket, rule: Rule, chain: Chain, outcome: str, results, error, cause) -> TicketEvent:
    """The timeline entry of the run, grouped with the rows its actions wrote (data["via"])."""
    data = {
        "rule": rule.name,
        "rule_id": rule.pk,
        "event": chain.event_name,
        "outcome": outcome,
        "results": results,
        "error": error,
        "via": cause.stamp(),
    }
    return TicketEvent(
        organization_id=ticket.organization_id,
        ticket=ticket,
        kind=TicketEvent.Kind.AUTOMATION,
        data=data,
        created_at=timezone.now(),
    )


def log_cut_chain(event: DomainEvent, origin: str, depth: int) -> None:
    """Say once (per ticket and origin) that a chain reached MAX_CHAIN_DEPTH: the ticket, the
    origin and the rules that ran in it, in order."""
    key = f"automations:chain-cut:{event.organization_id}:{event.ticket_id}:{origin}"
    if not cache.add(key, 1, _CUT_LOGGED_SECONDS):
        return
    ran = RuleRun.objects.filter(ticket_id=event.ticket_id, origin=origin)
    names = list(ran.order_by("created_at", "id").values_list("rule_name", flat=True))
    number = Ticket.objects.filter(pk=event.ticket_id).values_list("number", flat=True).first()
    logger.warning(
        "automations: chain stopped at depth %s on ticket #%s (origin %s): %s ran no rules; "
        "the chain was %s",
        depth, number, origin, event.name, " -> ".join(names) or "(none)",
    )  # fmt: skip
