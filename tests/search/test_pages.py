"""The search pages: the results page and the top bar's dropdown (agents only, another tenant's
text never shown, snippets escaped, a fixed number of queries), the ticket list's and the
portal's `q`, and Settings -> Search."""

import re

import pytest

from search.models import SearchSettings
from tests.factories import make_ticket
from tests.portal.conftest import make_contact, portal_client
from tickets.models import Ticket
from tickets.services.comments import comment_create

# The dropdown's six and the one the frame around the whole page reads (the rail's teams;
# its counts are cached).
PAGE_QUERIES = 7

HOSTILE = (
    'Hi <script>alert("x")</script> the <b onmouseover="steal()">invoice</b> 4471 '
    "is &amp; wrong <img src=x onerror=alert(1)> \ue000fake\ue001 mark \ue001"
)


@pytest.fixture
def agent_client(acme):
    return acme.client(acme.agent)


@pytest.fixture
def hostile(acme):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="<i>Invoice</i> question", body="hello")
        comment_create(ticket=ticket, body_text=HOSTILE)
    return ticket


def _hits(html: str) -> list[str]:
    return re.findall(r'<li class="search-hit[^"]*">.*?</li>', html, re.S)


def test_results_page_shows_ranked_hits(acme, agent_client):
    with acme.scope():
        body = make_ticket(acme.org, subject="Question", body="my router reboots")
        subject = make_ticket(acme.org, subject="Router reboots", body="see subject")
    html = agent_client.get("/agent/search/", {"q": "router"}).content.decode()
    numbers = re.findall(r'<span class="num">#(\d+)</span>', html)
    assert numbers == [str(subject.number), str(body.number)]
    assert "<mark>Router</mark> reboots" in html
    assert "<mark>router</mark> reboots" in html


def test_snippets_escape_the_mail_and_mark_only_matches(acme, agent_client, hostile):
    html = agent_client.get("/agent/search/", {"q": "invoice 4471"}).content.decode()
    [hit] = _hits(html)
    assert [tag for tag in ("<script", "<b ", "<img", "<i>") if tag in hit] == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in hit
    # PostgreSQL's headline drops what its parser reads as tags; FTS5 keeps them, escaped.
    assert "onmouseover" not in hit or "&lt;b onmouseover=&quot;steal()&quot;&gt;" in hit
    assert {"invoice", "4471"} <= set(re.findall(r"<mark>(\w+)</mark>", hit))
    assert "&lt;i&gt;<mark>Invoice</mark>&lt;/i&gt; question" in hit
    # The mail's own marker characters make no unbalanced or extra markup.
    assert hit.count("<mark>") == hit.count("</mark>")
    assert re.sub(r"</?mark>", "", hit).count("<") == hit.count("<") - 2 * hit.count("<mark>")


