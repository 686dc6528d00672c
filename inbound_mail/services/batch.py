"""Processing many received messages of one tenant together: a fixed number of statements per
batch instead of some twenty per message.

A batch claims its messages, parses them, takes the thread locks of all of them (one statement,
in key order, as locks.py describes) and then works in rounds inside one transaction:

1. Read, for every message of the round at once, what deciding needs: earlier copies of its
   Message-ID, spam rules, staff, and what the four threading rules look at (PrefetchedReads).
   The rules and the decisions are the same code as for a single message (decisions.decide,
   threading.find_ticket); only where they read from differs.
2. Decide each message in order. A message that shares a thread key or a ticket with an
   earlier message of the round waits for the next round, which reads again and so sees what
   the earlier one wrote: two messages of one thread are never decided on the same snapshot.
3. Write the round's new tickets and customer replies together (tickets.services.Bulk), record
   the outcomes, then apply the rare messages that take the one-by-one path (bounces, staff
   writing by mail), each in a savepoint.

A message whose parsing or deciding raises is marked failed and retried like any other; the
batch goes on. Should the writing itself fail, the whole batch rolls back and its messages are
processed one by one, each in its own transaction, as before batching.

A batch is either the ids intake queued together (`inbound_process_batch`), or what a door that
stores one message at a time left waiting in a short window (`inbound_process_gathered`, see
inbound_mail.gather): the same path for both.
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from inbound_mail import classify, locks, raw_mail, routing, selectors, subjects
from inbound_mail.models import ConversationIndex, InboundMessage, SpamRule, ThreadReference
from inbound_mail.parsing import ParsedMessage, parse_message
from inbound_mail.services import apply, decisions, processing
from inbound_mail.services.intake import STUCK_AFTER
from inbound_mail.threading import (
    Lookup,
    conversation_key,
    conversation_rows,
    known_id_lookup,
    recent_open_for,
    thread_ids,
    token_candidates,
)
from tenants.models import Organization
from tenants.scoping import bulk_create_checked, bulk_update_checked
from tickets import mail_tokens
from tickets.models import Collaborator, Comment, Ticket
from tickets.services.bulk import Bulk

logger = logging.getLogger(__name__)

Status = InboundMessage.Status


@dataclass(eq=False)
class Item:
    row: InboundMessage
    parsed: ParsedMessage
    keys: frozenset[str]


def inbound_process_batch(*, inbound_ids: list[int]) -> dict[str, int]:
    """Process several received messages of the active tenant together (see the module docstring);
    how many ended in each status."""
    return process_batch(inbound_ids)


def process_batch(inbound_ids: list[int]) -> dict[str, int]:
    """Process these messages of the active tenant; how many ended in each status."""
    counts, _ = _process(lambda: processing.claim(inbound_ids), retry=inbound_ids)
    return dict(counts)


def inbound_process_gathered(*, queued_since: datetime) -> dict[str, int]:
    """Process the active tenant's messages queued since then and still waiting, oldest first,
    INBOUND_BATCH_SIZE at a time, each chunk as one batch (the lone arrivals inbound_mail.gather
    collects); how many ended in each status. Rows another worker holds are skipped: they are
    in work."""
    size = settings.INBOUND_BATCH_SIZE
    counts: Counter = Counter()
    seen: list[int] = []  # every claimed row leaves `received`; this only guarantees an end
    while True:
        claim = partial(_claim_waiting, queued_since, size, seen)
        chunk, claimed = _process(claim, retry=None)
        counts.update(chunk)
        seen.extend(claimed)
        if len(claimed) < size:
            return dict(counts)


def _claim_waiting(queued_since: datetime, limit: int, seen: list[int]) -> list[InboundMessage]:
    # due_at is when the sweeper takes over a row still `received`: STUCK_AFTER after intake
    # (or a reprocess) queued it.
    waiting = InboundMessage.objects.filter(due_at__gte=queued_since + STUCK_AFTER)
    return processing.claim_from(waiting.exclude(pk__in=seen), limit)


def _process(
    claim: Callable[[], list[InboundMessage]], *, retry: list[int] | None
) -> tuple[Counter, list[int]]:
    """Claim and process one batch; the counts per status and the ids claimed. Should the
    batch fail as a whole, `retry` (or else what was claimed) is processed one by one."""
    organization = processing.active_organization()
    counts: Counter = Counter()
    claimed: list[int] = []
    try:
        with transaction.atomic():
            rows = claim()
            claimed = [row.pk for row in rows]
            items = _parsed(rows, counts)
            locks.lock_thread_keys(organization.pk, {k for item in items for k in item.keys})
            while items:
                items = _round(organization, items, counts)
    except Exception:
        inbound_ids = claimed if retry is None else retry
        logger.exception(
            "batch of %d messages failed; processing them one by one", len(inbound_ids)
        )
        counts = Counter()
        for inbound_id in inbound_ids:
            status = processing.inbound_process(inbound_id=inbound_id)
            if status is not None:
                counts[status] += 1
    return counts, claimed


def _parsed(rows: list[InboundMessage], counts: Counter) -> list[Item]:
    items = []
    for row in rows:
        try:
            parsed = parse_message(raw_mail.read(row.sha256))
            items.append(Item(row, parsed, frozenset(processing.thread_keys(parsed))))
        except Exception as exc:
            _failed(row, exc, counts)
    return items


def _failed(row: InboundMessage, exc: Exception, counts: Counter) -> None:
    logger.exception("inbound message %s failed", row.pk)
    counts[processing.count_failed_try(row, f"{type(exc).__name__}: {exc}"[:1000])] += 1


# -- one round ------------------------------------------------------------------------------


def _round(organization: Organization, items: list[Item], counts: Counter) -> list[Item]:
    """Decide and apply what does not depend on another message of the round; return the
    messages that wait for the next round."""
    reads = PrefetchedReads(items, organization.pk)
    decided = []
    for item in items:
        try:
            decided.append((item, decisions.decide(item.row, item.parsed, reads)))
        except Exception as exc:
            _failed(item.row, exc, counts)
    tickets = _lock_tickets(decided)
    bulk = Bulk(organization)
    ours = routing.platform_addresses(
        {a.address for item, _ in decided for a in item.parsed.cc if "@" in a.address}
    )
    settled, applied, one_by_one, waiting = [], [], [], []
    taken: set[str] = set()
    for item, decision in decided:
        keys = item.keys | _ticket_keys(item, decision)
        if keys & taken:
            waiting.append(item)
        elif decision.outcome is not None:
            settled.append((item, decision.outcome))
        elif _needs_single_path(decision, tickets):
            one_by_one.append(item)
        else:
            assert decision.context is not None  # neither settled nor a bounce
            _plan(bulk, item, decision.context, tickets, ours)
            applied.append((item, decision.context))
        taken |= keys
    bulk.flush()
    settled += [(item, _outcome(bulk, item, ctx)) for item, ctx in applied]
    _remember_ids([(item.parsed, outcome.ticket) for item, outcome in settled])
    _finish_all(settled, counts)
    for item in one_by_one:
        _one_by_one(item, counts)
    return waiting


def _needs_single_path(decision: decisions.Decision, tickets: dict[int, Ticket]) -> bool:
    """Bounces and staff mail are rare and do more (mark outgoing mail, close, forward); a
    ticket gone between reading and locking is read again there."""
    ctx = decision.context
    if decision.bounce or ctx is None or ctx.staff is not None:
        return True
    return ctx.match.ticket is not None and ctx.match.ticket.pk not in tickets


def _ticket_keys(item: Item, decision: decisions.Decision) -> set[str]:
    """The tickets a message writes to: two messages on one ticket go in separate rounds."""
    if decision.context is not None and decision.context.match.ticket is not None:
        return {f"ticket:{decision.context.match.ticket.pk}"}
    bounce = item.parsed.bounce
    if decision.bounce and bounce is not None and bounce.original_message_id:
        token = mail_tokens.ticket_from_message_id(bounce.original_message_id)
        return {f"ticket:{token[1]}"} if token else set()
    return set()


def _lock_tickets(decided) -> dict[int, Ticket]:
    """The tickets replies go to, locked as comment_create locks them, with their status now."""
    pks = {
        d.context.match.ticket.pk
        for _, d in decided
        if d.context is not None and d.context.match.ticket is not None
    }
    if not pks:
        return {}
    rows = Ticket.objects.select_for_update(of=("self",)).select_related("status")
    return {t.pk: t for t in rows.filter(pk__in=pks).order_by("pk")}


def _plan(bulk, item: Item, ctx: decisions.Context, tickets: dict, ours: set[str]) -> None:
    body = apply.message_body(item.parsed)
    if ctx.match.ticket is None:
        address, name, subject, _ = apply.opening(ctx)
        bulk.open_ticket(
            item.row.pk,
            subject=subject,
            requester=(address, name),
            source=Ticket.Source.EMAIL,
            collaborators=apply.cc_addresses(ctx, address.strip().lower(), ours),
            **body,
        )
        return
    bulk.add_reply(
        item.row.pk,
        ticket=tickets[ctx.match.ticket.pk],
        author=apply.reply_author(ctx),
        collaborators=[] if ctx.auto_reason else apply.cc_addresses(ctx, "", ours),
        auto_generated=bool(ctx.auto_reason),
        **body,
    )


def _outcome(bulk, item: Item, ctx: decisions.Context) -> decisions.Outcome:
    ticket, comment = bulk.written(item.row.pk)
    if ctx.match.ticket is None:
        reason = apply.opening_reason(ticket.requester.email, False)
    else:
        reason = apply.reply_reason(ctx, ticket)
    if ctx.match.forged:
        reason += apply.FORGED_NOTE
    return decisions.Outcome(Status.PROCESSED, reason, ticket=ticket, comment=comment)


def _remember_ids(pairs) -> None:
    """Each message's id and the ids it refers to now lead to its ticket (threading rule 2),
    and its Outlook conversation too (rule 4)."""
    pairs = list(pairs)
    rows: dict[tuple[int, str], ThreadReference] = {}
    for parsed, ticket in pairs:
        if ticket is None:
            continue
        for message_id in [parsed.message_id, *thread_ids(parsed)]:
            if message_id:
                rows.setdefault(
                    (ticket.pk, message_id[:255]),
                    ThreadReference(
                        organization_id=ticket.organization_id,
                        message_id=message_id[:255],
                        ticket=ticket,
                    ),
                )
    bulk_create_checked(ThreadReference, list(rows.values()), ignore_conflicts=True)
    conversations = {c.key: c for pair in pairs for c in conversation_rows(*pair)}
    if conversations:  # Outlook mail only: no statement for a batch without any
        bulk_create_checked(ConversationIndex, list(conversations.values()), ignore_conflicts=True)


def _finish_all(settled, counts: Counter) -> None:
    now = timezone.now()
    rows = []
    for item, outcome in settled:
        row = item.row
        row.status, row.reason = outcome.status, outcome.reason[:2000]
        row.ticket, row.comment = outcome.ticket, outcome.comment
        row.processed_at, row.due_at = now, None
        rows.append(row)
        counts[row.status] += 1
    if rows:
        bulk_update_checked(InboundMessage, rows, processing.FINISH_FIELDS)


def _one_by_one(item: Item, counts: Counter) -> None:
    """Bounces and staff mail take the single-message path, reading afresh."""
    try:
        with transaction.atomic():
            outcome = apply.apply_decided(item.row, item.parsed)
            processing.finish(item.row, outcome)
    except Exception as exc:
        _failed(item.row, exc, counts)
        return
    counts[outcome.status] += 1


# -- what the round reads -------------------------------------------------------------------


class PrefetchedReads(decisions.Reads):
    """decisions.Reads for many messages at once: each question answered from a few queries
    made up front for the whole round."""

    def __init__(self, items: list[Item], organization_id: int):
        senders = {classify.sender_address(item.parsed) for item in items} - {""}
        message_ids = {item.row.message_id for item in items if item.row.message_id}
        self._earlier: dict[str, InboundMessage] = {}
        if message_ids:
            earlier = InboundMessage.objects.filter(
                message_id__in=message_ids, status__in=decisions.HANDLED
            )
            for row in earlier.select_related("ticket").order_by("pk"):
                self._earlier.setdefault(row.message_id, row)
        values = {v for address in senders for v in selectors.spam_candidates(address)}
        self._spam = {r.value: r for r in SpamRule.objects.filter(value__in=values)}
        self._staff = selectors.staff_memberships(sorted(senders))
        self.lookup = PrefetchedLookup(items, organization_id, senders)

    def duplicate_of(self, row: InboundMessage) -> InboundMessage | None:
        return self._earlier.get(row.message_id) if row.message_id else None

    def spam_rule_for(self, address: str) -> SpamRule | None:
        rules = [self._spam[v] for v in selectors.spam_candidates(address) if v in self._spam]
        return min(rules, key=lambda rule: rule.value) if rules else None

    def staff(self, address: str):
        return self._staff.get(address.strip().lower())


class PrefetchedLookup(Lookup):
    """threading.Lookup answered from queries made for all of the round's messages; a question
    about anything not fetched up front goes to the database as usual."""

    def __init__(self, items: list[Item], organization_id: int, senders: set[str]):
        asks = [(item, thread_ids(item.parsed)) for item in items]
        ticket_pks = {
            token[1]
            for item, ids in asks
            for *_, token, _ in token_candidates(
                ids, decisions.recipients_of(item.row, item.parsed)
            )
            if token is not None and token[0] == organization_id
        }
        wanted = {i for item, ids in asks for i in known_id_lookup(ids, item.parsed.message_id)}
        self._references = dict(
            ThreadReference.objects.filter(message_id__in=wanted).values_list(
                "message_id", "ticket_id"
            )
        )
        # The older sources, only for messages none of whose ids is a known reference.
        unknown = {
            i
            for item, ids in asks
            if not any(k in self._references for k in known_id_lookup(ids, item.parsed.message_id))
            for i in ids
        }
        self._comment_ids = dict(
            Comment.objects.filter(message_id__in=unknown).values_list("message_id", "ticket_id")
            if unknown
            else ()
        )
        self._sent = _sent_message_tickets(unknown)
        self._fetched_ids = unknown
        ticket_pks |= {*self._references.values(), *self._comment_ids.values()}
        ticket_pks |= {ticket_id for _, ticket_id in self._sent.values()}
        numbers = {n for item in items for n in subjects.find_ticket_tags(item.parsed.subject)}
        self._by_pk: dict[int, Ticket] = {}
        self._by_number: dict[int, Ticket] = {}
        if ticket_pks or numbers:
            found = Ticket.objects.filter(Q(pk__in=ticket_pks) | Q(number__in=numbers))
            for ticket in found.select_related("requester"):
                self._by_pk[ticket.pk] = ticket
                self._by_number[ticket.number] = ticket
        self._fetched_pks, self._numbers, self._senders = ticket_pks, numbers, senders
        tagged = [self._by_number[n].pk for n in numbers if n in self._by_number]
        self._collaborators = set(
            Collaborator.objects.filter(ticket_id__in=tagged, contact__email__in=senders)
            .values_list("ticket_id", "contact__email")
            .order_by()
            if tagged and senders
            else ()
        )
        self._recent = recent_open_for(senders) if senders else {}
        keys = {k for item in items if (k := conversation_key(item.parsed))}
        self._conversations = super().conversation_tickets(sorted(keys)) if keys else {}
        self._conversation_keys = keys

    def ticket(self, pk: int) -> Ticket | None:
        if pk in self._fetched_pks:
            return self._by_pk.get(pk)
        return super().ticket(pk)

    def thread_references(self, ids: list[str]) -> dict[str, int]:
        return {i: self._references[i] for i in ids if i in self._references}

    def comment_message_ids(self, ids: list[str]) -> dict[str, int]:
        if not set(ids) <= self._fetched_ids:
            return super().comment_message_ids(ids)
        return {i: self._comment_ids[i] for i in ids if i in self._comment_ids}

    def sent_ticket_id(self, ids: list[str]) -> int | None:
        if not set(ids) <= self._fetched_ids:
            return super().sent_ticket_id(ids)
        return _latest_ticket_id(self._sent, ids)

    def ticket_by_number(self, number: int) -> Ticket | None:
        if number in self._numbers:
            return self._by_number.get(number)
        return super().ticket_by_number(number)

    def is_collaborator(self, ticket: Ticket, address: str) -> bool:
        if ticket.number not in self._numbers or address not in self._senders:
            return super().is_collaborator(ticket, address)
        return (ticket.pk, address) in self._collaborators

    def conversation_tickets(self, keys: list[str]) -> dict[str, int]:
        if not set(keys) <= self._conversation_keys:
            return super().conversation_tickets(keys)
        return {k: self._conversations[k] for k in keys if k in self._conversations}

    def recent_open(self, address: str) -> list[Ticket]:
        if address not in self._senders:
            return super().recent_open(address)
        return self._recent.get(address, [])


def _sent_message_tickets(ids: set[str]) -> dict:
    from outbound_mail.selectors import sent_message_tickets

    return sent_message_tickets(sorted(ids)) if ids else {}


def _latest_ticket_id(sent: dict, ids: list[str]) -> int | None:
    from outbound_mail.selectors import latest_ticket_id

    return latest_ticket_id(sent, ids) if sent else None
