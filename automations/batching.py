"""Events gathered per tenant, so that one task runs the rules of many: the subscriber adds each
event (as plain values) to its tenant's list in Redis and queues `automations.handle_events`
only when no task of the tenant is waiting; the task takes up to BATCH_SIZE events in arrival
order and runs them (automations.services.run.automations_handle_events), reading their
tickets and facts together. Under a burst the lists fill while the tasks wait in the queue,
so a task takes many; a lone event still gets its own task at once (no window to wait out).

Nothing is lost between the list and the task:
- An arrival pushes, then sets the tenant's WAITING key (SET NX) and, if it set it, queues a
  task. A task deletes the key before it takes, so an arrival after its take queues a task of
  its own, and one before it is taken by it. The key expires (WAITING_SECONDS): a task lost
  before it ran blocks no later arrival for longer; an extra task finds nothing and ends.
- The take moves the events to a list named after the task (one Lua script, atomic), which is
  deleted once they have run. A task redelivered after its worker died (acks_late) or retried
  after an OperationalError (the same task id) runs that list again, as a replay: the runs
  already written are found (RuleRun is unique per rule, ticket and origin) and not repeated.
- A task that leaves events behind (more than BATCH_SIZE) queues the next task itself.
- A publish that fails gives the key back: the event is in the list, and the tenant's next
  arrival queues the task that takes it.

Without Redis (the embedded default, each process with its own memory) the event goes in the
task's own message instead: a batch of one, as before.
"""

import json
import logging
from functools import cache

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

HANDLE_EVENTS = "automations.handle_events"
BATCH_SIZE = 100  # events per task at most
WAITING_SECONDS = 10

# KEYS[1] the tenant's list, KEYS[2] the task's; ARGV[1] how many: the events moved, in order.
_TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('LTRIM', KEYS[1], #items, -1)
  redis.call('RPUSH', KEYS[2], unpack(items))
  redis.call('EXPIRE', KEYS[2], 86400)
end
return items
"""


def _list_key(organization_id: int) -> str:
    return f"automations:events:{organization_id}"


def _waiting_key(organization_id: int) -> str:
    return f"automations:events:{organization_id}:waiting"


def _taken_key(organization_id: int, task_id: str) -> str:
    return f"automations:events:{organization_id}:task:{task_id}"


def _redis():
    """A client of the Redis the cache and the broker use, or None without one."""
    return _client(settings.REDIS_URL) if settings.REDIS_URL else None


@cache
def _client(url: str):
    import redis

    return redis.Redis.from_url(url)  # redis-py's own connection pool, kept per process


def arrived(organization_id: int, payload: dict) -> None:
    """Queue one event's rules (plain values): in the tenant's list, with a task unless one is
    waiting already; without Redis, in a task of its own."""
    task = current_app.tasks[HANDLE_EVENTS]
    client = _redis()
    if client is None:
        task.delay(organization_id=organization_id, items=[payload])
        return
    pipe = client.pipeline(transaction=False)
    pipe.rpush(_list_key(organization_id), json.dumps(payload))
    pipe.set(_waiting_key(organization_id), 1, nx=True, ex=WAITING_SECONDS)
    _, first = pipe.execute()
    if not first:
        return
    try:
        task.delay(organization_id=organization_id)
    except Exception:
        client.delete(_waiting_key(organization_id))  # the next arrival queues it
        raise


def take(organization_id: int, task_id: str) -> tuple[list[dict], bool, bool]:
    """The events this task runs, in order; whether it runs them again (a redelivered or
    retried task: some may have run); whether events are left behind for the next task."""
    client = _redis()
    if client is None:
        return [], False, False
    taken = _taken_key(organization_id, task_id)
    again = client.lrange(taken, 0, -1)
    if again:
        return [json.loads(item) for item in again], True, False
    client.delete(_waiting_key(organization_id))
    items = client.eval(_TAKE, 2, _list_key(organization_id), taken, BATCH_SIZE)
    more = len(items) == BATCH_SIZE and bool(client.llen(_list_key(organization_id)))
    return [json.loads(item) for item in items], False, more


def next_batch(organization_id: int) -> None:
    """Queue a task for the events a full batch left behind."""
    current_app.tasks[HANDLE_EVENTS].delay(organization_id=organization_id)


def done(organization_id: int, task_id: str) -> None:
    """The task's events have run (their transactions committed): forget them."""
    client = _redis()
    if client is not None:
        client.delete(_taken_key(organization_id, task_id))