def test_dropdown_fragment_when_htmx_asks(acme, agent_client, hostile):
    response = agent_client.get("/agent/search/", {"q": "invo"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert (html.count("<html"), len(_hits(html))) == (0, 1)
    assert 'href="/agent/search/?q=invo"' in html


def test_a_number_opens_its_ticket(acme, agent_client, hostile):
    response = agent_client.get("/agent/search/", {"q": f"#{hostile.number}"})
    assert (response.status_code, response["Location"]) == (
        302,
        f"/agent/tickets/{hostile.number}/",
    )
    fragment = agent_client.get(
        "/agent/search/", {"q": str(hostile.number)}, HTTP_HX_REQUEST="true"
    )
    assert (
        f'href="/agent/tickets/{hostile.number}/">Go to #{hostile.number}'
        in fragment.content.decode()
    )


def test_internal_matches_are_labelled_for_agents(acme, agent_client):
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Login", body="cannot sign in")
        comment_create(
            ticket=ticket, body_text="ldap sync zq81", is_public=False, author_user=acme.agent
        )
    [hit] = _hits(agent_client.get("/agent/search/", {"q": "zq81"}).content.decode())
    assert hit.startswith('<li class="search-hit internal">')
    assert '<span class="label-internal">Internal</span>' in hit


def test_another_tenants_text_is_never_shown(acme, globex, agent_client):
    with globex.scope():
        make_ticket(globex.org, subject="Globex secret merger", body="codename kraken")
    html = agent_client.get("/agent/search/", {"q": "kraken"}).content.decode()
    assert (_hits(html), "merger" in html, "No tickets match" in html) == ([], False, True)
    with globex.scope():
        number = Ticket.objects.get().number
    # Its number is not another ticket of ours (acme has none): no jump, nothing found.
    response = agent_client.get("/agent/search/", {"q": f"#{number}"})
    assert (response.status_code, _hits(response.content.decode())) == (200, [])


def test_search_needs_an_agent_of_this_tenant(acme, globex):
    assert (
        acme.client().get("/agent/search/?q=x")["Location"] == "/login/?next=/agent/search/%3Fq%3Dx"
    )
    assert acme.client(globex.agent).get("/agent/search/?q=x").status_code == 404
    assert acme.client(acme.agent).post("/agent/search/", {"q": "x"}).status_code == 405


@pytest.mark.parametrize("count", [1, 15])
def test_results_page_queries_are_fixed(acme, agent_client, django_assert_num_queries, count):
    with acme.scope():
        for i in range(count):
            ticket = make_ticket(acme.org, subject=f"Printer {i}", email=f"p{i}@x.test")
            comment_create(ticket=ticket, body_text="printer again")
    agent_client.get("/agent/search/", {"q": "printer"})  # warm the rail's cache
    # The middleware's session, user and membership; ranking, tickets, snippets.
    with django_assert_num_queries(6):
        response = agent_client.get("/agent/search/", {"q": "printer"}, HTTP_HX_REQUEST="true")
    assert len(_hits(response.content.decode())) == min(count, 8)
    with django_assert_num_queries(PAGE_QUERIES):
        response = agent_client.get("/agent/search/", {"q": "printer"})
    assert len(_hits(response.content.decode())) == count


def test_ticket_list_q_is_the_full_text_match_and_takes_the_filters(acme, agent_client):
    with acme.scope():
        a = make_ticket(acme.org, subject="Access", body="badge 9931 broken")
        b = make_ticket(acme.org, subject="Access again", body="badge 9931 still broken")
        Ticket.objects.filter(pk=b.pk).update(team=acme.team)
    html = agent_client.get("/agent/", {"view": "all", "q": "9931"}).content.decode()
    assert sorted(re.findall(r'data-number="(\d+)"', html)) == sorted(
        [str(a.number), str(b.number)]
    )
    html = agent_client.get(
        "/agent/", {"view": "all", "q": "9931", "team": acme.team.pk}
    ).content.decode()
    assert re.findall(r'data-number="(\d+)"', html) == [str(b.number)]
    html = agent_client.get("/agent/", {"view": "all", "q": "badge -still"}).content.decode()
    assert re.findall(r'data-number="(\d+)"', html) == [str(a.number)]


def test_portal_search_never_finds_internal_words(acme):
    contact = make_contact(acme, "kim@client.test", "Kim")
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Broken laptop", email="kim@client.test")
        comment_create(
            ticket=ticket, body_text="warranty void yq55", is_public=False, author_user=acme.agent
        )
        comment_create(ticket=ticket, body_text="We ordered a new keyboard", author_user=acme.agent)
    client = portal_client(acme, contact)

    def found(q):
        html = client.get("/tickets/", {"q": q}).content.decode()
        return f"/tickets/{ticket.number}/" in html

    assert (found("keyboard"), found("laptop"), found("yq55"), found("warranty")) == (
        True,
        True,
        False,
        False,
    )
    # Excluding a word only an internal note holds changes nothing for the customer.
    assert found("keyboard -yq55") is True


def test_settings_page_changes_the_language_and_reindexes(acme, django_capture_on_commit_callbacks):
    admin = acme.client(acme.admin)
    with acme.scope():
        ticket = make_ticket(acme.org, subject="Payments failing", body="x")
    assert admin.get("/settings/search/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post("/settings/search/", {"language": "english"})
    assert response.status_code == 302
    with acme.scope():
        assert SearchSettings.objects.get().language == "english"
    html = admin.get("/agent/search/", {"q": "payment failed "}).content.decode()
    assert re.findall(r'<span class="num">#(\d+)</span>', html) == [str(ticket.number)]


def test_settings_page_refuses_bad_input_and_non_admins(acme, globex):
    admin = acme.client(acme.admin)
    response = admin.post("/settings/search/", {"language": "klingon'); DROP TABLE x;--"})
    assert response.status_code == 400
    assert "Nothing was saved" in response.content.decode()
    assert acme.client(acme.agent).get("/settings/search/").status_code == 404
    assert acme.client(globex.admin).get("/settings/search/").status_code == 404
    with acme.scope():
        assert SearchSettings.objects.count() == 0


def test_top_bar_searches_as_you_type(acme, agent_client):
    html = agent_client.get("/agent/").content.decode()
    assert 'action="/agent/search/"' in html
    assert 'hx-get="/agent/search/" hx-trigger="input changed delay:200ms, search"' in html
    assert "js/search.js" in html
