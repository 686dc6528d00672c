"""Timers on tickets, kept in step with each ticket change inside its transaction (the
tickets.hooks this module registers): started when a ticket opens under the first matching
policy, stopped by the first public agent reply (first and next response) or by resolving
(every timer; resolution restarts on reopen with its time spent), next response started by a
customer's message, all paused while the ticket's status pauses SLA.

Each hook takes a batch (the mail writer's whole round) and costs a fixed number of queries:
the timers of those tickets (locked), the policies with their calendars when needed, and the
writes.
"""

from collections import defaultdict
from datetime import datetime

from django.utils import timezone

from sla.models import Policy, Target, TicketSLA
from sla.policies import Policies
from sla.services import clock
from tenants.scoping import bulk_create_checked, bulk_update_checked
from tickets import hooks
from tickets.models import DONE_CATEGORIES, Comment, Ticket, TicketEvent
from tickets.services.timeline import _write

FIELDS = [
    "policy",
    "started_at",
    "due_at",
    "warn_at",
    "paused_seconds",
    "paused_since",
    "spent_seconds",
    "stopped_at",
    "breached_at",
    "warned_at",
]
RESPONSES = (Target.FIRST_RESPONSE, Target.NEXT_RESPONSE)


class Work:
    """One change's (or batch's) timers: loaded once, changed in memory, saved together."""

    def __init__(self, ticket_ids, *, now: datetime | None = None, policies=None):
        self.now = now or timezone.now()
        self._policies: Policies | None = policies
        self.rows: dict[int, dict[str, TicketSLA]] = defaultdict(dict)
        if ticket_ids:
            locked = TicketSLA.objects.select_for_update().filter(ticket_id__in=ticket_ids)
            for row in locked.order_by("id"):
                self.rows[row.ticket_id][row.target] = row
        self.new: list[TicketSLA] = []
        self.dirty: dict[int, TicketSLA] = {}
        self.removed: list[int] = []
        self.events: list[TicketEvent] = []

    @property
    def policies(self) -> Policies:
        if self._policies is None:
            self._policies = Policies.load()
        return self._policies

    def running(self, ticket_id: int) -> list[TicketSLA]:
        return [r for r in self.rows[ticket_id].values() if r.stopped_at is None]

    def policy_of(self, row: TicketSLA) -> Policy | None:
        return self.policies.by_id(row.policy_id) if row.policy_id else None

    def changed(self, row: TicketSLA, event: TicketEvent | None) -> None:
        if event is None:
            return
        self.events.append(event)
        if row.pk is not None:
            self.dirty[row.pk] = row

    def start(self, ticket: Ticket, policy: Policy, target: str, *, at: datetime) -> None:
        """A new run of `target` from `at` (a new row, or the stopped one used again)."""
        calendar = self.policies.calendar(policy)
        row = self.rows[ticket.pk].get(target)
        if row is None:
            row = TicketSLA(
                organization_id=ticket.organization_id,
                ticket_id=ticket.pk,
                policy=policy,
                target=target,
                started_at=at,
            )
            self.rows[ticket.pk][target] = row
            self.new.append(row)
        row.policy = policy
        self.changed(row, clock.restart(row, calendar, policy, at, fresh=True))
        if ticket.status.pauses_sla:
            self.changed(row, clock.pause(row, at))

    def stop(self, row: TicketSLA) -> None:
        policy = self.policy_of(row)
        calendar = self.policies.calendar(policy) if policy else None
        self.changed(row, clock.stop(row, calendar, self.now))

    def save(self) -> None:
        if self.removed:
            TicketSLA.objects.filter(pk__in=self.removed).delete()
        bulk_create_checked(TicketSLA, self.new)
        dirty = [r for r in self.dirty.values() if r.pk not in set(self.removed)]
        bulk_update_checked(TicketSLA, dirty, FIELDS)
        _write(self.events)  # or gathered with the change's own (tickets.services.timeline)


# -- the hooks ---------------------------------------------------------------------------------


def on_tickets_created(*, tickets: list[Ticket]) -> None:
    """Start first response and resolution under the first matching policy."""
    if not tickets:
        return
    policies = Policies.load()
    if not policies.ordered:
        return
    work = Work([], policies=policies)
    for ticket in tickets:
        policy = policies.match(ticket)
        if policy is None:
            continue
        for target in (Target.FIRST_RESPONSE, Target.RESOLUTION):
            if clock.budget(policy, target) is not None:
                work.start(ticket, policy, target, at=ticket.created_at)
    work.save()


def on_status_changed(*, changes: list[tuple[Ticket, object]]) -> None:
    """Pause or resume on the SLA-pause flag; stop everything on resolving; restart resolution
    on reopening."""
    relevant = [(t, old) for t, old in changes if _matters(t.status, old)]
    if not relevant:
        return
    work = Work([t.pk for t, _ in relevant])
    for ticket, old in relevant:
        _status(work, ticket, old)
    work.save()


def _matters(new, old) -> bool:
    return new.pauses_sla != old.pauses_sla or _done(new) != _done(old)


def _done(status) -> bool:
    return status.category in DONE_CATEGORIES


def _status(work: Work, ticket: Ticket, old) -> None:
    new = ticket.status
    if not new.pauses_sla or _done(new):
        for row in work.running(ticket.pk):
            _resume(work, row)
    if _done(new) and not _done(old):
        for row in work.running(ticket.pk):
            work.stop(row)
        return
    if _done(old) and not _done(new):
        _reopen(work, ticket)
    if new.pauses_sla:
        for row in work.running(ticket.pk):
            work.changed(row, clock.pause(row, work.now))


def _resume(work: Work, row: TicketSLA) -> None:
    policy = work.policy_of(row)
    if policy is not None:
        work.changed(row, clock.resume(row, work.policies.calendar(policy), policy, work.now))


def _reopen(work: Work, ticket: Ticket) -> None:
    row = work.rows[ticket.pk].get(Target.RESOLUTION)
    policy = work.policy_of(row) if row is not None else None
    if row is None or policy is None or row.stopped_at is None:
        return
    calendar = work.policies.calendar(policy)
    work.changed(row, clock.restart(row, calendar, policy, work.now, fresh=False))


def on_comments_added(*, comments: list[tuple[Comment, bool]]) -> None:
    """A public agent reply stops the response timers; a customer's message starts next
    response while none is running (a later target never overrides a running one)."""
    replies = [c for c, _ in comments if c.is_public and c.author_user_id]
    messages = [
        c
        for c, automatic in comments
        if c.is_public and c.author_contact_id and not c.author_user_id and not automatic
    ]
    if not replies and not messages:
        return
    work = Work({c.ticket_id for c in replies + messages})
    for comment in replies:
        for row in work.running(comment.ticket_id):
            if row.target in RESPONSES:
                work.stop(row)
    for comment in messages:
        _customer_message(work, comment.ticket)
    work.save()


def _customer_message(work: Work, ticket: Ticket) -> None:
    if ticket.status_category in DONE_CATEGORIES:
        return
    running = {r.target for r in work.running(ticket.pk)}
    if running & set(RESPONSES):
        return  # the earlier response target still runs: it is not moved later
    policy = work.policies.match(ticket)
    if policy is not None and clock.budget(policy, Target.NEXT_RESPONSE) is not None:
        work.start(ticket, policy, Target.NEXT_RESPONSE, at=work.now)


def connect() -> None:
    hooks.register(hooks.TICKETS_CREATED, on_tickets_created)
    hooks.register(hooks.STATUS_CHANGED, on_status_changed)
    hooks.register(hooks.COMMENTS_ADDED, on_comments_added)
