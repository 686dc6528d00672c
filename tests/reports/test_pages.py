"""The reports page: who may see it (admins, team managers for their teams; others 404), the
figures and charts on it, each table's CSV equal to the table as the page shows it, bad
parameters as a clear 400, another tenant's teams and tickets out of reach, and a fixed number
of queries however many tickets."""

import csv
import io
from datetime import date
from html.parser import HTMLParser

import pytest
import time_machine
from django.db.models import F

from reports.models import RollupState
from reports.services import rollups_rebuild, rollups_refresh
from tenants import services as tenant_services
from tenants.models import TeamMember
from tests.factories import make_ticket
from tests.reports.data import DAYS, at, build

URL = "/agent/reports/"
WEEK = "?start=2026-06-01&end=2026-06-07"
CHARTS = ("volume", "backlog", "times", "sla", "teams", "agents", "hours")


@pytest.fixture
def data(acme):
    with acme.scope():
        tickets = build(acme)
        rollups_rebuild(organization_id=acme.org.pk, start=date(2026, 5, 1), end=date(2026, 6, 7))
    return tickets


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(date(2026, 6, 10), tick=False):
        yield


class _Tables(HTMLParser):
    """Each report section's table as rows of cell texts, by the section's chart name."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: dict[str, str] = {}
        self.section = None
        self.row = None
        self.cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and (attrs.get("id") or "").startswith("chart-"):
            self.section = attrs["id"][len("chart-") :]
            self.tables[self.section] = []
        elif tag == "tr" and self.section:
            self.row = []
        elif tag in ("th", "td") and self.row is not None:
            self.cell = []
        elif tag == "a" and self.section and "download" in attrs:
            self.links[self.section] = attrs["href"]

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[self.section].append(self.row)
            self.row = None
        elif tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def page_tables(response) -> dict[str, list[list[str]]]:
    return _parsed(response).tables


def _parsed(response) -> _Tables:
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser


def test_admin_sees_the_figures_and_charts(acme, data):
    response = acme.client(acme.admin).get(URL + WEEK)
    assert response.status_code == 200
    shown = page_tables(response)
    assert list(shown) == list(CHARTS)
    assert shown["volume"][1:] == [[d, str(c), str(r)] for d, c, r, _ in DAYS]
    assert shown["times"][1:] == [
        ["First response", "3", "1:00", "1:24"],
        ["Resolution", "3", "5:30", "9:54"],
    ]
    body = response.content.decode()
    assert "Figures as of 10 Jun 2026 02:00." in body  # written at midnight UTC, shown in Berlin
    assert body.count('<svg class="chart') == 5
    assert "<script" not in body.split('<main id="main"')[1].split("</main>")[0]


def test_each_csv_equals_the_table_on_the_page(acme, data):
    client = acme.client(acme.admin)
    page = _parsed(client.get(URL + WEEK + "&channel="))
    shown = page.tables
    assert (
        page.links["volume"]
        == "?start=2026-06-01&end=2026-06-07&team=&channel=&format=csv&chart=volume"
    )
    for chart in CHARTS:
        response = client.get(URL + page.links[chart])
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert f"{chart}-20260601-20260607.csv" in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows == shown[chart], chart


def test_team_filter_and_channel_filter_on_the_page(acme, data):
    client = acme.client(acme.admin)
    shown = page_tables(client.get(URL + WEEK + f"&team={acme.team.pk}&channel=portal"))
    assert shown["volume"][1:4] == [
        ["2026-06-01", "1", "0"],
        ["2026-06-02", "0", "0"],
        ["2026-06-03", "0", "1"],
    ]
    assert [row[0] for row in shown["teams"][1:]] == ["Support"]


def test_a_team_manager_sees_only_their_teams(acme, data):
    with acme.scope():
        manager = tenant_services.user_get_or_create(email="lead@acme.test", password="pw")
        tenant_services.membership_add(organization=acme.org, user=manager, role="agent")
        TeamMember.objects.create(
            organization=acme.org, team=acme.team, user=manager, is_manager=True
        )
        other = tenant_services.team_create(organization=acme.org, name="Billing")
    client = acme.client(manager)
    response = client.get(URL + WEEK)
    assert response.status_code == 200
    # "All my teams": Support only, so the ticket without a team is left out.
    assert [row[0] for row in page_tables(response)["teams"][1:]] == ["Support"]
    refused = client.get(URL + WEEK + f"&team={other.pk}")
    assert refused.status_code == 400
    assert "Select a valid choice" in refused.content.decode()


def test_agents_who_manage_no_team_get_404_and_visitors_the_sign_in(acme, data):
    assert acme.client(acme.agent).get(URL).status_code == 404
    anonymous = acme.client().get(URL)
    assert anonymous.status_code == 302
    assert "/login" in anonymous["Location"] or "login" in anonymous["Location"]


def test_another_tenants_admin_sees_only_their_own(acme, globex, data):
    with globex.scope():
        with at("2026-06-02 10:00"):
            make_ticket(globex.org, email="x@globex.test")
        rollups_rebuild(organization_id=globex.org.pk, start=date(2026, 6, 1), end=date(2026, 6, 7))
    client = globex.client(globex.admin)
    shown = page_tables(client.get(URL + WEEK))
    assert sum(int(row[1]) for row in shown["volume"][1:]) == 1
    # Acme's team is no choice of globex's; acme's admin is no member of globex.
    assert client.get(URL + WEEK + f"&team={acme.team.pk}").status_code == 400
    assert globex.client(acme.admin).get(URL + WEEK).status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?start=yesterday", "Enter a valid date."),
        ("?start=2026-06-07&end=2026-06-01", "The start date must not be after the end date."),
        ("?start=2020-01-01&end=2026-06-01", "Choose a range of at most 731 days."),
        ("?end=0001-01-01", "Choose a start date."),
        ("?team=abc", "Select a valid choice."),
        ("?team=999999", "Select a valid choice."),
        ("?channel=pigeon", "Select a valid choice."),
        ("?format=xml", "The format must be html or csv."),
        ("?format=csv&chart=nope", "Choose the chart to download: one of volume, backlog"),
        ("?format=csv", "Choose the chart to download"),
        ("?start=2026-13-45", "Enter a valid date."),
        ("?start=%00", "Enter a valid date."),
    ],
)
def test_bad_parameters_are_a_clear_400(acme, query, message):
    response = acme.client(acme.admin).get(URL + query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_defaults_to_the_last_30_days_in_the_tenants_zone(acme, data):
    response = acme.client(acme.admin).get(URL)
    assert response.status_code == 200
    volume = page_tables(response)["volume"]
    assert (volume[1][0], volume[-1][0], len(volume) - 1) == ("2026-05-12", "2026-06-10", 30)


def _queries(acme, client, django_assert_num_queries):
    """The page's queries with its report computed, and with the report from the cache."""
    with acme.scope():  # a new version of the rollups: the cached report no longer applies
        RollupState.objects.update(version=F("version") + 1)
    with django_assert_num_queries(UNCACHED):
        assert client.get(URL + WEEK).status_code == 200
    with django_assert_num_queries(CACHED):
        assert client.get(URL + WEEK).status_code == 200


