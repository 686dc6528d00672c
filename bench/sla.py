"""SLA: the business-hours clock, and the breach scan.

`bench_add` times `BusinessCalendar.add` (sla.calendar, pure Python, no database) on a realistic
calendar: Europe/Berlin, Monday to Friday 09:00-12:30 and 13:30-17:00, the German public
holidays of 2026 and 2027 with half days on 24 and 31 December. Starts are random instants
(to the microsecond) over both years, so DST changes and holidays fall inside many targets;
targets are random, from 1 minute to 30 business days (30 x 7 hours). It prints calls per
second on one calendar (its four-week blocks cached, as in a running process), with a new
calendar built from plain data for every call (as services build one from its rows; equal
calendars share the blocks), and the cost of the first use; a sample is checked against
`between`.

`bench_scan` (the breach scan on PostgreSQL: 1,000,000 open timers across 10 tenants, 1,000
due; p95 of one scan run) is added below, at the marked place. `main()` prints the figures and
ends with exactly one line: `sla: add <N>/s, scan p95 <M> ms` (`n/a` until the scan exists).

    .venv/bin/python bench/sla.py [--calls 200000] [--seed 11]
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

WEEKLY = {d: [("09:00", "12:30"), ("13:30", "17:00")] for d in range(5)} | {5: [], 6: []}
HOLIDAYS = {
    day: []
    for day in [
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 1),
        date(2026, 5, 14),
        date(2026, 5, 25),
        date(2026, 10, 3),
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2027, 1, 1),
        date(2027, 3, 26),
        date(2027, 3, 29),
        date(2027, 5, 1),
        date(2027, 5, 6),
        date(2027, 5, 17),
        date(2027, 10, 3),
        date(2027, 12, 25),
        date(2027, 12, 26),
    ]
} | {
    date(2026, 12, 24): [("09:00", "12:00")],
    date(2026, 12, 31): [("09:00", "12:00")],
    date(2027, 12, 24): [("09:00", "12:00")],
    date(2027, 12, 31): [("09:00", "12:00")],
}
MAX_TARGET = 30 * 7 * 60  # 30 business days of 7 hours, in minutes
ROUNDS = 5


def _calendar():
    from sla.calendar import BusinessCalendar

    return BusinessCalendar(tz="Europe/Berlin", weekly=WEEKLY, holidays=HOLIDAYS)


def _workload(calls: int, seed: int) -> list[tuple[datetime, int]]:
    rng = random.Random(seed)
    origin, span = datetime(2026, 1, 1, tzinfo=UTC), 2 * 365 * 86400 * 10**6
    return [
        (origin + timedelta(microseconds=rng.randrange(span)), rng.randint(1, MAX_TARGET))
        for _ in range(calls)
    ]


def _rate(calendar, work) -> float:
    add = calendar.add
    began = time.perf_counter()
    for start, minutes in work:
        add(start, minutes)
    return len(work) / (time.perf_counter() - began)


def bench_add(calls: int = 200_000, seed: int = 11) -> float:
    """`add` calls per second on one calendar, blocks cached (the median of a few rounds);
    prints that, the rate when every call builds its calendar from plain data (as a service
    does from the rows), and what building the blocks costs on first use."""
    from sla import calendar as module

    work = _workload(calls, seed)
    module._shared.clear()  # as in a new process: no block built yet
    began = time.perf_counter()
    calendar = _calendar()
    for start, minutes in work[:2000]:
        calendar.add(start, minutes)
    blocks = len(module._shared[calendar._key])
    first_use = (time.perf_counter() - began) * 1000
    warm = [_rate(calendar, work) for _ in range(ROUNDS)]
    each = work[: calls // 10]
    began = time.perf_counter()
    for start, minutes in each:
        _calendar().add(start, minutes)
    rebuilt = len(each) / (time.perf_counter() - began)
    for start, minutes in work[:: max(1, calls // 2000)]:
        assert calendar.between(start, calendar.add(start, minutes)) == minutes * 60
    rate = statistics.median(warm)
    print(
        f"add: {calls:,} calls, random starts over 2026-2027 in Europe/Berlin (holidays, DST), "
        f"targets 1 minute to 30 business days"
    )
    print(
        f"  one calendar: {rate:,.0f}/s (median of {ROUNDS} rounds, "
        f"{min(warm):,.0f}-{max(warm):,.0f}); target 50,000/s"
    )
    print(f"  a new calendar from plain data for every call: {rebuilt:,.0f}/s")
    print(f"  first use: {blocks} four-week blocks built with 2,000 calls in {first_use:.0f} ms")
    return rate


# -- the breach scan ---------------------------------------------------------------------------
# Define `bench_scan(args: argparse.Namespace) -> float` here, returning the scan's p95 in
# milliseconds (and printing its details), and add its options in `scan_arguments(parser)`;
# `main()` calls both when they exist.


def scan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fresh", action="store_true", help="rebuild the scan's timers")


def bench_scan(args: argparse.Namespace) -> float:
    """The scan's p95 (ms) at 1,000,000 timers; bench/sla_scan.py holds the work and checks
    the query count equals the one at 10,000 timers."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("the scan is measured on PostgreSQL: set DATABASE_URL=postgres://...")
    from bench.sla_scan import bench_scan as scan
    from bench.sla_scan import prepare

    prepare(url)
    p95, _queries = scan(fresh=args.fresh)
    return p95


# -- end of the breach scan --------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000, help="add calls per round")
    parser.add_argument("--seed", type=int, default=11)
    scan_arguments = globals().get("scan_arguments")
    if scan_arguments:
        scan_arguments(parser)
    args = parser.parse_args()
    added = bench_add(args.calls, args.seed)
    bench_scan = globals().get("bench_scan")
    scan = f"{bench_scan(args):.0f}" if bench_scan else "n/a"
    print(f"sla: add {added:.0f}/s, scan p95 {scan} ms")


if __name__ == "__main__":
    main()
