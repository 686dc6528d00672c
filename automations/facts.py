"""What a rule's conditions read about one ticket at one moment (Facts), gathered in a fixed
number of queries for one event (`facts_for`), for a batch of events (`facts_for_events`) or
for many tickets at once (`facts_for_many`: the time scan and the preview), and who made an
event (`actor_of`).

Texts are folded once per Facts (`fold`) and split into their words, so that the word
conditions of a hundred rules are set lookups on them (automations.conditions). The default
calendar and the priorities' ranks are looked up only when a condition asks, once for all the
facts of one call.
"""

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import regex
from django.db.models import OuterRef, Subquery

from automations import schema
from sla.calendar import BusinessCalendar, CalendarError
from sla.models import Calendar
from sla.policies import calendar_of
from tenants.models import Team
from tickets import causes, events
from tickets.models import Collaborator, Comment, Priority, Status, Tag, Ticket, TicketTag

M = TypeVar("M", Status, Priority, Team)

# What all the patterns of all rules may spend on one event (or one batch of facts) together:
# each search stops after schema.PATTERN_TIMEOUT_SECONDS, and this bounds their sum, so a
# hundred rules with patterns built to backtrack cost a quarter second, not five.
PATTERN_BUDGET_SECONDS = 0.25

# What the engine loads with a ticket (select_related) so that no condition queries for it.
TICKET_RELATED = ("status", "priority", "team", "assignee", "requester", "customer")

# A word: letters, digits, marks and connectors (Unicode's definition, which the `regex`
# module's \w follows; the stdlib's splits "हिन्दी" and a decomposed "école" apart).
WORD = regex.compile(r"\w+")


def fold(text: str) -> str:
    """Text as the word conditions compare it: its first MAX_TEXT_SCANNED characters with
    compatibility forms and case folded ("STRASSE" is "straße", full-width letters are the
    plain ones)."""
    return unicodedata.normalize("NFKC", text[: schema.MAX_TEXT_SCANNED]).casefold()


def words_of(folded: str) -> frozenset[str]:
    return frozenset(WORD.findall(folded))


class TenantLookups:
    """What the facts of one call share: the default calendar (None when the tenant has none)
    and the rank of each priority, each looked up on first use, and the time left for
    patterns; and for the actions, the teams, statuses, priorities and tags they name, each
    looked up once per call (a batch of events: a rule sets the same team on many tickets).
    What the actions looked up is forgotten when a try of their changes is rolled back
    (`forget`): a tag it created is gone, and a row deleted meanwhile is then seen missing."""

    def __init__(self, organization_id: int):
        self.organization_id = organization_id
        self.pattern_seconds_left = PATTERN_BUDGET_SECONDS
        self._calendar: BusinessCalendar | None = None
        self._calendar_loaded = False
        self._ranks: dict[int, int] | None = None
        self._rows: dict[tuple[type, int], Any] = {}
        self.tags: dict[str, Tag] = {}  # by casefolded name (tickets.services.tags' `known`)

    def forget(self) -> None:
        """Forget the rows and tags the actions looked up (their transaction rolled back)."""
        self._rows.clear()
        self.tags.clear()

    def row(self, model: type[M], pk: int) -> M | None:
        """The tenant's row of `model` with this id (None when there is none), read once."""
        key = (model, pk)
        if key not in self._rows:
            self._rows[key] = model.objects.filter(pk=pk).first()
        return self._rows[key]

    def calendar(self) -> BusinessCalendar | None:
        if not self._calendar_loaded:
            row = (
                Calendar.objects.filter(organization_id=self.organization_id, is_default=True)
                .prefetch_related("holidays")
                .first()
            )
            self._calendar = calendar_of(row) if row is not None else None
            self._calendar_loaded = True
        return self._calendar

    def rank(self, priority_id: int) -> int | None:
        if self._ranks is None:
            rows = Priority.objects.filter(organization_id=self.organization_id)
            self._ranks = dict(rows.values_list("id", "rank"))
        return self._ranks.get(priority_id)


