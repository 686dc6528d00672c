"""The rollups and the report's figures against the hand-computed values of tests/reports/data.py:
facts per ticket (business and clock time, reopens, replies, SLA outcomes, local days and
hours), the daily counts and backlog, medians and p90s overall, by team and by agent, the
beat's refresh from the timeline, and another tenant's tickets never counted."""

import io
from datetime import date

import pytest
import time_machine
from django.core.management import CommandError, call_command

from reports.models import DailyCount, RollupCursor, TicketFact
from reports.percentiles import interpolated
from reports.selectors import Filters, report
from reports.services import rollups_rebuild, rollups_refresh
from reports.tables import tables
from tests.factories import make_ticket
from tests.reports.data import DAYS, _status, at, build
from tickets.models import Ticket

START, END = date(2026, 6, 1), date(2026, 6, 7)


def _rebuild(tenant):
    rollups_rebuild(organization_id=tenant.org.pk, start=date(2026, 5, 1), end=END)


def _report(tenant, **filters):
    result = report(Filters(START, END, **filters))
    names = {tenant.team.pk: "Support"}
    agents = {tenant.agent.pk: tenant.agent.display_name, tenant.admin.pk: "admin"}
    return result, tables(result, team_names=names, agent_names=agents)


def test_facts_per_ticket_are_the_hand_computed_ones(in_acme):
    tickets = build(in_acme)
    _rebuild(in_acme)
    facts = {f.ticket_id: f for f in TicketFact.objects.all()}
    got = {
        name: (
            str(facts[t.pk].created_day),
            facts[t.pk].created_weekday,
            facts[t.pk].created_hour,
            facts[t.pk].first_response_seconds,
            facts[t.pk].resolution_seconds,
            facts[t.pk].business_time,
            facts[t.pk].replies,
            facts[t.pk].reopens,
            facts[t.pk].sla_first_response,
            str(facts[t.pk].sla_first_response_day),
            facts[t.pk].sla_resolution,
            str(facts[t.pk].sla_resolution_day),
        )
        for name, t in tickets.items()
    }
    assert got == {
        "t5": (
            "2026-05-29",
            4,
            12,
            None,
            19800,
            True,
            0,
            0,
            "breached",
            "2026-05-29",
            "met",
            "2026-06-01",
        ),
        "t1": (
            "2026-06-01",
            0,
            10,
            1800,
            7200,
            True,
            1,
            0,
            "met",
            "2026-06-01",
            "met",
            "2026-06-01",
        ),
        "t2": (
            "2026-06-01",
            0,
            16,
            5400,
            39600,
            True,
            2,
            1,
            "breached",
            "2026-06-02",
            "met",
            "2026-06-03",
        ),
        "t4": ("2026-06-02", 1, 8, None, None, True, 0, 0, "running", "None", "running", "None"),
        "t3": ("2026-06-06", 5, 14, 3600, None, False, 1, 0, "", "None", "", "None"),
    }


def test_days_backlog_times_and_sla_overall(in_acme):
    build(in_acme)
    _rebuild(in_acme)
    _, built = _report(in_acme)
    assert built["volume"].rows == [[d, str(c), str(r)] for d, c, r, _ in DAYS]
    assert built["backlog"].rows == [[d, str(o)] for d, _, _, o in DAYS]
    # First response [1800, 3600, 5400]: median 3600, p90 at 1.8 -> 3600 + 0.8 * 1800 = 5040.
    # Resolution [7200, 19800, 39600]: median 19800, p90 19800 + 0.8 * 19800 = 35640.
    assert built["times"].rows == [
        ["First response", "3", "1:00", "1:24"],
        ["Resolution", "3", "5:30", "9:54"],
    ]
    assert built["sla"].rows == [
        ["First response", "1", "1", "50.0"],
        ["Next response", "0", "0", ""],
        ["Resolution", "3", "0", "100.0"],
    ]


def test_by_team_and_by_agent(in_acme):
    build(in_acme)
    _rebuild(in_acme)
    _, built = _report(in_acme)
    assert built["teams"].rows == [
        ["No team", "1", "0", "1:00", "", "", "", ""],
        ["Support", "3", "3", "1:00", "5:30", "33.3", "1.00", "80.0"],
    ]
    assert built["agents"].rows == [
        ["Acme Agent", "2", "2", "1:00", "6:30", "50.0", "1.50", "75.0"],
        ["admin", "1", "0", "1:00", "", "", "", ""],
        ["Unassigned", "1", "1", "", "5:30", "0.0", "0.00", "100.0"],
    ]


def test_busiest_hours_are_in_the_tenants_time_zone(in_acme):
    build(in_acme)
    _rebuild(in_acme)
    result, _ = _report(in_acme)
    busy = {(d, h): n for d, hours in enumerate(result.heatmap) for h, n in enumerate(hours) if n}
    assert busy == {(0, 10): 1, (0, 16): 1, (1, 8): 1, (5, 14): 1}  # UTC would be 8, 14, 6, 12


