"""Who of a team gets the next ticket: round-robin, or the member with the fewest open tickets.

Both take the team's RoundRobinPointer row lock first and hold it until the caller's
transaction commits, so two workers handing out tickets of one team queue here: the second
reads the pointer (and, for least-loaded, the open tickets) only after the first one's
assignment is committed, and never hands out the same turn twice (PostgreSQL row lock; SQLite
serialises writers anyway). Call them inside the transaction that assigns the ticket.

Candidates are the team's members who are members of this tenant, active, and not away
(Membership.is_away), in user id order: the rotation's order.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from automations.models import RoundRobinPointer
from tenants.models import Membership, Team, TeamMember, User
from tenants.scoping import bulk_create_checked
from tickets.models import DONE_CATEGORIES, Ticket

_noted: ContextVar[list[int] | None] = ContextVar("pointer_locks", default=None)


@contextmanager
def pointer_locks() -> Iterator[list[int]]:
    """Inside, the teams whose pointer this transaction locks are noted in the list it gives:
    a caller running many changes in one transaction (automations.services.batch) commits
    soon after one, since every other assignment in that team waits for the commit."""
    noted: list[int] = []
    token = _noted.set(noted)
    try:
        yield noted
    finally:
        _noted.reset(token)


# Their atomic blocks take no savepoint: they read, then write the pointer last, and the
# caller's transaction (with the action's savepoint, in the engine) holds the lock and undoes
# what a failure leaves.
def round_robin(*, team: Team) -> User | None:
    """The next available member after the last one given a ticket (wrapping), or None."""
    with transaction.atomic(savepoint=False):
        pointer = _locked_pointer(team)
        members = _rotation(_available(team), pointer.last_user_id)
        if not members:
            return None
        return _advance(pointer, members[0])


def least_loaded(*, team: Team) -> User | None:
    """The available member with the fewest open tickets assigned in this tenant; ties go in
    round-robin order from the pointer, so equal loads still take turns. None if nobody."""
    with transaction.atomic(savepoint=False):
        pointer = _locked_pointer(team)
        open_tickets = (
            Ticket.objects.filter(assignee_id=OuterRef("user_id"))
            .exclude(status_category__in=DONE_CATEGORIES)
            .order_by()
            .values("assignee_id")
            .annotate(n=Count("id"))
            .values("n")
        )
        loaded = _available(team).annotate(
            load=Coalesce(Subquery(open_tickets, output_field=IntegerField()), Value(0))
        )
        members = _rotation(loaded, pointer.last_user_id)
        if not members:
            return None
        # min() keeps the first of equal loads: the earliest in the rotation.
        return _advance(pointer, min(members, key=lambda m: getattr(m, "load", 0)))


def _locked_pointer(team: Team) -> RoundRobinPointer:
    noted = _noted.get()
    if noted is not None:
        noted.append(team.pk)
    pointer = RoundRobinPointer.objects.select_for_update().filter(team=team).first()
    if pointer is not None:
        return pointer
    # Created race-safe: ON CONFLICT DO NOTHING waits for a concurrent insert of the same row
    # and then does nothing, so both workers go on to lock the one row.
    bulk_create_checked(
        RoundRobinPointer,
        [RoundRobinPointer(organization_id=team.organization_id, team=team)],
        ignore_conflicts=True,
    )
    return RoundRobinPointer.objects.select_for_update().get(team=team)


def _available(team: Team):
    """The team's members who may get tickets now, with their users, in user id order."""
    in_team = TeamMember.objects.filter(team=team).values("user_id")
    return (
        Membership.objects.filter(user_id__in=in_team, user__is_active=True, is_away=False)
        .select_related("user")
        .order_by("user_id")
    )


def _rotation(members, last_user_id: int | None) -> list[Membership]:
    """The members in turn order: those after the last one given a ticket, then the rest."""
    members = list(members)
    if last_user_id is None:
        return members
    after = [m for m in members if m.user_id > last_user_id]
    return after + [m for m in members if m.user_id <= last_user_id]


def _advance(pointer: RoundRobinPointer, member: Membership) -> User:
    pointer.last_user = member.user
    pointer.save(update_fields=["last_user"])
    return member.user
