"""Catch-up after a reconnect, without an event log: the comments table is the log.

The page tells the newest comment id it shows (`after` in its `watch`); the answer is every
comment of the ticket after it, rendered as pushed ones are, oldest first, and a
`ticket.changed` so the sidebar (status, assignee, SLA) is fetched again. At most `LIMIT`
comments: past that the `ticket.changed` carries `more`, and the page asks again from the
newest it received.
"""

from dataclasses import dataclass

from live import render
from tenants.models import Organization
from tenants.scoping import tenant_scope
from tickets.models import Ticket

LIMIT = 100


@dataclass(frozen=True)
class CatchUp:
    comments: list[render.RenderedComment]
    more: bool


def ticket_id_for(*, organization: Organization, number: int) -> int | None:
    """The ticket with that number in this tenant (numbers are per tenant), or None."""
    with tenant_scope(organization):
        return Ticket.objects.filter(number=number).values_list("pk", flat=True).first()


def ticket_ids_for(*, organization: Organization, numbers: list[int]) -> dict[int, int]:
    """{number: ticket id} for those of `numbers` that are this tenant's tickets."""
    with tenant_scope(organization):
        rows = Ticket.objects.filter(number__in=numbers).values_list("number", "pk")
        return dict(rows)


def catch_up(*, organization: Organization, ticket_id: int, after: int) -> CatchUp:
    with tenant_scope(organization):
        comments = render.comments_of(ticket_id=ticket_id, after=after, limit=LIMIT + 1)
    return CatchUp(comments=comments[:LIMIT], more=len(comments) > LIMIT)
