"""SLA in the agent workspace: the list badge (nearest running timer), the "breached" and "due
within 1 hour" filters, the sort by due time with its keyset pages, fixed query counts, and
the timers' card on the ticket page; another tenant's timers never show."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sla.models import Calendar, Policy, TicketSLA
from tests.factories import make_ticket
from tickets import selectors


@pytest.fixture
def agent(acme):
    return acme.client(acme.agent)


def _policy(org, name="Standard"):
    calendar = Calendar.objects.create(
        organization=org, name=f"{name} hours", timezone="Europe/Berlin", weekly={}
    )
    # No working hours: tickets created in tests start no timers of their own.
    return Policy.objects.create(organization=org, name=name, calendar=calendar, order=1)


def _timer(ticket, target="first_response", *, due_in, warn_in=None, policy=None, **fields):
    now = timezone.now()
    return TicketSLA.objects.create(
        organization=ticket.organization,
        ticket=ticket,
        policy=policy,
        target=target,
        started_at=now - timedelta(hours=1),
        due_at=now + due_in,
        warn_at=now + warn_in if warn_in is not None else None,
        **fields,
    )


def _badges(body: str) -> dict[str, str]:
    """ticket number -> (badge class, text) as the rows show them."""
    found = {}
    for number, chunk in re.findall(r'data-number="(\d+)"(.*?)</tr>', body, re.S):
        badge = re.search(r'class="sla-badge sla-(\w+)"[^>]*>([^<]*)</span>', chunk)
        found[number] = f"{badge[1]}: {badge[2].strip()}" if badge else ""
    return found


def _numbers(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-number="(\d+)"', body)]


def test_badge_shows_the_nearest_running_target_coloured_by_state(acme, agent):
    with acme.scope():
        ok, warning, overdue, paused, stopped, none = (make_ticket(acme.org) for _ in range(6))
        _timer(ok, due_in=timedelta(hours=2, minutes=5, seconds=30))
        _timer(ok, "resolution", due_in=timedelta(days=2))
        _timer(warning, due_in=timedelta(minutes=20, seconds=30), warn_in=-timedelta(minutes=5))
        _timer(overdue, "resolution", due_in=-timedelta(minutes=35, seconds=10))
        _timer(overdue, "next_response", due_in=timedelta(hours=1))
        _timer(paused, due_in=timedelta(hours=3), paused_since=timezone.now())
        _timer(
            stopped, due_in=timedelta(hours=1), stopped_at=timezone.now(), target="first_response"
        )
    body = agent.get("/agent/?view=all").content.decode()
    assert _badges(body) == {
        str(ok.number): "ok: Reply · 2h 5m left",
        str(warning.number): "warning: Reply · 20m left",
        str(overdue.number): "overdue: Resolve · overdue by 35m",
        str(paused.number): "paused: Reply · paused",
        str(stopped.number): "",
        str(none.number): "",
    }


def test_breached_and_due_soon_filters(acme, globex, agent):
    with acme.scope():
        late, soon, later, marked, paused_late = (make_ticket(acme.org) for _ in range(5))
        _timer(late, due_in=-timedelta(minutes=1))
        _timer(soon, due_in=timedelta(minutes=50))
        _timer(later, due_in=timedelta(minutes=70))
        _timer(marked, due_in=timedelta(minutes=30), breached_at=timezone.now())  # marked
        _timer(paused_late, due_in=-timedelta(hours=1), paused_since=timezone.now())
        make_ticket(acme.org)  # no timers at all
    with globex.scope():
        _timer(make_ticket(globex.org), due_in=-timedelta(hours=1))
    breached = agent.get("/agent/?view=all&only=sla_breached").content.decode()
    due_soon = agent.get("/agent/?view=all&only=sla_due_1h").content.decode()
    assert sorted(_numbers(breached)) == sorted([late.number, marked.number])
    assert _numbers(due_soon) == [soon.number]
    page = agent.get("/agent/?view=all&only=sla_breached").content.decode()
    assert '<option value="sla_breached" selected>SLA breached</option>' in page
    # An unknown filter is ignored (a bad bookmark still shows the list).
    assert len(_numbers(agent.get("/agent/?view=all&only=nonsense").content.decode())) == 6


def test_sort_by_due_time_puts_tickets_without_a_timer_last_and_pages(acme, agent, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    with acme.scope():
        a, b, c, d, e = (make_ticket(acme.org) for _ in range(5))
        _timer(a, due_in=timedelta(hours=5))
        _timer(b, due_in=-timedelta(hours=1))
        _timer(c, due_in=timedelta(hours=2))
        _timer(c, "resolution", due_in=timedelta(hours=9))
        _timer(d, due_in=-timedelta(hours=2), paused_since=timezone.now())  # does not rank
    seen, url = [], "/agent/?view=all&sort=sla_due"
    for _ in range(5):
        body = agent.get(url).content.decode()
        seen += _numbers(body)
        nxt = re.search(r'class="next" href="\?([^"]+)"', body)
        if not nxt:
            break
        url = "/agent/?" + nxt[1].replace("&amp;", "&")
    assert seen == [b.number, c.number, a.number, d.number, e.number]
    assert (
        'value="sla_due" selected>SLA due time</option>'
        in agent.get("/agent/?view=all&sort=sla_due").content.decode()
    )


def _queries(client, url) -> int:
    cache.clear()  # rail counts are cached; measure every page cold
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    "query", ["view=all", "view=all&sort=sla_due", "view=all&only=sla_breached"]
)
def test_list_query_count_is_fixed_for_1_and_50_rows(acme, agent, query):
    url = f"/agent/?{query}"
    with acme.scope():
        policy = _policy(acme.org)
        _timer(make_ticket(acme.org), due_in=-timedelta(minutes=5), policy=policy)
    one = _queries(agent, url)
    with acme.scope():
        for i in range(49):
            ticket = make_ticket(acme.org, email=f"p{i}@x.test")
            _timer(ticket, due_in=-timedelta(minutes=i + 1), policy=policy)
            _timer(ticket, "resolution", due_in=timedelta(hours=i), policy=policy)
    body_rows = len(_numbers(agent.get(url).content.decode()))
    many = _queries(agent, url)
    assert body_rows == 50
    assert many == one


def test_ticket_page_shows_each_timer_with_policy_and_due_time(acme, globex, agent):
    with acme.scope():
        policy = _policy(acme.org, name="Gold")
        ticket = make_ticket(acme.org)
        now = timezone.now()
        _timer(ticket, due_in=timedelta(hours=1), policy=policy, stopped_at=now)  # met
        _timer(ticket, "next_response", due_in=-timedelta(minutes=30), policy=policy)
        _timer(ticket, "resolution", due_in=timedelta(hours=8), policy=policy, paused_since=now)
        due = TicketSLA.objects.get(ticket=ticket, target="next_response").due_at
    with globex.scope():
        _timer(make_ticket(globex.org), due_in=timedelta(hours=1))
    body = agent.get(f"/agent/tickets/{ticket.number}/").content.decode()
    card = body[
        body.index('aria-label="SLA"') : body.index("</section>", body.index('aria-label="SLA"'))
    ]
    items = re.findall(r'<li class="sla-timer">(.*?)</li>', card, re.S)
    text = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", i)).strip() for i in items]
    local = timezone.localtime(due, timezone=ZoneInfo("UTC"))
    assert len(text) == 3
    assert text[0].startswith("Next response overdue by 30m due ")
    assert f'datetime="{local.isoformat()}"' in items[0]
    assert text[0].endswith("Policy: Gold")
    assert text[1].startswith("First response met met · stopped ")
    assert text[2].startswith("Resolution paused paused since ")


def test_ticket_page_query_count_is_fixed_with_timers(acme, agent):
    with acme.scope():
        policy = _policy(acme.org)
        ticket = make_ticket(acme.org)
    none = _queries(agent, f"/agent/tickets/{ticket.number}/")
    with acme.scope():
        for target in ("first_response", "next_response", "resolution"):
            _timer(ticket, target, due_in=timedelta(hours=1), policy=policy)
    assert _queries(agent, f"/agent/tickets/{ticket.number}/") == none
