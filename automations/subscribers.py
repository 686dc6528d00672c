"""The domain events automations' rules run on: each handler queues the event with plain
values (automations.batching: gathered per tenant for `automations.tasks.handle_events`),
carrying the event's chain: the origin it belongs to (a new one for a person's change) and how
many automation steps deep it is.

Nothing is evaluated in the request but the rules' trigger options (the per-process rules
cache: one cache read), so an event no rule of its tenant could take costs no task; the
conditions and actions run in the worker."""

import uuid

from django.utils import timezone

from automations import batching, triggers
from automations.services.run import candidates
from automations.tasks import handle_events  # noqa: F401  # registers batching.HANDLE_EVENTS
from tickets import events


def names() -> list[str]:
    """Every domain event a rule's trigger names (automations.triggers.EVENT_TRIGGERS)."""
    return list(triggers.EVENT_TRIGGERS)


def enqueue(event: events.DomainEvent) -> None:
    if not candidates(organization_id=event.organization_id, event=event):
        return
    cause = event.cause or {}
    payload = {
        "name": event.name,
        "ticket_id": event.ticket_id,
        "actor_user_id": event.actor_user_id,
        "data": dict(event.data),
        "cause": event.cause,
        "origin": cause.get("origin") or uuid.uuid4().hex,
        "depth": cause.get("depth") or 0,
        "event_at": timezone.now().isoformat(),
    }
    batching.arrived(event.organization_id, payload)


def connect() -> None:
    for name in names():
        events.subscribe(name, enqueue)


def disconnect() -> None:
    for name in names():
        events.unsubscribe(name, enqueue)
