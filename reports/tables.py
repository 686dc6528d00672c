"""A report's numbers as tables of text, one per chart: the page prints them under the charts
and the CSV download writes the same cells, so the two cannot disagree."""

import csv
import io
from dataclasses import dataclass

from reports.selectors import Figures, Report
from sla.models import Target

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Table:
    name: str  # the chart's name in ?format=csv&chart=<name>
    title: str
    headers: list[str]
    rows: list[list[str]]

    def csv(self) -> str:
        """The same cells, except that a name a spreadsheet would run as a formula (a user
        called "=HYPERLINK(...)") is written with a leading apostrophe (OWASP, CSV injection)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.headers)
        writer.writerows([[_inert(cell) for cell in row] for row in self.rows])
        return out.getvalue()


def _inert(cell: str) -> str:
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell


FORMULA_STARTS = frozenset("=+-@\t\r")


def duration(seconds: float | None) -> str:
    """Hours and minutes, "26:05" (rounded to the minute); empty when there is nothing."""
    if seconds is None:
        return ""
    minutes = round(seconds / 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def tables(report: Report, *, team_names: dict, agent_names: dict) -> dict[str, Table]:
    """Every table of the page by its chart's name, in page order."""
    built = [
        _volume(report),
        _backlog(report),
        _times(report.overall),
        _sla(report.overall),
        _groups("teams", "By team", "Team", report.by_team, team_names, "No team"),
        _groups("agents", "By agent", "Agent", report.by_agent, agent_names, "Unassigned"),
        _heatmap(report),
    ]
    return {table.name: table for table in built}


def _volume(report: Report) -> Table:
    rows = [[d.isoformat(), str(created), str(resolved)] for d, created, resolved, _ in report.days]
    return Table("volume", "Created and resolved per day", ["Day", "Created", "Resolved"], rows)


def _backlog(report: Report) -> Table:
    rows = [[d.isoformat(), str(backlog)] for d, _, _, backlog in report.days]
    return Table("backlog", "Open tickets at the end of each day", ["Day", "Open"], rows)


def _times(overall: Figures) -> Table:
    rows = [
        [
            "First response",
            str(overall.first_response_count),
            duration(overall.first_response_median),
            duration(overall.first_response_p90),
        ],
        [
            "Resolution",
            str(overall.resolution_count),
            duration(overall.resolution_median),
            duration(overall.resolution_p90),
        ],
    ]
    headers = ["Measure", "Tickets", "Median (h:mm)", "90th percentile (h:mm)"]
    return Table("times", "First response and resolution time", headers, rows)


def _sla(overall: Figures) -> Table:
    rows = []
    for target in Target:
        met, breached = overall.sla.get(target.value, (0, 0))
        rows.append(
            [target.label, str(met), str(breached), percent(Figures.compliance(met, breached))]
        )
    headers = ["Target", "Met", "Breached", "Compliance (%)"]
    return Table("sla", "SLA compliance per target", headers, rows)


GROUP_HEADERS = [
    "Created",
    "Resolved",
    "First response median (h:mm)",
    "Resolution median (h:mm)",
    "Reopen rate (%)",
    "Replies per ticket",
    "SLA compliance (%)",
]


def _groups(name, title, label, groups: dict, names: dict, nobody: str) -> Table:
    rows = []
    for key, figures in sorted(groups.items(), key=lambda kv: _name(names, kv[0], nobody).lower()):
        rows.append(
            [
                _name(names, key, nobody),
                str(figures.created),
                str(figures.resolved),
                duration(figures.first_response_median),
                duration(figures.resolution_median),
                percent(figures.reopen_rate),
                ratio(figures.replies_per_ticket),
                percent(Figures.compliance(figures.sla_met, figures.sla_breached)),
            ]
        )
    return Table(name, title, [label, *GROUP_HEADERS], rows)


def _name(names: dict, key, nobody: str) -> str:
    if key is None:
        return nobody
    return names.get(key, f"(removed {key})")


def _heatmap(report: Report) -> Table:
    rows = [[WEEKDAYS[n], *(str(v) for v in hours)] for n, hours in enumerate(report.heatmap)]
    headers = ["Weekday", *(f"{h:02d}" for h in range(24))]
    return Table("hours", "Tickets created by weekday and hour", headers, rows)