@dataclass
class Facts:
    ticket: Ticket  # with TICKET_RELATED loaded
    now: datetime  # when the event happened (business hours are of then)
    lookups: TenantLookups
    tag_names: frozenset[str] = frozenset()  # casefolded
    has_collaborators: bool = False
    comment_text: str = ""  # the new comment's (comment events; the first one on creation)
    actor: str = schema.Actor.SYSTEM
    event_name: str = ""
    event_data: dict = field(default_factory=dict)
    # None until a condition asks (then looked up in the default calendar); set it to decide.
    in_business_hours: bool | None = None
    notes: list[str] = field(default_factory=list)  # e.g. a pattern that timed out

    def within_business_hours(self) -> bool:
        """Whether `now` lies in the default calendar's working time; always, without one."""
        if self.in_business_hours is None:
            self.in_business_hours = self._business_hours()
        return self.in_business_hours

    def _business_hours(self) -> bool:
        try:
            calendar = self.lookups.calendar()
            return calendar is None or calendar.is_working(self.now)
        except CalendarError as exc:
            self.notes.append(f"The default calendar cannot say: {exc}")
            return True

    def priority_rank(self, priority_id: int) -> int | None:
        return self.lookups.rank(priority_id)

    @cached_property
    def subject_folded(self) -> str:
        return fold(self.ticket.subject)

    @cached_property
    def subject_words(self) -> frozenset[str]:
        return words_of(self.subject_folded)

    @cached_property
    def comment_folded(self) -> str:
        return fold(self.comment_text)

    @cached_property
    def comment_words(self) -> frozenset[str]:
        return words_of(self.comment_folded)

    @cached_property
    def requester_email(self) -> str:
        return self.ticket.requester.email.lower()

    @cached_property
    def requester_domain(self) -> str:
        return self.requester_email.rsplit("@", 1)[-1]


def actor_of(event: events.DomainEvent | None) -> str:
    """Who made the event (schema.Actor): an automation when one caused it, the system for the
    SLA clock and timers, else the agent who acted or the customer who wrote."""
    if event is None:
        return schema.Actor.SYSTEM
    if event.cause and event.cause.get("kind") == causes.AUTOMATION:
        return schema.Actor.AUTOMATION
    if event.name in (events.SLA_WARNING, events.SLA_BREACHED):
        return schema.Actor.SYSTEM
    if event.actor_user_id is not None:
        return schema.Actor.AGENT
    if event.data.get("by_contact"):
        return schema.Actor.CUSTOMER
    return schema.Actor.SYSTEM


def facts_for(
    *,
    ticket: Ticket,
    event: events.DomainEvent | None,
    now: datetime,
    lookups: TenantLookups | None = None,
) -> Facts:
    """The facts of one ticket (locked and loaded with TICKET_RELATED by the engine) for one
    event: three queries (its tags, whether it has collaborators, the new comment's text)."""
    return Facts(
        ticket=ticket,
        lookups=lookups or TenantLookups(ticket.organization_id),
        tag_names=frozenset(
            name.casefold()
            for name in TicketTag.objects.filter(ticket_id=ticket.pk).values_list(
                "tag__name", flat=True
            )
        ),
        has_collaborators=Collaborator.objects.filter(ticket_id=ticket.pk).exists(),
        comment_text=_comment_text(ticket, event),
        actor=actor_of(event),
        event_name=event.name if event else "",
        event_data=dict(event.data) if event else {},
        now=now,
    )


def facts_for_events(
    tickets: dict[int, Ticket],
    event_list: list[events.DomainEvent],
    *,
    now: datetime,
    lookups: TenantLookups,
) -> list[Facts | None]:
    """The facts of each event's ticket (None when `tickets` lacks it), in the events' order,
    as `facts_for` gives them one by one: four queries for the whole batch (the tags, who has
    collaborators, the comments of comment events, the first comments of new tickets)."""
    ids = [t for t in dict.fromkeys(e.ticket_id for e in event_list) if t in tickets]
    if not ids:
        return [None] * len(event_list)
    tags: dict[int, set[str]] = {}
    for ticket_id, name in TicketTag.objects.filter(ticket_id__in=ids).values_list(
        "ticket_id", "tag__name"
    ):
        tags.setdefault(ticket_id, set()).add(name.casefold())
    with_collaborators = set(
        Collaborator.objects.filter(ticket_id__in=ids).values_list("ticket_id", flat=True)
    )
    texts = _comment_texts(event_list, ids)
    return [
        None
        if event.ticket_id not in tickets
        else Facts(
            ticket=tickets[event.ticket_id],
            lookups=lookups,
            tag_names=frozenset(tags.get(event.ticket_id, ())),
            has_collaborators=event.ticket_id in with_collaborators,
            comment_text=texts(event),
            actor=actor_of(event),
            event_name=event.name,
            event_data=dict(event.data),
            now=now,
        )
        for event in event_list
    ]


