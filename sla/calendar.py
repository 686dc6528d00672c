"""Business time: `BusinessCalendar`, a pure value (no database, no Django) that adds business
minutes to an instant and counts the business seconds between two instants.

Business time is every instant whose wall-clock time in the calendar's zone lies inside a
working interval of that local date (the weekday's intervals, or the holiday's when the date is
one). So a working hour repeated when the clocks go back counts twice, and one skipped when
they go forward counts zero; a local date that does not exist (Pacific/Apia skipped
2011-12-30) contributes nothing.

How it is computed: the time line is cut into blocks of four weeks of UTC seconds. A block is
built once, and cached for every equal calendar in the process: the zone's constant-offset
segments are found by probing the offset every six hours and bisecting to the second where it
changes, every local date that can touch the block maps each of its intervals through each
segment to a piece of UTC time, and the pieces are sorted, merged and summed (`starts`, `ends`,
`before`: business seconds in the block before each piece). `add` and `between` then bisect
inside a block and skip whole blocks by their totals, so nothing walks minute by minute, and
weeks with a DST change count as they are (a block total is exact, not seven times a weekday
sum). The probe assumes the offset changes at most once in six hours: true of every zone's
changes since 1900 in the tz database's files.

Semantics at the edges, chosen so that the two operations agree and add up:
- `add(start, minutes)` is the working instant at which `minutes` business minutes have run
  since `start`: the last instant `t` with `between(start, t) == minutes * 60`. A target reached
  exactly when an interval closes (17:00 on Friday) is therefore due when the next one opens
  (09:00 on Monday): the same business time, and no deadline ever falls outside working hours.
  `add(start, 0)` is `start` inside working time, else the next working instant. Then
  `add(add(s, a), b) == add(s, a + b)` for every a, b >= 0.
- `between(a, b)` counts business seconds in [a, b); it is 0 when b <= a (a timer read before
  it started has used nothing). Instants with fractions of a second count the whole business
  seconds completed since the calendar's origin at b minus those at a, so that
  `between(a, m) + between(m, b) == between(a, b)` holds to the second.
- Results are aware datetimes in UTC (`astimezone(calendar.zone)` for display): comparisons of
  datetimes sharing one zone ignore `fold`, which would misorder a repeated hour.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["BusinessCalendar", "CalendarError", "NoWorkingTime", "parse_intervals"]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY = 86_400
BLOCK = 28 * DAY  # UTC seconds per cached block
PROBE = 6 * 3600  # the offset is assumed to change at most once per probe step
REACH = 2 * DAY  # any zone's offset is under a day: dates this far around a block can touch it
MAX_BLOCKS = 4096  # cached blocks per calendar (about 300 years); the cache is cleared beyond
MAX_SHARED = 128  # calendars whose blocks are kept; the oldest is dropped beyond
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
ONE_US = timedelta(microseconds=1)
US = 1_000_000
# Range of instants the calendar answers for (datetime's own limits, with room for offsets).
FIRST_SECOND = (date(2, 1, 1).toordinal() - EPOCH_ORDINAL) * DAY
LAST_SECOND = (date(9998, 12, 31).toordinal() - EPOCH_ORDINAL) * DAY
# Loadable but not places: the host's own zone and tzdata's placeholder.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})
# Every valid "HH:MM" (looked up rather than parsed: services build calendars per ticket).
TIMES = {f"{h:02d}:{m:02d}": h * 3600 + m * 60 for h in range(24) for m in range(60)}

Interval = tuple[int, int]  # seconds after local midnight, [start, end)
Day = tuple[Interval, ...]


class CalendarError(ValueError):
    """A calendar that cannot be built or asked; the message is fit to show in a form."""

    def __init__(self, message: str, *, field: str = ""):
        super().__init__(message)
        self.message = message
        self.field = field  # "tz", "weekly" or "holidays", for forms that attach errors


class NoWorkingTime(CalendarError):
    """The calendar has no working time after the instant asked about."""


@dataclass(frozen=True, slots=True)
class _Block:
    starts: list[int]  # UTC seconds, sorted
    ends: list[int]
    before: list[int]  # business seconds in the block before each piece
    total: int


# -- plain data in -----------------------------------------------------------------------------


def _seconds(text: Any, label: str, *, end: bool) -> int:
    found = TIMES.get(text) if isinstance(text, str) else None
    if found is None and end and text == "24:00":
        found = DAY
    if found is None:
        hint = '"HH:MM" from 00:00 to 23:59' + (', or "24:00"' if end else "")
        raise CalendarError(f"{label}: {text!r} is not a time ({hint}).")
    return found


def _text(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_intervals(raw: Any, label: str) -> Day:
    """One day's intervals from plain data (`[("09:00", "12:30"), ...]`), sorted; raises
    CalendarError naming `label` ("Monday", "2026-12-24") for a bad time, an interval that
    does not end after it starts, or two that overlap (touching ones are merged)."""
    if not isinstance(raw, list | tuple):
        raise CalendarError(f"{label}: intervals must be a list of (start, end) pairs.")
    parsed = []
    for pair in raw:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise CalendarError(f"{label}: {pair!r} is not a (start, end) pair.")
        start, end = _seconds(pair[0], label, end=False), _seconds(pair[1], label, end=True)
        if end <= start:
            raise CalendarError(f"{label}: {pair[0]}-{pair[1]} must end after it starts.")
        parsed.append((start, end))
    parsed.sort()
    merged: list[Interval] = []
    for start, end in parsed:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            raise CalendarError(
                f"{label}: {_text(start)}-{_text(end)} overlaps {_text(last[0])}-{_text(last[1])}."
            )
        if merged and start == merged[-1][1]:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return tuple(merged)


@cache
def _places() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_PLACES


def _zone(key: Any) -> ZoneInfo:
    if not isinstance(key, str) or key not in _places():
        raise CalendarError(f"Unknown time zone {key!r}.", field="tz")
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise CalendarError(f"Unknown time zone {key!r}.", field="tz") from exc


def _weekday(key: Any) -> int:
    if isinstance(key, str) and key.isdigit():
        key = int(key)
    if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key <= 6:
        raise CalendarError(f"{key!r} is not a weekday (0 is Monday .. 6 Sunday).", field="weekly")
    return key


def _holiday(key: Any) -> date:
    if isinstance(key, str):
        with suppress(ValueError):  # left as text, and refused below
            key = date.fromisoformat(key)
    if isinstance(key, datetime) or not isinstance(key, date):
        raise CalendarError(f"{key!r} is not a date (YYYY-MM-DD).", field="holidays")
    return key


def _with_field(field: str, raw: Any, label: str) -> Day:
    try:
        return parse_intervals(raw, label)
    except CalendarError as exc:
        raise CalendarError(exc.message, field=field) from None


# -- the value ---------------------------------------------------------------------------------


class BusinessCalendar:
    """A time zone, working intervals per weekday (0 is Monday) and holidays (a date mapped to
    its own intervals, empty when closed). See the module docstring for the rules."""

    __slots__ = ("_blocks", "_days", "_holidays", "_key", "_last_holiday", "tz", "zone")

    def __init__(
        self,
        *,
        tz: str,
        weekly: Mapping[Any, Any],
        holidays: Mapping[Any, Any] | None = None,
    ):
        self.zone = _zone(tz)
        self.tz: str = tz
        if not isinstance(weekly, Mapping):
            raise CalendarError("The weekly hours must map weekdays to intervals.", field="weekly")
        days: list[Day] = [(), (), (), (), (), (), ()]
        for key, raw in weekly.items():
            day = _weekday(key)
            days[day] = _with_field("weekly", raw, WEEKDAYS[day])
        self._days = tuple(days)
        if holidays is not None and not isinstance(holidays, Mapping):
            raise CalendarError("Holidays must map dates to intervals.", field="holidays")
        parsed: dict[date, Day] = {}
        for key, raw in (holidays or {}).items():
            when = _holiday(key)
            parsed[when] = _with_field("holidays", raw, when.isoformat())
        self._holidays = parsed
        working = [d for d, day in parsed.items() if day]
        self._last_holiday = max(working).toordinal() if working else 0
        self._key = (tz, self._days, tuple(sorted(parsed.items())))
        self._blocks = _shared_blocks(self._key)

    # -- plain data out and back (JSON storage) ------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {"tz": ..., "weekly": {"0": [["09:00", "12:30"], ...], ...},
        "holidays": {"2026-12-25": [], ...}}."""
        return {
            "tz": self.tz,
            "weekly": {str(n): _pairs(day) for n, day in enumerate(self._days)},
            "holidays": {d.isoformat(): _pairs(self._holidays[d]) for d in sorted(self._holidays)},
        }

    @classmethod
    def from_dict(cls, data: Any) -> BusinessCalendar:
        """The inverse of `to_dict`; raises CalendarError on anything malformed."""
        if not isinstance(data, Mapping) or "tz" not in data:
            raise CalendarError("A calendar needs a time zone and weekly hours.")
        return cls(tz=data["tz"], weekly=data.get("weekly") or {}, holidays=data.get("holidays"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"BusinessCalendar(tz={self.tz!r}, weekly={self.to_dict()['weekly']!r}, ...)"

    def intervals_on(self, day: date) -> list[tuple[str, str]]:
        """The working intervals of a local date, as "HH:MM" pairs (a holiday's own)."""
        return [(_text(s), _text(e)) for s, e in self._local(day.toordinal())]

    # -- the operations ------------------------------------------------------------------------

    def add(self, start: datetime, minutes: int) -> datetime:
        """The working instant at which `minutes` business minutes have run since `start`."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
            raise ValueError(f"minutes must be a whole number >= 0, not {minutes!r}")
        return self.add_seconds(start, minutes * 60)

    def add_seconds(self, start: datetime, seconds: int) -> datetime:
        """As `add`, in business seconds (a pause moves a due time by its business seconds)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise ValueError(f"seconds must be a whole number >= 0, not {seconds!r}")
        second, fraction = divmod(_micros(start), US)
        key = second // BLOCK
        block = self._block(key)
        i = bisect_right(block.ends, second)
        if i < len(block.starts) and block.starts[i] <= second:
            want = block.before[i] + second - block.starts[i] + seconds
        else:  # outside working time: counting begins at the next working instant
            fraction = 0
            want = (block.before[i] if i < len(block.starts) else block.total) + seconds
        while want >= block.total:  # the target lies in a later block
            want -= block.total
            key += 1
            block = self._block(key)
            self._check_ahead(key, block)
        j = bisect_right(block.before, want) - 1
        at = block.starts[j] + want - block.before[j]
        return EPOCH + timedelta(seconds=at, microseconds=fraction)

    def between(self, a: datetime, b: datetime) -> int:
        """Business seconds in [a, b); 0 when b <= a. Exact for whole-second instants; with
        fractions it counts the business seconds' marks passed, so it stays additive."""
        first, last = _micros(a), _micros(b)
        if last <= first:
            return 0
        first_key, last_key = first // US // BLOCK, last // US // BLOCK
        # Whole seconds of each position, then the difference: additive over [a, m) + [m, b).
        spent = self._position(last_key, last) // US - self._position(first_key, first) // US
        for key in range(first_key, last_key):
            spent += self._block(key).total
        return spent

    def is_working(self, instant: datetime) -> bool:
        """Whether `instant` lies inside working time."""
        second = _micros(instant) // US
        block = self._block(second // BLOCK)
        i = bisect_right(block.ends, second)
        return i < len(block.starts) and block.starts[i] <= second

    def next_working_instant(self, instant: datetime) -> datetime:
        """`instant` itself inside working time, else the start of the next working interval
        (raises NoWorkingTime when there is none); in UTC."""
        return self.add_seconds(instant, 0)

    # -- blocks ----------------------------------------------------------------------------------

    def _position(self, key: int, micros: int) -> int:
        """Business microseconds from the block's start to `micros` (inside block `key`)."""
        block = self._block(key)
        second = micros // US
        i = bisect_right(block.ends, second)
        if i < len(block.starts) and block.starts[i] <= second:
            return (block.before[i] + second - block.starts[i]) * US + micros % US
        return (block.before[i] if i < len(block.starts) else block.total) * US

    def _check_ahead(self, key: int, block: _Block) -> None:
        """Stops a search that can never end: no weekly hours and past the last holiday."""
        if block.total or any(self._days):
            return
        first_date = EPOCH_ORDINAL + (key * BLOCK - REACH) // DAY
        if first_date > self._last_holiday:
            raise NoWorkingTime("The calendar has no working time after this instant.")

    def _block(self, key: int) -> _Block:
        block = self._blocks.get(key)
        if block is None:
            if len(self._blocks) >= MAX_BLOCKS:
                self._blocks.clear()
            block = self._blocks[key] = self._build(key)
        return block

    def _build(self, key: int) -> _Block:
        low, high = key * BLOCK, (key + 1) * BLOCK
        if low < FIRST_SECOND or high > LAST_SECOND:
            raise NoWorkingTime("The instant is outside the range the calendar answers for.")
        segments = self._segments(low, high)
        pieces = []
        for ordinal in range(EPOCH_ORDINAL + (low - REACH) // DAY, EPOCH_ORDINAL + high // DAY + 3):
            midnight = (ordinal - EPOCH_ORDINAL) * DAY
            for start, end in self._local(ordinal):
                for seg_start, seg_end, offset in segments:
                    a = max(seg_start, midnight + start - offset, low)
                    b = min(seg_end, midnight + end - offset, high)
                    if a < b:
                        pieces.append((a, b))
        return _pack(pieces)

    def _local(self, ordinal: int) -> Day:
        day = date.fromordinal(ordinal)
        found = self._holidays.get(day)
        return self._days[day.weekday()] if found is None else found

    def _segments(self, low: int, high: int) -> list[tuple[int, int, int]]:
        """[(from, to, offset)] covering UTC seconds [low, high), offset constant in each."""
        segments = []
        start, offset = low, self._offset(low)
        probe = low
        while probe < high:
            step = min(probe + PROBE, high)
            if self._offset(step) != offset:
                change = self._change(probe, step, offset)
                segments.append((start, change, offset))
                start, offset = change, self._offset(change)
            probe = step
        segments.append((start, high, offset))
        return segments

    def _change(self, low: int, high: int, offset: int) -> int:
        """The first second in (low, high] whose offset differs from `offset` (at low)."""
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(middle) == offset:
                low = middle
            else:
                high = middle
        return high

    def _offset(self, second: int) -> int:
        local = (EPOCH + timedelta(seconds=second)).astimezone(self.zone)
        offset = local.utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0


_shared: dict[tuple[Any, ...], dict[int, _Block]] = {}
_shared_lock = threading.Lock()


def _shared_blocks(key: tuple[Any, ...]) -> dict[int, _Block]:
    """One block cache for all equal calendars in the process: services build a calendar from
    its rows for each ticket, and a block costs about a millisecond to build."""
    with _shared_lock:
        blocks = _shared.pop(key, None)
        if blocks is None:
            blocks = {}
            if len(_shared) >= MAX_SHARED:
                del _shared[next(iter(_shared))]  # the least recently used
        _shared[key] = blocks  # (re)inserted last: the table is in order of use
        return blocks


def _pack(pieces: list[tuple[int, int]]) -> _Block:
    pieces.sort()
    starts: list[int] = []
    ends: list[int] = []
    before: list[int] = []
    total = 0
    for a, b in pieces:
        if ends and a <= ends[-1]:  # touching (22:00-24:00 then 00:00-02:00): one piece
            total += max(0, b - ends[-1])
            ends[-1] = max(ends[-1], b)
            continue
        starts.append(a)
        ends.append(b)
        before.append(total)
        total += b - a
    return _Block(starts, ends, before, total)


def _pairs(day: Day) -> list[list[str]]:
    return [[_text(s), _text(e)] for s, e in day]


def _micros(instant: datetime) -> int:
    if not isinstance(instant, datetime):
        raise TypeError(f"expected a datetime, not {type(instant).__name__}")
    if instant.utcoffset() is None:
        raise ValueError("naive datetime: business time needs an aware one")
    return (instant - EPOCH) // ONE_US