# Tenant, user, membership, the teams; the rollups' version; seven of the report (uncached);
# the agents' names; the rail's teams.
UNCACHED, CACHED = 14, 7


def test_the_page_takes_a_fixed_number_of_queries(acme, data, django_assert_num_queries):
    client = acme.client(acme.admin)
    client.get(URL + WEEK)
    _queries(acme, client, django_assert_num_queries)
    with acme.scope():
        for n in range(30):
            with at(f"2026-06-0{1 + n % 7} 1{n % 10}:00"):
                make_ticket(acme.org, email=f"c{n}@c.test", assignee=acme.agent if n % 2 else None)
        rollups_rebuild(organization_id=acme.org.pk, start=date(2026, 6, 1), end=date(2026, 6, 7))
    _queries(acme, client, django_assert_num_queries)


def test_a_cached_report_gives_way_to_new_rollups(acme, data):
    client = acme.client(acme.admin)
    assert page_tables(client.get(URL + WEEK))["volume"][2] == ["2026-06-02", "1", "0"]
    with acme.scope():
        with at("2026-06-02 12:00"):
            make_ticket(acme.org, email="late@c.test")
        with time_machine.travel(date(2026, 6, 10), tick=False):
            rollups_refresh()
    assert page_tables(client.get(URL + WEEK))["volume"][2] == ["2026-06-02", "2", "0"]


def test_reports_is_in_the_settings_navigation(acme):
    body = acme.client(acme.admin).get("/settings/").content.decode()
    assert 'href="/agent/reports/"' in body


def test_a_name_a_spreadsheet_would_run_is_defused_in_the_csv(acme, data):
    with acme.scope():
        acme.agent.name = "=HYPERLINK(1)"
        acme.agent.save(update_fields=["name"])
    client = acme.client(acme.admin)
    assert page_tables(client.get(URL + WEEK))["agents"][1][0] == "=HYPERLINK(1)"
    rows = list(
        csv.reader(
            io.StringIO(client.get(URL + WEEK + "&format=csv&chart=agents").content.decode())
        )
    )
    assert rows[1][0] == "'=HYPERLINK(1)"