def _comment_texts(event_list: list[events.DomainEvent], ids: list[int]):
    """`_comment_text` for a batch: a function of the event, after at most two queries."""
    wanted = {
        e.data["comment_id"]
        for e in event_list
        if e.name == events.COMMENT_ADDED and e.data.get("comment_id") and e.ticket_id in ids
    }
    rows = Comment.objects.filter(pk__in=wanted) if wanted else Comment.objects.none()
    by_comment = {
        (ticket_id, pk): text
        for pk, ticket_id, text in rows.values_list("pk", "ticket_id", "body_text")
    }
    created = {e.ticket_id for e in event_list if e.name == events.TICKET_CREATED} & set(ids)
    first = Comment.objects.filter(ticket_id=OuterRef("pk")).order_by("created_at", "id")
    by_ticket = dict(
        Ticket.objects.filter(pk__in=created)
        .annotate(first_text=Subquery(first.values("body_text")[:1]))
        .values_list("pk", "first_text")
        if created
        else ()
    )

    def text(event: events.DomainEvent) -> str:
        if event.name == events.COMMENT_ADDED and event.data.get("comment_id"):
            return by_comment.get((event.ticket_id, event.data["comment_id"])) or ""
        if event.name == events.TICKET_CREATED:
            return by_ticket.get(event.ticket_id) or ""
        return ""

    return text


def refreshed(facts: Facts, *, ticket: Ticket) -> Facts:
    """The same event's facts after a rule changed the ticket (its tags and collaborators
    asked again; the event, the comment, the lookups kept): two queries."""
    return facts_for_many([ticket], now=facts.now, lookups=facts.lookups, like=facts)[0]


def facts_for_many(
    tickets: list[Ticket],
    *,
    now: datetime,
    lookups: TenantLookups | None = None,
    like: Facts | None = None,
) -> list[Facts]:
    """The facts of many tickets of one tenant with no event (a time rule, the preview): two
    queries for all of them, whatever their number. `like` carries an event's facts over."""
    if not tickets:
        return []
    ids = [t.pk for t in tickets]
    tags: dict[int, set[str]] = {}
    for ticket_id, name in TicketTag.objects.filter(ticket_id__in=ids).values_list(
        "ticket_id", "tag__name"
    ):
        tags.setdefault(ticket_id, set()).add(name.casefold())
    with_collaborators = set(
        Collaborator.objects.filter(ticket_id__in=ids).values_list("ticket_id", flat=True)
    )
    shared = lookups or TenantLookups(tickets[0].organization_id)
    return [
        Facts(
            ticket=ticket,
            lookups=shared,
            tag_names=frozenset(tags.get(ticket.pk, ())),
            has_collaborators=ticket.pk in with_collaborators,
            comment_text=like.comment_text if like else "",
            actor=like.actor if like else schema.Actor.SYSTEM,
            event_name=like.event_name if like else "",
            event_data=like.event_data if like else {},
            now=now,
            in_business_hours=like.in_business_hours if like else None,
            notes=like.notes if like else [],
        )
        for ticket in tickets
    ]


def _comment_text(ticket: Ticket, event: events.DomainEvent | None) -> str:
    """The new comment's text: the comment of a comment event, the first message of a new
    ticket (its words are what routing rules read), else nothing."""
    if event is None:
        return ""
    comments = Comment.objects.filter(ticket_id=ticket.pk)
    if event.name == events.COMMENT_ADDED and event.data.get("comment_id"):
        comments = comments.filter(pk=event.data["comment_id"])
    elif event.name == events.TICKET_CREATED:
        comments = comments.order_by("created_at", "id")
    else:
        return ""
    return comments.values_list("body_text", flat=True).first() or ""
