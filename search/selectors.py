"""Reads: the results of a search (ranked tickets with highlighted snippets, or the ticket a
number names), the list's text filter as a Q, and the tenant's search settings."""

from dataclasses import dataclass

from django.db.models import Q
from django.utils.safestring import SafeString
from django_scopes import get_scope

from search.engine import engine
from search.highlight import marked_html
from search.models import SearchSettings
from search.query import ParsedQuery, parse
from tickets.models import Ticket

RESULTS_PAGE = 20
DROPDOWN = 8


@dataclass(frozen=True)
class Hit:
    ticket: Ticket
    title: SafeString  # the subject, matches in <mark>, everything else escaped
    snippet: SafeString
    internal: bool  # the best match is an internal note (agents only ever see these)
    comment_id: int  # 0: the match is in the ticket's own fields


@dataclass(frozen=True)
class SearchResults:
    query: ParsedQuery
    hits: list[Hit]
    jump: Ticket | None  # the ticket the number names
    capped: bool  # a common word: the best among the newest tickets, not among all


EMPTY = SearchResults(parse(""), [], None, False)


def search_tickets(raw: str, *, limit: int = RESULTS_PAGE) -> SearchResults:
    """The agent's search: at most `limit` tickets, best first, in three queries."""
    parsed = parse(raw)
    if parsed.is_empty:
        return SearchResults(parsed, [], None, False)
    organization_id = get_scope()["organization"].pk
    ids: list[int] = []
    capped = False
    if parsed.searches_text:
        ranking = engine().ranked(
            parsed, organization_id=organization_id, public_only=False, limit=limit
        )
        ids, capped = ranking.ticket_ids, ranking.capped
    wanted = Q(pk__in=ids)
    if parsed.number is not None:
        wanted |= Q(number=parsed.number)
    tickets = {
        t.pk: t
        for t in Ticket.objects.filter(wanted).select_related(
            "status", "priority", "assignee", "requester"
        )
    }
    jump = next((t for t in tickets.values() if t.number == parsed.number), None)
    found = engine().snippets(
        parsed, organization_id=organization_id, ticket_ids=ids, public_only=False
    )
    hits = []
    for pk in ids:
        ticket, snippet = tickets.get(pk), found.get(pk)
        if ticket is None or snippet is None:
            continue  # changed since it was ranked
        hits.append(
            Hit(
                ticket=ticket,
                title=marked_html(snippet.title or ticket.subject),
                snippet=marked_html(snippet.text),
                internal=snippet.internal,
                comment_id=snippet.comment_id,
            )
        )
    return SearchResults(parsed, hits, jump, capped)


def ticket_match_q(raw: str, *, public_only: bool) -> Q:
    """The ticket list's (and the portal's) `q`: the tickets whose documents match, and the
    ticket a number names. `public_only` leaves internal notes out (customers)."""
    parsed = parse(raw)
    found = Q(pk__in=[])
    if parsed.number is not None:
        found |= Q(number=parsed.number)
    if parsed.searches_text:
        words = Q(pk__in=engine().ticket_ids(parsed, public_only=public_only))
        excluded = engine().excluded_ticket_ids(parsed, public_only=public_only)
        if excluded is not None:
            words &= ~Q(pk__in=excluded)
        found |= words
    return found


def search_settings() -> SearchSettings:
    """The tenant's settings row, or an unsaved one with the defaults."""
    found = SearchSettings.objects.first()
    return found or SearchSettings(organization=get_scope()["organization"])
