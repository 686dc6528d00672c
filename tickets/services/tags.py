"""Tags on tickets: add and remove them on a ticket, and rename, merge or delete a tag for the
whole tenant. Every change writes a TicketEvent on each ticket it touches."""

import re

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from tenants.scoping import assert_writable
from tickets.models import Tag, Ticket, TicketEvent, TicketTag
from tickets.services.lists import lists_changed
from tickets.services.timeline import _event, _event_row

MAX_TAG_LENGTH = 50
MAX_TAGS_AT_ONCE = 20


class TagError(ValueError):
    """Input a person can fix; the message says how."""


def tag_names_parse(text: str) -> list[str]:
    """Comma-separated names, whitespace collapsed, each once (ignoring case), in order."""
    names: dict[str, str] = {}
    for raw in text.split(","):
        name = re.sub(r"\s+", " ", raw).strip()
        if not name:
            continue
        if len(name) > MAX_TAG_LENGTH:
            raise TagError(f"A tag is at most {MAX_TAG_LENGTH} characters: “{name[:20]}…”.")
        names.setdefault(name.casefold(), name)
    if len(names) > MAX_TAGS_AT_ONCE:
        raise TagError(f"Add at most {MAX_TAGS_AT_ONCE} tags at once.")
    return list(names.values())


def _existing(names: list[str]) -> dict[str, Tag]:
    if not names:
        return {}
    match = Q()
    for name in names:
        match |= Q(name__iexact=name)
    return {t.name.casefold(): t for t in Tag.objects.filter(match)}


def _tags_for(
    organization_id: int, names: list[str], known: dict[str, Tag] | None = None
) -> list[Tag]:
    """The tenant's tags of these names, created if new (an existing tag keeps its spelling).
    `known` (casefolded name -> tag) is what the caller remembers across calls (the
    automations engine, for a batch of events): read from it, and added to."""
    found = {} if known is None else known
    missing = [name for name in names if name.casefold() not in found]
    if missing:
        found.update(_existing(missing))
    tags = []
    for name in names:
        tag = found.get(name.casefold())
        if tag is None:
            tag = _tag_create(organization_id, name)
            found[name.casefold()] = tag
        tags.append(tag)
    return tags


def _tag_create(organization_id: int, name: str) -> Tag:
    # Two changes naming the same new tag at once (automation rules in two workers): the
    # unique index makes the second wait for the first and fail; it takes the first's tag.
    try:
        with transaction.atomic():
            return Tag.objects.create(organization_id=organization_id, name=name)
    except IntegrityError:
        return Tag.objects.get(name__iexact=name)


def _changed(ticket: Ticket, actor_user, *, added=(), removed=()) -> None:
    data = {"added": sorted(added, key=str.casefold), "removed": sorted(removed, key=str.casefold)}
    _event(ticket, TicketEvent.Kind.TAGS, actor_user=actor_user, **data)
    lists_changed(ticket.organization_id)


# Inside a caller's transaction these take no savepoint of their own (two statements each,
# on every rule action): nothing catches what they raise and goes on in that transaction, and
# a caller that must survive a failure (automations' actions) takes its own savepoint.
@transaction.atomic(savepoint=False)
def ticket_tags_add(
    *, ticket: Ticket, names: list[str], actor_user=None, known: dict[str, Tag] | None = None
) -> list[str]:
    """Tag the ticket; returns the names it did not have before. `known`: tags the caller
    remembers by casefolded name (see _tags_for)."""
    tags = _tags_for(ticket.organization_id, names, known)
    linked = _link(ticket, tags)
    new = [t for t in tags if t.pk in linked]
    if new:
        _changed(ticket, actor_user, added=[t.name for t in new])
    return [t.name for t in new]


