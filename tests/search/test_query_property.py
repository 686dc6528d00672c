"""No search text ever raises: every input parses into quoted terms, and the database runs
the query it becomes (PostgreSQL's to_tsquery, SQLite's FTS5 MATCH) without an error; the
page answers 200 or a redirect to a ticket, never a 500."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.query import MAX_TERMS, parse, to_fts5, to_tsquery
from search.selectors import search_tickets, ticket_match_q
from tests.factories import make_ticket
from tickets.models import Ticket

# The characters either engine's syntax gives a meaning to, mixed with any text at all.
SYNTAX = [*"\"'-*:&|!()<>\\^#+~{}[]@.,;/ \t\n\x00", "\ue000", "\ue001", "é", "ß", "…"]
QUERIES = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.one_of(st.sampled_from(SYNTAX), st.sampled_from(["a", "printer", "NOT", "OR", "1"])),
        max_size=40,
    ).map("".join),
)
EXAMPLES = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@EXAMPLES
@given(raw=QUERIES)
def test_parse_never_raises_and_quotes_every_term(raw):
    parsed = parse(raw)
    assert len(parsed.include) + len(parsed.exclude) <= MAX_TERMS
    for term in parsed.include + parsed.exclude:
        assert all(word and "\x00" not in word for word in term.words)
    to_tsquery(parsed), to_fts5(parsed)


@pytest.fixture
def some_tickets(in_acme):
    make_ticket(in_acme.org, subject="Printer on fire", body='The "quoted" a-b & c|d (x) NOT y')
    make_ticket(in_acme.org, subject="Invoice 4471", body="ß é … \\ backslash")


@EXAMPLES
@given(raw=QUERIES)
def test_search_never_raises(some_tickets, raw):
    search_tickets(raw)
    list(Ticket.objects.filter(ticket_match_q(raw, public_only=False)).values_list("pk"))
    list(Ticket.objects.filter(ticket_match_q(raw, public_only=True)).values_list("pk"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=QUERIES)
def test_pages_never_fail(acme, raw):
    client = acme.client(acme.agent)
    for extra in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.get("/agent/search/", {"q": raw}, **extra)
        assert response.status_code in (200, 302)
    assert client.get("/agent/", {"view": "all", "q": raw}).status_code == 200
