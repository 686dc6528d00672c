"""Domain events this app listens to; each handler only queues the `notify` task."""

from outbound_mail import kinds
from outbound_mail.tasks import notify
from tickets import events

NAMES = (
    events.TICKET_CREATED,
    events.COMMENT_ADDED,
    events.STATUS_CHANGED,
    events.ASSIGNED,
    events.STAFF_MAIL_UNVERIFIED,
    events.STAFF_REPLY_HELD,
    events.TICKET_FORWARDED,
    events.AUTOMATION_MAIL,
    events.AUTOMATION_NOTIFY,
    kinds.SLA_WARNING,
    kinds.SLA_BREACHED,
)


def enqueue(event: events.DomainEvent) -> None:
    notify.delay(
        event.name,
        event.ticket_id,
        event.actor_user_id,
        dict(event.data),
        organization_id=event.organization_id,
    )


def connect() -> None:
    for name in NAMES:
        events.subscribe(name, enqueue)