# Raw SQL (allowed in the Makefile's ban list for this one function): the tenant guard is
# asserted here, and the statement names the ticket's own organization.
def _link(ticket: Ticket, tags: list[Tag]) -> set[int]:
    """Link the tags to the ticket in one statement; the ids of those it did not have.

    INSERT ... ON CONFLICT DO NOTHING RETURNING (PostgreSQL, and SQLite since 3.35) returns
    exactly the rows it inserted: a tag the ticket had, or that a concurrent change linked
    first (the unique index makes this one wait for it), is not returned, so the ticket's
    timeline says "added" once. No read of the ticket's tags before, as there used to be.
    """
    assert_writable(ticket)
    ids = list(dict.fromkeys(t.pk for t in tags))
    if not ids:
        return set()
    table = connection.ops.quote_name(TicketTag._meta.db_table)
    values = ", ".join(["(%s, %s, %s)"] * len(ids))
    # Only the table's name and placeholders are formatted in; every value is a parameter.
    sql = f"INSERT INTO {table} (organization_id, ticket_id, tag_id) VALUES {values} "  # noqa: S608
    sql += "ON CONFLICT DO NOTHING RETURNING tag_id"
    params = [v for pk in ids for v in (ticket.organization_id, ticket.pk, pk)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


@transaction.atomic(savepoint=False)
def ticket_tags_remove(*, ticket: Ticket, names: list[str], actor_user=None) -> list[str]:
    """Untag the ticket; returns the names it had. Unknown names are ignored."""
    tags = list(_existing(names).values())
    links = TicketTag.objects.filter(ticket=ticket, tag__in=tags)
    removed = sorted(
        Tag.objects.filter(pk__in=links.values("tag_id")).values_list("name", flat=True)
    )
    if removed:
        links.delete()
        _changed(ticket, actor_user, removed=removed)
    return removed


def _ticket_ids(tag: Tag) -> list[int]:
    return list(TicketTag.objects.filter(tag=tag).values_list("ticket_id", flat=True))


def _events_on(ticket_ids: list[int], organization_id: int, actor_user, **data) -> None:
    tickets = [Ticket(pk=pk, organization_id=organization_id) for pk in ticket_ids]
    TicketEvent.objects.bulk_create(
        [_event_row(t, TicketEvent.Kind.TAGS, actor_user=actor_user, **data) for t in tickets]
    )
    lists_changed(organization_id)


@transaction.atomic
def tag_rename(*, tag: Tag, name: str, actor_user=None) -> Tag:
    names = tag_names_parse(name)
    if len(names) != 1:
        raise TagError("Give the tag one name (no commas).")
    new = names[0]
    clash = _existing([new]).get(new.casefold())
    if clash is not None and clash.pk != tag.pk:
        raise TagError(f"There is already a tag “{clash.name}”: merge into it instead.")
    old = tag.name
    if old == new:
        return tag
    tag.name = new
    tag.save(update_fields=["name"])
    _events_on(_ticket_ids(tag), tag.organization_id, actor_user, **{"from": old, "to": new})
    return tag


@transaction.atomic
def tag_merge(*, source: Tag, target: Tag, actor_user=None) -> int:
    """Every ticket tagged `source` gets `target`; `source` is deleted. Returns the tickets."""
    if source.pk == target.pk:
        raise TagError("Pick another tag to merge into.")
    ticket_ids = _ticket_ids(source)
    already = set(TicketTag.objects.filter(tag=target).values_list("ticket_id", flat=True))
    TicketTag.objects.bulk_create(
        [
            TicketTag(organization_id=source.organization_id, ticket_id=pk, tag=target)
            for pk in ticket_ids
            if pk not in already
        ],
        ignore_conflicts=True,
    )
    data = {"from": source.name, "to": target.name}
    _events_on(ticket_ids, source.organization_id, actor_user, **data)
    source.delete()
    return len(ticket_ids)


@transaction.atomic
def tag_delete(*, tag: Tag, actor_user=None) -> int:
    """Remove the tag from every ticket and delete it. Returns the tickets it was on."""
    ticket_ids = _ticket_ids(tag)
    _events_on(ticket_ids, tag.organization_id, actor_user, added=[], removed=[tag.name])
    tag.delete()
    return len(ticket_ids)
