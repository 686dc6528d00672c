"""The publisher: domain events and new in-app notices become messages to the sockets' groups.

Registered in LiveConfig.ready(). It runs after the change's commit, in whichever process made
it (a web request, the Celery worker for mail, beat's SLA scan), and hands its messages to
live.relay, which gets them to the web process. A comment is rendered once per event (agents'
view, live.render) for everyone watching its ticket. A failure is logged and never reaches the
event's other subscribers or the service that emitted it.

Groups (always with the organization's id; ASCII, under 100 characters):
- `live.o<org>.agents`: every agent socket of the organization (nothing is sent to all of them
  today: at 500 sockets each message would be 500 sends);
- `live.o<org>.lists`: the list pages (joined by the `list` frame): their rows' `ticket.changed`,
  `ticket.created` and presence markers;
- `live.o<org>.t<ticket id>`: the sockets watching that ticket (its comments, `ticket.changed`
  for its sidebar, presence). A page is a list or a ticket, so none hears a message twice;
- `live.o<org>.u<user id>`: one agent's sockets (the bell).

Every message is `{"type": PUSH_TYPE, "organization": <id>, "internal": <bool>, "payload":
{...}}`; the consumer checks the organization and, for internal ones, the agent role of the
receiving connection again, and sends the payload as the frame.
"""

import logging
from collections.abc import Callable

from django.db.models import Count

from live import relay, render
from live.groups import lists_group, ticket_group, user_group
from outbound_mail.models import Notification
from outbound_mail.unread import unread_changed
from tenants.models import Organization
from tenants.scoping import tenant_scope
from tickets import events
from tickets.models import Ticket

logger = logging.getLogger(__name__)

PUSH_TYPE = "live.push"  # the consumer's handler: LiveConsumer.live_push


def push(organization_id: int, payload: dict, *, internal: bool = False) -> dict:
    return {
        "type": PUSH_TYPE,
        "organization": organization_id,
        "internal": internal,
        "payload": payload,
    }


def comment_payload(rendered: render.RenderedComment) -> dict:
    return {
        "type": "comment",
        "ticket": rendered.ticket,
        "comment": rendered.comment,
        "internal": rendered.internal,
        "html": rendered.html,
    }


def changed_payload(number: int, what: list[str], **extra) -> dict:
    return {"type": "ticket.changed", "ticket": number, "what": what, **extra}


# -- domain events ------------------------------------------------------------------------------

# What each event changes, as `ticket.changed` names it.
CHANGES = {
    events.STATUS_CHANGED: "status",
    events.PRIORITY_CHANGED: "priority",
    events.ASSIGNED: "assignee",
    events.TEAM_CHANGED: "team",
    events.SLA_WARNING: "sla",
    events.SLA_BREACHED: "sla",
}


def on_event(event: events.DomainEvent) -> None:
    try:
        _publish(event)
    except Exception:
        logger.exception("live: publishing %s on ticket %s failed", event.name, event.ticket_id)


def _publish(event: events.DomainEvent) -> None:
    if not relay.reaches_sockets():
        return  # nobody could receive it: render nothing
    organization = Organization.objects.get(pk=event.organization_id)
    with tenant_scope(organization):
        messages = MESSAGES[event.name](event)
    relay.send(organization_id=organization.pk, slug=organization.slug, messages=messages)


def _comment_added(event: events.DomainEvent) -> list[relay.Message]:
    org = event.organization_id
    rendered = render.comment_by_id(event.data["comment_id"])
    if rendered is None:
        return []  # withdrawn or split off before it could be shown
    return [
        (
            ticket_group(org, event.ticket_id),
            push(org, comment_payload(rendered), internal=rendered.internal),
        ),
        *_changed(org, event.ticket_id, rendered.ticket, ["comment"]),
    ]


def _ticket_created(event: events.DomainEvent) -> list[relay.Message]:
    number = _number(event.ticket_id)
    if number is None:
        return []
    org = event.organization_id
    return [(lists_group(org), push(org, {"type": "ticket.created", "ticket": number}))]


def _ticket_changed(event: events.DomainEvent) -> list[relay.Message]:
    number = _number(event.ticket_id)
    if number is None:
        return []
    org = event.organization_id
    return _changed(org, event.ticket_id, number, [CHANGES[event.name]])


def _changed(org: int, ticket_id: int, number: int, what: list[str]) -> list[relay.Message]:
    """`ticket.changed` for the ticket's own pages (the sidebar) and for the lists (the row)."""
    payload = changed_payload(number, what)
    return [
        (ticket_group(org, ticket_id), push(org, payload)),
        (lists_group(org), push(org, payload)),
    ]


def _number(ticket_id: int) -> int | None:
    return Ticket.objects.filter(pk=ticket_id).values_list("number", flat=True).first()


MESSAGES: dict[str, Callable[[events.DomainEvent], list[relay.Message]]] = {
    events.COMMENT_ADDED: _comment_added,
    events.TICKET_CREATED: _ticket_created,
    **dict.fromkeys(CHANGES, _ticket_changed),
}


# -- the bell -----------------------------------------------------------------------------------


def on_unread_changed(sender, *, organization_id: int, user_ids: list[int], **kwargs) -> None:
    """outbound_mail.unread.unread_changed: these agents' unread counts changed."""
    try:
        _publish_bell(organization_id, user_ids)
    except Exception:
        logger.exception("live: publishing the bell of %s failed", user_ids)


def _publish_bell(organization_id: int, user_ids: list[int]) -> None:
    if not relay.reaches_sockets() or not user_ids:
        return
    organization = Organization.objects.get(pk=organization_id)
    with tenant_scope(organization):
        unread = dict(
            Notification.objects.filter(user_id__in=user_ids, read_at__isnull=True)
            .values_list("user_id")
            .annotate(n=Count("id"))
            .order_by()
        )
    messages = [
        (
            user_group(organization_id, user_id),
            push(organization_id, {"type": "bell", "unread": unread.get(user_id, 0)}),
        )
        for user_id in user_ids
    ]
    relay.send(organization_id=organization_id, slug=organization.slug, messages=messages)


def connect() -> None:
    for name in MESSAGES:
        events.subscribe(name, on_event)
    unread_changed.connect(on_unread_changed, dispatch_uid="live.publish.bell")