def test_filters_team_and_channel(in_acme):
    build(in_acme)
    _rebuild(in_acme)
    result, _ = _report(in_acme, source="portal")
    assert (result.overall.created, result.overall.resolved, result.overall.reopened) == (1, 1, 1)
    assert [d[1:] for d in result.days][:3] == [(1, 0, 1), (0, 0, 1), (0, 1, 0)]
    result, _ = _report(in_acme, team_ids=(in_acme.team.pk,))
    assert (result.overall.created, result.overall.resolved) == (3, 3)
    assert [d[3] for d in result.days] == [1, 2, 1, 1, 1, 1, 1]


def test_the_beats_refresh_gives_the_same_figures_as_a_rebuild(in_acme):
    build(in_acme)
    with time_machine.travel(date(2026, 6, 8), tick=False):
        refreshed = rollups_refresh()
    assert refreshed == 5
    _, by_refresh = _report(in_acme)
    counts = sorted(DailyCount.objects.values_list("day", "created", "resolved", "source"))
    _rebuild(in_acme)
    _, by_rebuild = _report(in_acme)
    assert {k: t.rows for k, t in by_refresh.items()} == {k: t.rows for k, t in by_rebuild.items()}
    assert sorted(DailyCount.objects.values_list("day", "created", "resolved", "source")) == counts


def test_refresh_picks_up_a_later_change_and_moves_its_days(in_acme):
    tickets = build(in_acme)
    with time_machine.travel(date(2026, 6, 8), tick=False):
        rollups_refresh()
    # T3 is resolved on Monday 8 June: the 8th gains a resolution, nothing else moves.
    _status(tickets["t3"], "Resolved", "2026-06-08 09:00", in_acme.admin)
    with time_machine.travel(date(2026, 6, 9), tick=False):
        assert rollups_refresh() == 1
    day = DailyCount.objects.filter(day=date(2026, 6, 8)).values_list("created", "resolved")
    assert list(day) == [(0, 1)]
    fact = TicketFact.objects.get(ticket_id=tickets["t3"].pk)
    assert (str(fact.resolved_day), fact.resolution_seconds) == ("2026-06-08", 2 * 86400 - 5 * 3600)


def test_refresh_leaves_settling_events_to_the_next_run(in_acme):
    with at("2026-06-01 10:00"):
        ticket = make_ticket(in_acme.org)
        rollups_refresh()
        cursor = RollupCursor.objects.get()
    # The ticket's events are younger than SETTLE: counted, but read again next time.
    assert cursor.last_event_id == 0
    assert TicketFact.objects.filter(ticket_id=ticket.pk).count() == 1
    with at("2026-06-01 10:05"):
        rollups_refresh()
    assert RollupCursor.objects.get().last_event_id > 0
    assert TicketFact.objects.filter(ticket_id=ticket.pk).count() == 1


def test_another_tenants_tickets_are_never_counted(acme, globex):
    with acme.scope():
        build(acme)
    with globex.scope(), at("2026-06-02 10:00"):
        make_ticket(globex.org, email="x@globex.test")
    with time_machine.travel(date(2026, 6, 8), tick=False):
        rollups_refresh()
    with globex.scope():
        result = report(Filters(START, END))
        assert result.overall.created == 1
        assert TicketFact.objects.count() == 1
    with acme.scope():
        result = report(Filters(START, END))
        assert result.overall.created == 4
        assert Ticket.objects.count() == 5


def test_the_tasks_run_the_services(in_acme):
    from reports import tasks

    build(in_acme)
    with time_machine.travel(date(2026, 6, 8), tick=False):
        assert tasks.refresh.apply().get() == 5
    TicketFact.objects.all().delete()
    done = tasks.rebuild.apply(
        kwargs={"organization_id": in_acme.org.pk, "start": "2026-06-01", "end": "2026-06-07"}
    ).get()
    assert done == 5  # T5 was open into the range
    assert TicketFact.objects.count() == 5


def test_a_rebuild_refuses_to_run_outside_its_tenants_scope(acme, globex):
    with globex.scope(), pytest.raises(ValueError, match="inside the scope"):
        rollups_rebuild(organization_id=acme.org.pk, start=START, end=END)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [([], 0.5, None), ([7], 0.9, 7), ([1, 2], 0.5, 1.5), ([4, 1, 3, 2], 0.9, 3.7), ([5, 1], 0, 1)],
)
def test_percentiles_interpolate_like_percentile_cont(values, p, expected):
    got = interpolated(values, p)
    assert got == (None if expected is None else pytest.approx(expected))


def test_the_rebuild_command(acme):
    with acme.scope():
        build(acme)
    out = io.StringIO()
    call_command(
        "reports_rebuild",
        "--tenant",
        "acme",
        "--start",
        "2026-06-01",
        "--end",
        "2026-06-07",
        stdout=out,
    )
    assert out.getvalue() == "rebuilt the facts of 5 ticket(s), 2026-06-01 to 2026-06-07\n"
    with acme.scope():
        assert TicketFact.objects.count() == 5
    with pytest.raises(CommandError, match="no tenant 'nope'"):
        call_command("reports_rebuild", "--tenant", "nope")
