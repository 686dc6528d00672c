"""Domain events: emitted inside a service's transaction, delivered after it commits.

Subscribers (mail, SLA, automations) register in their AppConfig.ready() and should only
enqueue work; a failing subscriber is logged and never breaks the others.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

from django.db import transaction

from tickets import causes

logger = logging.getLogger(__name__)

TICKET_CREATED = "ticket.created"
COMMENT_ADDED = "comment.added"
STATUS_CHANGED = "ticket.status_changed"
PRIORITY_CHANGED = "ticket.priority_changed"
ASSIGNED = "ticket.assigned"
TEAM_CHANGED = "ticket.team_changed"
# Mail named an agent in From: without proof that the agent sent it (inbound_mail.staff_proof);
# it was kept as an internal note. Data: {"user_id": the agent, "comment_id": the note or None,
# "from": the address, "subject": the mail's subject}. The agent is told by mail.
STAFF_MAIL_UNVERIFIED = "staff_mail.unverified"
# A proven agent's reply by mail answered an older entry than the newest public one not theirs
# (tickets.services.send_guard): it was kept as an internal note marked held, and nothing went
# to the customer. Data: {"user_id": the agent, "comment_id": the held note, "newer_ids": the
# entries after the one it answered}. The agent is told by mail, with a link that sends it.
STAFF_REPLY_HELD = "staff_reply.held"
# An SLA timer reached its warning time, or its due time (sla.services.scan), once each.
# Data: {"target": "first_response" | "next_response" | "resolution", "due_at": ISO 8601}.
# outbound_mail.kinds names the same two events for its mail.
SLA_WARNING = "sla.warning"
SLA_BREACHED = "sla.breached"
# An agent forwarded one message or the ticket's public conversation (tickets.services.forwarding).
# Data: {"to": [addresses], "note": the agent's Markdown note, "comment_id": the message or None}.
TICKET_FORWARDED = "ticket.forwarded"
# An automation rule's actions (automations.actions), for outbound_mail to deliver: a mail from
# the rule's own template to the requester, and a notice to agents (mail and in-app, after each
# one's preferences). Data: {"rule": name, "kind": "automation" | "macro", "subject": template,
# "body": template, "after_automatic": the rule heard an auto-reply (RFC 3834: never answer)}
# and {"rule": name, "kind": ..., "user_ids": [ids], "message": template}.
AUTOMATION_MAIL = "automation.mail"
AUTOMATION_NOTIFY = "automation.notify"


@dataclass(frozen=True)
class DomainEvent:
    name: str
    organization_id: int
    ticket_id: int
    actor_user_id: int | None = None
    data: dict = field(default_factory=dict)
    # tickets.causes.Cause.as_dict() when an automation or a macro made it; set by emit.
    cause: dict | None = None


Handler = Callable[[DomainEvent], None]
_subscribers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(name: str, handler: Handler) -> None:
    if handler not in _subscribers[name]:
        _subscribers[name].append(handler)


def unsubscribe(name: str, handler: Handler) -> None:
    if handler in _subscribers[name]:
        _subscribers[name].remove(handler)


_muted: ContextVar[bool] = ContextVar("events_muted", default=False)


@contextmanager
def muted() -> Iterator[None]:
    """No subscriber hears what happens inside: for imports and demo data, never for users."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


def emit(event: DomainEvent) -> None:
    if _muted.get():
        return
    cause = causes.current()
    if cause is not None and event.cause is None:
        event = replace(event, cause=cause.as_dict())
    transaction.on_commit(lambda: _dispatch(event))


def _dispatch(event: DomainEvent) -> None:
    for handler in list(_subscribers[event.name]):
        try:
            handler(event)
        except Exception:
            logger.exception("subscriber %r failed on %s", handler, event.name)
