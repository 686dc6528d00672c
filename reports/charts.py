"""The charts' geometry for the SVG the templates draw: pure functions from numbers to
coordinates (no HTML here; the templates escape every label), and `report_charts`, a report's
charts by name. Sizes are in the SVG's own units; the page scales it to its width."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from reports.selectors import Report
from reports.tables import WEEKDAYS, duration
from sla.models import Target

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in SVG units
    label: str


@dataclass(frozen=True)
class Line:
    name: str
    css: str  # the stroke's class in reports.css
    points: str  # "x,y x,y ..." for <polyline>


@dataclass
class LineChart:
    title: str
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = TOP + PLOT_H


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 5 times a power of ten that is at least `value` (1 for 0)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(int(m * power) for m in (1, 2, 5, 10) if m * power >= value)


def line_chart(title: str, days: list[date], series: list[tuple[str, str, list[int]]]) -> LineChart:
    """One line per (name, css class, values per day)."""
    top = nice_ceiling(max((v for _, _, values in series for v in values), default=0))
    step = PLOT_W / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return round(TOP + PLOT_H * (1 - value / top), 1)

    lines = [
        Line(
            name, css, " ".join(f"{round(LEFT + i * step, 1)},{y(v)}" for i, v in enumerate(values))
        )
        for name, css, values in series
    ]
    steps = min(4, top)  # whole numbers only: a count of 2 has no tick at 1.5
    y_ticks = [Tick(y(top * k / steps), _number(top * k / steps)) for k in range(steps + 1)]
    every = max(1, math.ceil(len(days) / MAX_X_LABELS))
    x_ticks = [
        Tick(round(LEFT + i * step, 1), f"{d:%b} {d.day}")
        for i, d in enumerate(days)
        if i % every == 0
    ]
    return LineChart(title, lines, y_ticks, x_ticks)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


@dataclass(frozen=True)
class Bar:
    label: str
    css: str
    x: float
    y: float
    width: float
    height: float
    text: str  # the value written beside the bar


@dataclass
class BarChart:
    title: str
    bars: list[Bar]
    labels: list[Tick]  # the rows' names, at their y
    width: int = WIDTH
    height: int = HEIGHT
    left: int = 160


BarRow = tuple[str, list[tuple[str, str, float | None, str]]]  # label, its bars


def bar_chart(title: str, rows: Sequence[BarRow], *, scale: float | None = None) -> BarChart:
    """Horizontal bars: per row (its label, its bars as (name, css, value, text)); every bar
    of the chart on one scale, up to `scale` (else the largest value)."""
    left, row_h, bar_h = 160, 34, 12
    top = scale or max((v or 0 for _, bars in rows for _, _, v, _ in bars), default=0) or 1
    span = WIDTH - left - 190  # room for the longest value text after the longest bar
    out, labels = [], []
    for r, (label, bars) in enumerate(rows):
        base = TOP + r * row_h
        labels.append(Tick(base + row_h / 2, label))
        for b, (name, css, value, text) in enumerate(bars):
            w = round(span * (value or 0) / top, 1)
            out.append(Bar(name, css, left, base + 4 + b * (bar_h + 2), w, bar_h, text))
    height = TOP + row_h * len(rows) + 8
    return BarChart(title, out, labels, height=height, left=left)


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    level: int  # 0 (none) .. 5 (the busiest hour), the fill's class
    title: str


@dataclass
class Heatmap:
    title: str
    cells: list[Cell]
    rows: list[Tick]
    columns: list[Tick]
    size: int = 24
    left: int = 40
    top: int = 18
    width: int = 40 + 24 * 26
    height: int = 18 + 7 * 26 + 4
    levels: list[int] = field(default_factory=lambda: list(range(6)))


def heatmap(title: str, grid: list[list[int]], weekdays: tuple[str, ...]) -> Heatmap:
    busiest = max((v for row in grid for v in row), default=0)
    cells = []
    for d, hours in enumerate(grid):
        for h, value in enumerate(hours):
            level = math.ceil(5 * value / busiest) if busiest else 0
            title_text = f"{weekdays[d]} {h:02d}:00: {value}"
            cells.append(Cell(40 + h * 26, 18 + d * 26, level, title_text))
    rows = [Tick(18 + d * 26 + 16, name[:3]) for d, name in enumerate(weekdays)]
    columns = [Tick(40 + h * 26 + 12, f"{h:02d}") for h in range(0, 24, 3)]
    return Heatmap(title, cells, rows, columns)


def report_charts(report: Report) -> dict:
    """The page's charts by the names of their tables."""
    days = [d for d, *_ in report.days]
    return {
        "volume": line_chart(
            "Created and resolved per day",
            days,
            [
                ("Created", "created", [c for _, c, _, _ in report.days]),
                ("Resolved", "resolved", [r for _, _, r, _ in report.days]),
            ],
        ),
        "backlog": line_chart(
            "Open tickets at the end of each day",
            days,
            [("Open", "open", [b for *_, b in report.days])],
        ),
        "times": bar_chart("First response and resolution time", _times(report)),
        "sla": bar_chart("SLA compliance per target", _sla(report), scale=100),
        "hours": heatmap("Tickets created by weekday and hour", report.heatmap, WEEKDAYS),
    }


def _times(report: Report) -> list[BarRow]:
    o = report.overall
    measures = (
        ("First response", o.first_response_median, o.first_response_p90),
        ("Resolution", o.resolution_median, o.resolution_p90),
    )
    return [
        (
            label,
            [
                ("Median", "median", median, _hours(median)),
                ("90th percentile", "p90", p90, _hours(p90)),
            ],
        )
        for label, median, p90 in measures
    ]


def _sla(report: Report) -> list[BarRow]:
    rows: list[BarRow] = []
    for target in Target:
        met, breached = report.overall.sla.get(target.value, (0, 0))
        share = report.overall.compliance(met, breached)
        text = "no timers" if share is None else f"{share:.1f}% met"
        rows.append((target.label, [("Compliance", "met", share or 0, text)]))
    return rows


def _hours(seconds: float | None) -> str:
    return "none" if seconds is None else f"{duration(seconds)} h"
