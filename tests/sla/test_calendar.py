"""BusinessCalendar (sla.calendar), pure: no database.

Property tests compare `add`, `between` and `is_working` with a slow reference written here
that walks the time line minute by minute (or second by second over short ranges) and asks
Python's zoneinfo, instant by instant, for the local date and wall-clock time. Calendars,
zones (with DST, a half-hour shift, a skipped date, UTC+14 and UTC-12), holidays and starts are
random; starts cluster around each zone's transitions. Then hand-checked examples for each
transition, a holiday, work across midnight, UTC+14 and UTC-12, and bad input.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sla.calendar import BusinessCalendar, CalendarError, NoWorkingTime

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    print_blob=True,  # a failure prints how to reproduce it (.hypothesis/ ignores itself in git)
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # DST moves the clock by half an hour
    "Pacific/Apia",  # DST until 2021; skipped Friday 2011-12-30 entirely
    "Pacific/Kiritimati",  # UTC+14
    "Etc/GMT+12",  # UTC-12
    "UTC",
]
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def later(instant: datetime, delta: timedelta) -> datetime:
    """`delta` of real time after `instant`, in its zone. Python's `+` on an aware datetime adds
    wall-clock time, which can go backwards across a gap (Apia skipped 2011-12-30)."""
    return (instant.astimezone(UTC) + delta).astimezone(instant.tzinfo)


WALK_LIMIT = 6 * 7 * 24 * 60  # the reference gives up after six weeks of minutes
BERLIN = ZoneInfo("Europe/Berlin")
WORKWEEK = {d: [("09:00", "12:30"), ("13:30", "17:00")] for d in range(5)} | {5: [], 6: []}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _transitions(key: str) -> list[datetime]:
    """Instants (to the hour) just after each offset change of `key` in a few sample years."""
    zone, found = ZoneInfo(key), []
    for year in (2011, 2020, 2021, 2026):
        t = utc(year, 1, 1)
        previous = t.astimezone(zone).utcoffset()
        while t.year == year:
            t += timedelta(hours=6)
            offset = t.astimezone(zone).utcoffset()
            if offset != previous:
                found.append(t)
                previous = offset
    return found


TRANSITIONS = {key: _transitions(key) for key in ZONES}


# -- the slow reference --------------------------------------------------------------------------


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class Reference:
    """Working time asked instant by instant: the local date and wall clock from zoneinfo."""

    def __init__(self, tz, weekly, holidays):
        self.zone = ZoneInfo(tz)
        self.weekly = {d: [(_minutes(a), _minutes(b)) for a, b in v] for d, v in weekly.items()}
        self.holidays = {d: [(_minutes(a), _minutes(b)) for a, b in v] for d, v in holidays.items()}

    def is_working(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        day = local.date()
        intervals = self.holidays.get(day, self.weekly.get(day.weekday(), []))
        wall = local.hour * 60 + local.minute + local.second / 60
        return any(a <= wall < b for a, b in intervals)

    def add(self, start: datetime, minutes: int) -> datetime | None:
        """The first working minute once `minutes` working minutes have passed (start on a
        whole minute); None when the walk is too long. Steps in UTC: adding to a datetime in
        the zone itself would step its wall clock, through gaps that never happened."""
        t, counted = start.astimezone(UTC), 0
        for _ in range(WALK_LIMIT):
            if self.is_working(t):
                if counted == minutes:
                    return t
                counted += 1
            t += MINUTE
        return None

    def between(self, a: datetime, b: datetime, step: timedelta = MINUTE) -> int:
        count, t, b = 0, a.astimezone(UTC), b.astimezone(UTC)
        while t < b:
            count += self.is_working(t)
            t += step
        return count * int(step.total_seconds())


# -- strategies ----------------------------------------------------------------------------------

HALF_HOURS = st.lists(st.integers(0, 48), max_size=6, unique=True)


def _day_intervals(points: list[int]) -> list[tuple[str, str]]:
    points = sorted(points)[: len(points) // 2 * 2]
    text = [f"{p * 30 // 60:02d}:{p * 30 % 60:02d}" for p in points]
    return list(zip(text[::2], text[1::2], strict=True))


days = st.one_of(
    st.just([]),
    st.just([("00:00", "24:00")]),
    st.just([("09:00", "17:00")]),
    st.just([("22:00", "24:00")]),
    st.just([("00:00", "02:00")]),
    HALF_HOURS.map(_day_intervals),
)


@st.composite
def scenarios(draw, *, fraction: bool = False):
    """(calendar, reference, start): a random calendar, with holidays near a random start."""
    tz = draw(st.sampled_from(ZONES))
    weekly = {d: draw(days) for d in range(7)}
    assume(any(weekly.values()))
    transitions = TRANSITIONS[tz]
    if transitions and draw(st.booleans()):
        anchor = draw(st.sampled_from(transitions))
        start = anchor + draw(st.integers(-4 * 24 * 60, 2 * 24 * 60)) * MINUTE
    else:
        start = utc(2011, 1, 1) + draw(st.integers(0, 20 * 365 * 24 * 60)) * MINUTE
    if fraction:
        start += draw(st.integers(0, 59)) * SECOND + draw(st.integers(0, 999_999)) * timedelta(
            microseconds=1
        )
    near = start.astimezone(ZoneInfo(tz)).date()
    holidays = draw(
        st.dictionaries(
            st.integers(-2, 8).map(lambda n: near + timedelta(days=n)), days, max_size=4
        )
    )
    if draw(st.booleans()):  # the same instant, given in the calendar's own zone
        start = start.astimezone(ZoneInfo(tz))
    calendar = BusinessCalendar(tz=tz, weekly=weekly, holidays=holidays)
    return calendar, Reference(tz, weekly, holidays), start


def _weekly_minutes(calendar: BusinessCalendar) -> int:
    week = calendar.to_dict()["weekly"].values()
    return sum(_minutes(b) - _minutes(a) for day in week for a, b in day)


# -- properties ----------------------------------------------------------------------------------


@PROPERTY
@given(scenarios(), st.floats(0, 1.5))
def test_add_agrees_with_minute_walk(scenario, share):
    calendar, reference, start = scenario
    minutes = int(_weekly_minutes(calendar) * share)
    expected = reference.add(start, minutes)
    assume(expected is not None)
    assert calendar.add(start, minutes) == expected


@PROPERTY
@given(scenarios(), st.integers(0, 6 * 24 * 60))
def test_between_agrees_with_minute_walk(scenario, length):
    calendar, reference, start = scenario
    end = later(start, length * MINUTE)
    assert calendar.between(start, end) == reference.between(start, end)


@PROPERTY
@given(scenarios(fraction=True), st.integers(0, 3 * 3600))
def test_between_agrees_with_second_walk(scenario, length):
    calendar, reference, start = scenario
    start = start.replace(microsecond=0)
    end = later(start, length * SECOND)
    assert calendar.between(start, end) == reference.between(start, end, SECOND)


@PROPERTY
@given(scenarios(fraction=True), st.integers(-3600, 3600))
def test_is_working_agrees_with_reference(scenario, shift):
    calendar, reference, start = scenario
    instant = later(start, shift * SECOND)
    assert calendar.is_working(instant) == reference.is_working(instant)


@PROPERTY
@given(scenarios(fraction=True), st.integers(0, 30 * 24 * 60))
def test_between_of_add_is_the_target(scenario, minutes):
    calendar, _, start = scenario
    assert calendar.between(start, calendar.add(start, minutes)) == minutes * 60


@PROPERTY
@given(scenarios(fraction=True), st.integers(0, 20 * 24 * 60), st.integers(0, 20 * 24 * 60))
def test_add_is_monotone(scenario, m1, m2):
    calendar, _, start = scenario
    m1, m2 = sorted((m1, m2))
    assert start <= calendar.add(start, 0) <= calendar.add(start, m1) <= calendar.add(start, m2)


@PROPERTY
@given(scenarios(fraction=True), st.integers(0, 15 * 24 * 60), st.integers(0, 15 * 24 * 60))
def test_add_is_additive(scenario, a, b):
    calendar, _, start = scenario
    assert calendar.add(calendar.add(start, a), b) == calendar.add(start, a + b)


@PROPERTY
@given(scenarios(fraction=True), st.integers(0, 40 * 86400), st.integers(0, 40 * 86400))
def test_between_is_additive(scenario, first, second):
    calendar, _, start = scenario
    middle, end = later(start, first * SECOND), later(start, (first + second) * SECOND)
    assert calendar.between(start, middle) + calendar.between(middle, end) == calendar.between(
        start, end
    )


@PROPERTY
@given(scenarios(fraction=True))
def test_next_working_instant_is_the_first_working_instant(scenario):
    calendar, _, start = scenario
    found = calendar.next_working_instant(start)
    assert calendar.is_working(found)
    assert found >= start
    assert calendar.between(start, found) == 0
    # Compared in UTC: an aware datetime in a fold (fold=1) never equals one in another zone
    # (PEP 495), even at the same instant.
    same = found.astimezone(UTC) == start.astimezone(UTC)
    assert same or not calendar.is_working(found - timedelta(microseconds=1))


@PROPERTY
@given(scenarios())
def test_dict_round_trip(scenario):
    calendar, _, _ = scenario
    again = BusinessCalendar.from_dict(calendar.to_dict())
    assert again == calendar
    assert again.to_dict() == calendar.to_dict()


# -- hand-checked examples -----------------------------------------------------------------------


def test_calendar_from_the_issue():
    calendar = BusinessCalendar(
        tz="Europe/Berlin",
        weekly=WORKWEEK,
        holidays={date(2026, 12, 25): [], date(2026, 12, 24): [("09:00", "12:00")]},
    )
    # Thu 24 Dec 11:00 CET: one hour until noon, closed Friday and the weekend, an hour Monday.
    start = datetime(2026, 12, 24, 11, 0, tzinfo=BERLIN)
    assert calendar.add(start, 120) == utc(2026, 12, 28, 9, 0)
    assert calendar.between(start, utc(2026, 12, 28, 9, 0)) == 7200
    assert calendar.intervals_on(date(2026, 12, 24)) == [("09:00", "12:00")]
    assert calendar.intervals_on(date(2026, 12, 28)) == [("09:00", "12:30"), ("13:30", "17:00")]
    assert calendar.is_working(datetime(2026, 12, 25, 10, 0, tzinfo=BERLIN)) is False


def test_target_reached_at_closing_time_is_due_when_work_resumes():
    calendar = BusinessCalendar(tz="Europe/Berlin", weekly=WORKWEEK)
    friday = datetime(2026, 6, 5, 16, 0, tzinfo=BERLIN)  # 14:00 UTC
    assert calendar.add(friday, 59) == utc(2026, 6, 5, 14, 59)
    assert calendar.add(friday, 60) == utc(2026, 6, 8, 7, 0)  # Monday 09:00 CEST
    assert calendar.between(friday, utc(2026, 6, 5, 15, 0)) == 3600
    assert calendar.between(friday, utc(2026, 6, 8, 7, 0)) == 3600
    # A start outside working time counts from the next working instant; 0 minutes is that.
    assert calendar.add(utc(2026, 6, 6, 12, 0), 0) == utc(2026, 6, 8, 7, 0)
    assert calendar.add(utc(2026, 6, 5, 11, 0), 0) == utc(2026, 6, 5, 11, 30)  # after lunch
    assert calendar.add(friday, 0) == friday


def test_berlin_spring_forward_skips_the_hour():
    full = BusinessCalendar(tz="Europe/Berlin", weekly={d: [("00:00", "24:00")] for d in range(7)})
    sunday, monday = datetime(2026, 3, 29, tzinfo=BERLIN), datetime(2026, 3, 30, tzinfo=BERLIN)
    assert full.between(sunday, monday) == 23 * 3600
    # 01:30-03:30 on that Sunday is an hour: 01:30-02:00 CET, then 03:00-03:30 CEST.
    night = BusinessCalendar(tz="Europe/Berlin", weekly={6: [("01:30", "03:30")]})
    saturday = utc(2026, 3, 28, 12, 0)
    assert night.between(saturday, utc(2026, 3, 30)) == 3600
    assert night.add(saturday, 45) == utc(2026, 3, 29, 1, 15)  # 03:15 CEST
    gap = BusinessCalendar(tz="Europe/Berlin", weekly={6: [("02:00", "03:00")]})
    assert gap.between(saturday, utc(2026, 3, 30)) == 0
    assert gap.add(saturday, 0) == utc(2026, 4, 5, 0, 0)  # next Sunday 02:00 CEST


def test_berlin_fall_back_counts_the_hour_twice():
    full = BusinessCalendar(tz="Europe/Berlin", weekly={d: [("00:00", "24:00")] for d in range(7)})
    sunday, monday = datetime(2026, 10, 25, tzinfo=BERLIN), datetime(2026, 10, 26, tzinfo=BERLIN)
    assert full.between(sunday, monday) == 25 * 3600
    twice = BusinessCalendar(tz="Europe/Berlin", weekly={6: [("02:00", "03:00")]})
    saturday = utc(2026, 10, 24, 12, 0)
    assert twice.between(saturday, utc(2026, 10, 26)) == 7200
    due = twice.add(saturday, 90)
    assert due == utc(2026, 10, 25, 1, 30)
    local = due.astimezone(BERLIN)  # the second 02:30 (PEP 495: never equal across zones)
    assert (local.hour, local.minute, local.fold, local.utcoffset()) == (
        2,
        30,
        1,
        timedelta(hours=1),
    )


def test_new_york_both_transitions():
    full = BusinessCalendar(
        tz="America/New_York", weekly={d: [("00:00", "24:00")] for d in range(7)}
    )
    ny = ZoneInfo("America/New_York")
    assert full.between(datetime(2026, 3, 8, tzinfo=ny), datetime(2026, 3, 9, tzinfo=ny)) == 82800
    assert full.between(datetime(2026, 11, 1, tzinfo=ny), datetime(2026, 11, 2, tzinfo=ny)) == 90000
    repeated = BusinessCalendar(tz="America/New_York", weekly={6: [("01:00", "02:00")]})
    assert repeated.between(utc(2026, 10, 31), utc(2026, 11, 2)) == 7200
    assert repeated.add(utc(2026, 10, 31), 90) == utc(2026, 11, 1, 6, 30)  # 01:30 EST
    skipped = BusinessCalendar(tz="America/New_York", weekly={6: [("02:00", "03:00")]})
    assert skipped.between(utc(2026, 3, 7), utc(2026, 3, 9)) == 0


def test_lord_howe_half_hour_shifts():
    # 5 Apr 2026, 02:00 +11 becomes 01:30 +10:30: 01:00-03:00 holds two and a half hours.
    back = BusinessCalendar(tz="Australia/Lord_Howe", weekly={6: [("01:00", "03:00")]})
    assert back.between(utc(2026, 4, 3), utc(2026, 4, 5)) == 9000
    assert back.add(utc(2026, 4, 3), 150) == utc(2026, 4, 11, 14, 30)  # the next Sunday 01:00
    # 4 Oct 2026, 02:00 +10:30 becomes 02:30 +11: 02:00-03:00 holds half an hour.
    forward = BusinessCalendar(tz="Australia/Lord_Howe", weekly={6: [("02:00", "03:00")]})
    assert forward.between(utc(2026, 10, 2), utc(2026, 10, 4)) == 1800
    assert forward.add(utc(2026, 10, 2), 10) == utc(2026, 10, 3, 15, 40)  # 02:40 +11


def test_apia_skipped_date_has_no_working_time():
    apia = ZoneInfo("Pacific/Apia")
    full = BusinessCalendar(tz="Pacific/Apia", weekly={d: [("00:00", "24:00")] for d in range(7)})
    # Thursday 29 Dec 2011 at -10, then Saturday 31 Dec at +14: Friday the 30th never was.
    assert full.between(
        datetime(2011, 12, 29, tzinfo=apia), datetime(2011, 12, 31, tzinfo=apia)
    ) == (86400)
    fridays = BusinessCalendar(tz="Pacific/Apia", weekly={4: [("00:00", "24:00")]})
    assert fridays.add(utc(2011, 12, 29, 22, 0), 0) == utc(2012, 1, 5, 10, 0)  # 6 Jan 00:00 +14


def test_work_across_midnight_is_continuous():
    calendar = BusinessCalendar(
        tz="Europe/Berlin", weekly={0: [("22:00", "24:00")], 1: [("00:00", "02:00")]}
    )
    monday = datetime(2026, 6, 1, 22, 0, tzinfo=BERLIN)  # 20:00 UTC
    assert calendar.add(monday, 60) == utc(2026, 6, 1, 21, 0)
    assert calendar.add(monday, 180) == utc(2026, 6, 1, 23, 0)  # Tuesday 01:00
    assert calendar.add(monday, 240) == utc(2026, 6, 8, 20, 0)  # the next Monday 22:00
    assert calendar.between(utc(2026, 6, 1, 19, 0), utc(2026, 6, 2, 1, 0)) == 4 * 3600
    assert calendar.is_working(utc(2026, 6, 1, 22, 0)) is True  # Tuesday 00:00 local


def test_kiritimati_utc_plus_14():
    calendar = BusinessCalendar(tz="Pacific/Kiritimati", weekly=WORKWEEK)
    # Monday 1 June 09:00 +14 is Sunday 31 May 19:00 UTC.
    assert calendar.add(utc(2026, 5, 31, 18, 0), 60) == utc(2026, 5, 31, 20, 0)
    assert calendar.is_working(utc(2026, 5, 31, 19, 30)) is True
    assert calendar.between(utc(2026, 5, 31), utc(2026, 6, 1)) == 4 * 3600  # 09:00-14:00, lunch


def test_utc_minus_12():
    calendar = BusinessCalendar(tz="Etc/GMT+12", weekly={d: [("09:00", "17:00")] for d in range(5)})
    # Friday 5 June 16:00 -12 is Saturday 6 June 04:00 UTC.
    assert calendar.is_working(utc(2026, 6, 6, 4, 59)) is True
    assert calendar.is_working(utc(2026, 6, 6, 5, 0)) is False
    # Half an hour on Friday, the rest from Monday 09:00 -12 (21:00 UTC).
    assert calendar.add(utc(2026, 6, 6, 4, 30), 60) == utc(2026, 6, 8, 21, 30)


def test_seconds_and_microseconds_are_kept():
    calendar = BusinessCalendar(tz="Europe/Berlin", weekly=WORKWEEK)
    start = utc(2026, 6, 1, 8, 15, 7, 250_000)  # Monday 10:15:07.25 CEST
    assert calendar.add(start, 30) == utc(2026, 6, 1, 8, 45, 7, 250_000)
    assert calendar.add_seconds(start, 1) == utc(2026, 6, 1, 8, 15, 8, 250_000)
    assert calendar.between(start, utc(2026, 6, 1, 8, 15, 8)) == 1  # the mark at :08 passed
    assert calendar.between(start, utc(2026, 6, 1, 8, 15, 7, 900_000)) == 0
    assert calendar.between(utc(2026, 6, 1, 8, 15, 7), utc(2026, 6, 1, 8, 16, 7)) == 60
    assert calendar.between(utc(2026, 6, 1, 9), utc(2026, 6, 1, 8)) == 0  # b before a


def test_long_targets_span_many_blocks_and_years():
    calendar = BusinessCalendar(tz="Europe/Berlin", weekly=WORKWEEK)
    start = utc(2026, 1, 5, 8, 0)  # Monday 09:00 CET
    minutes = 7 * 60 * 5 * 156  # 156 full weeks: due as week 157 opens, Monday 1 Jan 2029
    due = calendar.add(start, minutes)
    assert due == utc(2029, 1, 1, 8, 0)
    assert calendar.between(start, due) == minutes * 60


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message", "field"),
    [
        ({"tz": "Mars/Base"}, "Unknown time zone 'Mars/Base'.", "tz"),
        ({"tz": "localtime"}, "Unknown time zone 'localtime'.", "tz"),
        ({"tz": ""}, "Unknown time zone ''.", "tz"),
        (
            {"weekly": {0: [("12:00", "09:00")]}},
            "Monday: 12:00-09:00 must end after it starts.",
            "weekly",
        ),
        (
            {"weekly": {1: [("09:00", "09:00")]}},
            "Tuesday: 09:00-09:00 must end after it starts.",
            "weekly",
        ),
        (
            {"weekly": {2: [("09:00", "12:30"), ("12:00", "13:00")]}},
            "Wednesday: 12:00-13:00 overlaps 09:00-12:30.",
            "weekly",
        ),
        (
            {"weekly": {3: [("24:00", "24:00")]}},
            "Thursday: '24:00' is not a time (\"HH:MM\" from 00:00 to 23:59).",
            "weekly",
        ),
        (
            {"weekly": {4: [("9:00", "17:00")]}},
            "Friday: '9:00' is not a time (\"HH:MM\" from 00:00 to 23:59).",
            "weekly",
        ),
        (
            {"weekly": {5: [("09:00", "24:30")]}},
            'Saturday: \'24:30\' is not a time ("HH:MM" from 00:00 to 23:59, or "24:00").',
            "weekly",
        ),
        ({"weekly": {6: [("09:00",)]}}, "Sunday: ('09:00',) is not a (start, end) pair.", "weekly"),
        (
            {"weekly": {6: "09:00-17:00"}},
            "Sunday: intervals must be a list of (start, end) pairs.",
            "weekly",
        ),
        ({"weekly": {7: []}}, "7 is not a weekday (0 is Monday .. 6 Sunday).", "weekly"),
        ({"holidays": {"2026-02-30": []}}, "'2026-02-30' is not a date (YYYY-MM-DD).", "holidays"),
        (
            {"holidays": {date(2026, 12, 24): [("13:00", "12:00")]}},
            "2026-12-24: 13:00-12:00 must end after it starts.",
            "holidays",
        ),
    ],
)
def test_bad_calendar_is_a_clear_error(kwargs, message, field):
    arguments = {"tz": "Europe/Berlin", "weekly": WORKWEEK} | kwargs
    with pytest.raises(CalendarError) as raised:
        BusinessCalendar(**arguments)
    assert str(raised.value) == message
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)


def test_touching_intervals_are_merged_and_plain_json_keys_accepted():
    calendar = BusinessCalendar(tz="UTC", weekly={"0": [["12:00", "17:00"], ["09:00", "12:00"]]})
    assert calendar.to_dict()["weekly"]["0"] == [["09:00", "17:00"]]
    assert calendar.add(utc(2026, 6, 1, 9), 8 * 60 - 1) == utc(2026, 6, 1, 16, 59)


def test_equal_calendars_are_one_value():
    first = BusinessCalendar(tz="Europe/Berlin", weekly=WORKWEEK, holidays={"2026-12-25": []})
    second = BusinessCalendar(tz="Europe/Berlin", weekly={str(d): v for d, v in WORKWEEK.items()})
    third = BusinessCalendar(tz="Europe/Berlin", weekly=WORKWEEK, holidays={date(2026, 12, 25): []})
    assert first != second
    assert first == third
    assert hash(first) == hash(third)
    assert first._blocks is third._blocks  # built blocks are shared, never recomputed


@pytest.mark.parametrize("data", [None, [], {}, {"tz": "UTC", "weekly": [1, 2]}, {"tz": 5}])
def test_from_dict_rejects_garbage(data):
    with pytest.raises(CalendarError):
        BusinessCalendar.from_dict(data)


def test_calendar_without_working_time_raises_instead_of_looping():
    closed = BusinessCalendar(tz="UTC", weekly={})
    with pytest.raises(NoWorkingTime):
        closed.add(utc(2026, 1, 1), 10)
    holidays_only = BusinessCalendar(
        tz="UTC", weekly={}, holidays={date(2026, 3, 2): [("09:00", "10:00")]}
    )
    assert holidays_only.add(utc(2026, 1, 1), 30) == utc(2026, 3, 2, 9, 30)
    with pytest.raises(NoWorkingTime):
        holidays_only.add(utc(2026, 1, 1), 60)
    assert closed.between(utc(2026, 1, 1), utc(2027, 1, 1)) == 0


def test_naive_datetimes_and_negative_minutes_are_refused():
    calendar = BusinessCalendar(tz="UTC", weekly=WORKWEEK)
    with pytest.raises(ValueError, match="naive"):
        calendar.add(datetime(2026, 6, 1, 9), 10)
    with pytest.raises(ValueError, match="minutes"):
        calendar.add(utc(2026, 6, 1, 9), -1)
