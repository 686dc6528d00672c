"""Synchronous hooks: what a higher app (sla) must do inside the transaction of a ticket change,
where tickets.events (run after commit) is too late.

Tickets services call `run` at fixed points, always with lists, so that the batched mail
writer (tickets.services.bulk) runs each hook once per batch:

- TICKETS_CREATED(tickets=[Ticket]): ticket_create and Bulk.flush, after the first comments;
- STATUS_CHANGED(changes=[(Ticket, old Status)]): the ticket already holds its new status;
- COMMENTS_ADDED(comments=[(Comment, auto_generated)]): after any reopening the comment caused;
- TICKETS_CHANGED(tickets=[Ticket], fields={"priority", "team", ...}): properties that may
  change which SLA policy applies.

A hook that raises rolls the change back: these are part of the change, not notifications.
Hooks register in their app's AppConfig.ready().
"""

from collections import defaultdict
from collections.abc import Callable

TICKETS_CREATED = "tickets_created"
STATUS_CHANGED = "status_changed"
COMMENTS_ADDED = "comments_added"
TICKETS_CHANGED = "tickets_changed"

Hook = Callable[..., None]
_hooks: dict[str, list[Hook]] = defaultdict(list)


def register(name: str, hook: Hook) -> None:
    if hook not in _hooks[name]:
        _hooks[name].append(hook)


def unregister(name: str, hook: Hook) -> None:
    if hook in _hooks[name]:
        _hooks[name].remove(hook)


def run(name: str, **arguments) -> None:
    for hook in list(_hooks[name]):
        hook(**arguments)
