"""Working-time arithmetic: hand-checked tables, then properties (hypothesis).

Every table row says in its comment how the answer was counted. Local times
are Europe/Warsaw: CET (UTC+1) in winter, CEST (UTC+2) from the last Sunday of
March to the last Sunday of October (2026-10-25, 2027-03-28).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.calendar import (
    ALWAYS,
    Calendar,
    WorkingDuration,
    add_working_time,
    business_calendar,
    day_length,
    explain_add,
    is_day_off,
    is_working_time,
    parse_working_duration,
    subtract_working_time,
    working_length,
    working_time_between,
)

WARSAW = ZoneInfo("Europe/Warsaw")
BUSINESS = business_calendar()
OFFICE = business_calendar("office", hours=(time(8), time(16)))
NO_HOLIDAYS = business_calendar("plain", country=None)
EVERY_DAY = business_calendar("every_day", workdays=frozenset(range(7)), country=None)
NEW_YEARS_EVE_OFF = business_calendar("company", days_off=frozenset({date(2026, 12, 31)}))


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=WARSAW)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


# --- adding -----------------------------------------------------------------------

ADD_CASES = [
    # Warranty on Friday 15:00: Fri 15-24 is 9 h, Sat and Sun are off, Mon 00-15 is 15 h.
    pytest.param(BUSINESS, local(2026, 11, 27, 15), "24h", local(2026, 11, 30, 15), id="friday"),
    # The day before Independence Day (Wed 11 Nov): Tue 10-24 is 14 h, Wed is off,
    # Thu 00-10 is 10 h.
    pytest.param(BUSINESS, local(2026, 11, 10, 10), "24h", local(2026, 11, 12, 10), id="nov-11"),
    # Across 24 December 2026 (a Thursday; 24, 25 and 26 are holidays, 26-27 a weekend):
    # Wed 12-24 is 12 h, Thu-Sun are off, Mon 28 00-12 is 12 h.
    pytest.param(BUSINESS, local(2026, 12, 23, 12), "24h", local(2026, 12, 28, 12), id="wigilia"),
    # Across Easter 2027 (Sunday 28 March, Monday 29 March): Thu 12-24 is 12 h, Fri is 24 h,
    # Sat, Sun and Easter Monday are off, Tue 00-12 is the last 12 h (CEST by then).
    pytest.param(BUSINESS, local(2027, 3, 25, 12), "2d", local(2027, 3, 30, 12), id="easter"),
    # Autumn DST (Sunday 2026-10-25 has 25 h, but it is off): Fri 15-24 CEST is 9 h,
    # Mon 00-15 CET is 15 h. Monday 15:00 CET is 14:00 UTC.
    pytest.param(BUSINESS, local(2026, 10, 23, 15), "24h", local(2026, 10, 26, 15), id="dst-oct"),
    # Spring DST (Sunday 2027-03-28 has 23 h, and is Easter Sunday) and Easter Monday
    # 29 March: Fri 15-24 CET is 9 h, Sat-Mon are off, Tue 00-15 CEST is 15 h.
    pytest.param(BUSINESS, local(2027, 3, 26, 15), "24h", local(2027, 3, 30, 15), id="dst-mar"),
    # Working hours 08:00-16:00, received 15:30: Tue 15:30-16:00 is 30 m, Wed 08:00-08:30.
    pytest.param(OFFICE, local(2026, 11, 24, 15, 30), "1h", local(2026, 11, 25, 8, 30), id="15:30"),
    # Received 22:00, after hours: counting starts Wed 08:00, so 09:00.
    pytest.param(OFFICE, local(2026, 11, 24, 22), "1h", local(2026, 11, 25, 9), id="22:00"),
    # Friday 15:30 with hours: 30 m on Friday, the weekend is off, 30 m on Monday.
    pytest.param(OFFICE, local(2026, 11, 27, 15, 30), "1h", local(2026, 11, 30, 8, 30), id="fri"),
    # "24h" with hours is 24 working hours: Mon 10-16 is 6 h, Tue 8 h, Wed 8 h, Thu 08-10 2 h.
    pytest.param(OFFICE, local(2026, 11, 23, 10), "24h", local(2026, 11, 26, 10), id="24h-office"),
    # "5d" with hours is 5 working days of 8 h: Mon 08:00 to Fri 16:00, the end of the
    # last interval (not Monday 08:00).
    pytest.param(OFFICE, local(2026, 11, 23, 8), "5d", local(2026, 11, 27, 16), id="5d-office"),
    # "5d" on whole days is 5 working days: Fri 15-24 9 h, Mon-Thu 96 h, Fri 00-15 15 h.
    pytest.param(BUSINESS, local(2026, 11, 27, 15), "5d", local(2026, 12, 4, 15), id="5d"),
    # "1d12h" from Monday 00:00: Monday whole, then half of Tuesday.
    pytest.param(BUSINESS, local(2026, 11, 23), "1d12h", local(2026, 11, 24, 12), id="1d12h"),
    # Running out exactly at the end of Friday: Friday 24:00 is Saturday 00:00.
    pytest.param(BUSINESS, local(2026, 11, 27, 15), "9h", local(2026, 11, 28), id="friday-24:00"),
    # Received on Saturday: counting starts Monday 00:00.
    pytest.param(BUSINESS, local(2026, 11, 28, 10), "1h", local(2026, 11, 30, 1), id="saturday"),
    # A company day off (31 Dec) next to New Year: Wed 30 12-24 is 12 h, Thu 31 (company),
    # Fri 1 Jan (holiday), Sat, Sun are off, Mon 4 Jan 00-12 is 12 h.
    pytest.param(
        NEW_YEARS_EVE_OFF, local(2026, 12, 30, 12), "24h", local(2027, 1, 4, 12), id="company"
    ),
    # Without a country, 11 November is a working Wednesday: Tue 10-24 14 h, Wed 00-10 10 h.
    pytest.param(NO_HOLIDAYS, local(2026, 11, 10, 10), "24h", local(2026, 11, 11, 10), id="plain"),
    # VIP (24/7) at 23:30 on 31 December: 1 h later is 00:30 on 1 January.
    pytest.param(ALWAYS, local(2026, 12, 31, 23, 30), "1h", local(2027, 1, 1, 0, 30), id="vip"),
    # VIP 2 days are 48 elapsed hours; across the autumn change the clock shows 47 h:
    # Sat 12:00 CEST (10:00 UTC) + 48 h = Mon 10:00 UTC = 11:00 CET.
    pytest.param(ALWAYS, local(2026, 10, 24, 12), "2d", local(2026, 10, 26, 11), id="vip-dst"),
    # Every day working, whole days, across the autumn change: Sunday 25 Oct has 25 h.
    # Sat 12-24 12 h, Sun 25 h (37 h), Mon 00-11 CET 11 h: 48 h.
    pytest.param(EVERY_DAY, local(2026, 10, 24, 12), "48h", local(2026, 10, 26, 11), id="25h"),
]


@pytest.mark.parametrize(("calendar", "start", "duration", "expected"), ADD_CASES)
def test_add_working_time(
    calendar: Calendar, start: datetime, duration: str, expected: datetime
) -> None:
    due = add_working_time(calendar, start, parse_working_duration(duration))

    assert due == expected
    assert due.tzinfo is UTC


def test_dst_deadlines_keep_the_local_clock() -> None:
    # Friday 15:00 CEST is 13:00 UTC; Monday 15:00 CET is 14:00 UTC.
    due = add_working_time(BUSINESS, local(2026, 10, 23, 15), hours(24))

    assert due == datetime(2026, 10, 26, 14, tzinfo=UTC)
    assert due.astimezone(WARSAW).hour == 15


def test_a_timedelta_is_plain_working_time() -> None:
    # 24 h of working time on an 8-hour calendar is three working days, as "24h" is.
    start = local(2026, 11, 23, 10)

    assert add_working_time(OFFICE, start, hours(24)) == local(2026, 11, 26, 10)


def test_any_time_zone_in_gives_utc_out() -> None:
    start = datetime(2026, 11, 27, 14, tzinfo=UTC)  # Friday 15:00 in Warsaw

    assert add_working_time(BUSINESS, start, hours(24)) == datetime(2026, 11, 30, 14, tzinfo=UTC)


# --- subtracting (reminders before a deadline) ---------------------------------------

SUBTRACT_CASES = [
    # The mirror of the Friday case: Mon 00-15 is 15 h, the weekend is off, Fri 15-24 is 9 h.
    pytest.param(BUSINESS, local(2026, 11, 30, 15), "24h", local(2026, 11, 27, 15), id="friday"),
    # 4 h before Monday 02:00: Mon 00-02 is 2 h, then back into Friday 22:00-24:00.
    pytest.param(BUSINESS, local(2026, 11, 30, 2), "4h", local(2026, 11, 27, 22), id="remind"),
    # 1 working day before Monday 00:00 is Friday 00:00 (the weekend does not count).
    pytest.param(BUSINESS, local(2026, 11, 30), "1d", local(2026, 11, 27), id="1d"),
    # Hours 08:00-16:00: 1 h before Wed 08:30 is 30 m of Wednesday and Tue 15:30-16:00.
    pytest.param(
        OFFICE, local(2026, 11, 25, 8, 30), "1h", local(2026, 11, 24, 15, 30), id="office"
    ),
    # Landing exactly at the start of an interval: 1 h before Wed 09:00 is Wed 08:00,
    # not Tuesday 16:00.
    pytest.param(OFFICE, local(2026, 11, 25, 9), "1h", local(2026, 11, 25, 8), id="08:00"),
    # 2 h before a deadline on Monday 2027-03-30 01:00 (after Easter Monday): Tue 00-01 is
    # 1 h, Mon 29 to Sat 27 are off, then Fri 26 23:00-24:00.
    pytest.param(BUSINESS, local(2027, 3, 30, 1), "2h", local(2027, 3, 26, 23), id="easter"),
    # VIP: 1 h before 00:30 on 1 January is 23:30 on 31 December.
    pytest.param(ALWAYS, local(2027, 1, 1, 0, 30), "1h", local(2026, 12, 31, 23, 30), id="vip"),
]


@pytest.mark.parametrize(("calendar", "end", "duration", "expected"), SUBTRACT_CASES)
def test_subtract_working_time(
    calendar: Calendar, end: datetime, duration: str, expected: datetime
) -> None:
    assert subtract_working_time(calendar, end, parse_working_duration(duration)) == expected


# --- measuring --------------------------------------------------------------------------

BETWEEN_CASES = [
    # Fri 15-24 9 h + Mon 00-15 15 h.
    pytest.param(BUSINESS, local(2026, 11, 27, 15), local(2026, 11, 30, 15), hours(24), id="fri"),
    # Backwards is negative.
    pytest.param(BUSINESS, local(2026, 11, 30, 15), local(2026, 11, 27, 15), hours(-24), id="neg"),
    # Inside a weekend nothing counts.
    pytest.param(
        BUSINESS, local(2026, 11, 28, 10), local(2026, 11, 29, 20), hours(0), id="weekend"
    ),
    # Hours 08-16: Tue 15:30-16:00 and Wed 08:00-08:30.
    pytest.param(
        OFFICE, local(2026, 11, 24, 15, 30), local(2026, 11, 25, 8, 30), hours(1), id="office"
    ),
    # Both ends outside hours, a whole working day between: Tue 22:00 to Thu 07:00 is Wed's 8 h.
    pytest.param(OFFICE, local(2026, 11, 24, 22), local(2026, 11, 26, 7), hours(8), id="night"),
    # 24/7 across the autumn change: Sat 12:00 CEST to Mon 11:00 CET is 48 elapsed hours.
    pytest.param(ALWAYS, local(2026, 10, 24, 12), local(2026, 10, 26, 11), hours(48), id="vip"),
    # Every day, whole days: Sat 24 Oct (24 h) and Sun 25 Oct (25 h, the clock goes back).
    pytest.param(EVERY_DAY, local(2026, 10, 24), local(2026, 10, 26), hours(49), id="25h-day"),
    # ... and Sun 28 Mar 2027 has 23 h.
    pytest.param(EVERY_DAY, local(2027, 3, 28), local(2027, 3, 29), hours(23), id="23h-day"),
    # Around Christmas 2026: Wed 23 Dec 12-24 12 h, 24-27 off, Mon 28 00-12 12 h.
    pytest.param(BUSINESS, local(2026, 12, 23, 12), local(2026, 12, 28, 12), hours(24), id="xmas"),
    pytest.param(BUSINESS, local(2026, 11, 27, 15), local(2026, 11, 27, 15), hours(0), id="same"),
]


@pytest.mark.parametrize(("calendar", "a", "b", "expected"), BETWEEN_CASES)
def test_working_time_between(
    calendar: Calendar, a: datetime, b: datetime, expected: timedelta
) -> None:
    assert working_time_between(calendar, a, b) == expected


@pytest.mark.parametrize(
    ("calendar", "day", "expected"),
    [
        (BUSINESS, date(2026, 11, 27), False),  # a Friday
        (BUSINESS, date(2026, 11, 28), True),  # a Saturday
        (BUSINESS, date(2026, 11, 11), True),  # Independence Day
        (BUSINESS, date(2026, 12, 24), True),  # Wigilia, a holiday from 2025 on
        (BUSINESS, date(2024, 12, 24), False),  # a working Tuesday in 2024
        (BUSINESS, date(2027, 3, 29), True),  # Easter Monday
        (NO_HOLIDAYS, date(2026, 11, 11), False),
        (NEW_YEARS_EVE_OFF, date(2026, 12, 31), True),  # a company day off
        (ALWAYS, date(2026, 12, 25), False),
        (ALWAYS, date(2026, 11, 28), False),
    ],
)
def test_is_day_off(calendar: Calendar, day: date, expected: bool) -> None:
    assert is_day_off(calendar, day) is expected


@pytest.mark.parametrize(
    ("calendar", "moment", "expected"),
    [
        (BUSINESS, local(2026, 11, 27, 23, 59), True),
        (BUSINESS, local(2026, 11, 28), False),  # Friday 24:00 is Saturday
        (BUSINESS, local(2026, 11, 30), True),  # Monday 00:00
        (OFFICE, local(2026, 11, 30, 8), True),
        (OFFICE, local(2026, 11, 30, 16), False),  # the end is not inside
        (OFFICE, local(2026, 11, 30, 7, 59), False),
        (ALWAYS, local(2026, 12, 25, 3), True),
    ],
)
def test_is_working_time(calendar: Calendar, moment: datetime, expected: bool) -> None:
    assert is_working_time(calendar, moment) is expected


# --- explaining ------------------------------------------------------------------------------


def test_explain_add_lists_the_days() -> None:
    steps = explain_add(BUSINESS, local(2026, 12, 23, 12), hours(24))

    assert [step.note for step in steps] == [
        "Wednesday 2026-12-23 12:00-24:00 (12h)",
        "Thursday 2026-12-24: public holiday (Wigilia Bożego Narodzenia)",
        "Friday 2026-12-25: public holiday (Boże Narodzenie (pierwszy dzień))",
        "Saturday 2026-12-26: weekend",
        "Sunday 2026-12-27: weekend",
        "Monday 2026-12-28 00:00-12:00 (12h)",
    ]
    assert [step.counted for step in steps] == [hours(12), *[hours(0)] * 4, hours(12)]
    assert steps[-1].end == local(2026, 12, 28, 12)
    # A day off covers the whole local day.
    assert (steps[3].start, steps[3].end) == (local(2026, 12, 26), local(2026, 12, 27))


def test_explain_add_notes_after_hours_and_company_days() -> None:
    office = explain_add(OFFICE, local(2026, 11, 24, 22), hours(1))
    company = explain_add(NEW_YEARS_EVE_OFF, local(2026, 12, 30, 22), hours(3))

    assert [step.note for step in office] == [
        "Tuesday 2026-11-24: after working hours (08:00-16:00)",
        "Wednesday 2026-11-25 08:00-09:00 (1h)",
    ]
    assert [step.note for step in company] == [
        "Wednesday 2026-12-30 22:00-24:00 (2h)",
        "Thursday 2026-12-31: company day off",
        "Friday 2027-01-01: public holiday (Nowy Rok)",
        "Saturday 2027-01-02: weekend",
        "Sunday 2027-01-03: weekend",
        "Monday 2027-01-04 00:00-01:00 (1h)",
    ]


def test_explain_add_for_vip_shows_local_days() -> None:
    steps = explain_add(ALWAYS, local(2026, 12, 31, 23, 30), hours(1))

    assert [step.note for step in steps] == [
        "Thursday 2026-12-31 23:30-24:00 (30m)",
        "Friday 2027-01-01 00:00-00:30 (30m)",
    ]


def test_explain_add_shows_a_25_hour_day() -> None:
    steps = explain_add(EVERY_DAY, local(2026, 10, 25), parse_working_duration("1d"))

    # "1d" is 24 h of working time: Sunday 25 October has 25, so it ends at 23:00.
    assert [step.note for step in steps] == ["Sunday 2026-10-25 00:00-23:00 (24h)"]


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5d", WorkingDuration(days=5)),
        ("24h", WorkingDuration(time=hours(24))),
        ("1d12h", WorkingDuration(1, hours(12))),
        ("1d 2h", WorkingDuration(1, hours(2))),
        ("30m", WorkingDuration(time=timedelta(minutes=30))),
        ("90s", WorkingDuration(time=timedelta(seconds=90))),
        (" 1h 30m 15s ", WorkingDuration(time=timedelta(seconds=5415))),
        ("120", WorkingDuration(time=timedelta(minutes=2))),
        (45, WorkingDuration(time=timedelta(seconds=45))),
        ("366d", WorkingDuration(days=366)),
        ("8784h", WorkingDuration(time=hours(8784))),
    ],
)
def test_parse_working_duration(text: str | int, expected: WorkingDuration) -> None:
    assert parse_working_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        *("", "soon", "0s", "0d", "0", 0, -5, "-5m", "1.5h", "30m1h", "2w", "1H", True),
        # More than a year of working time is a typo, and huge numbers never overflow.
        *("367d", "366d1s", "8785h", 10**20, "99999999999d", "9" * 5000, "9" * 5000 + "h"),
    ],
)
def test_parse_working_duration_rejects(text: str | int) -> None:
    with pytest.raises(ValueError, match=r"^bad duration"):
        parse_working_duration(text)


@pytest.mark.parametrize(
    ("text", "shown"), [("5d", "5d"), ("1d 2h", "1d2h"), ("90s", "1m30s"), ("36h", "36h")]
)
def test_working_duration_shows_itself(text: str, shown: str) -> None:
    assert str(parse_working_duration(text)) == shown


@pytest.mark.parametrize(
    ("calendar", "text", "expected"),
    [
        (BUSINESS, "5d", hours(120)),  # 5 working days of 24 h
        (OFFICE, "5d", hours(40)),  # 5 working days of 8 h
        (OFFICE, "1d12h", hours(20)),
        (ALWAYS, "2d", hours(48)),
        (OFFICE, "24h", hours(24)),  # hours stay hours
    ],
)
def test_working_length(calendar: Calendar, text: str, expected: timedelta) -> None:
    assert working_length(calendar, parse_working_duration(text)) == expected


def test_day_length() -> None:
    assert (day_length(BUSINESS), day_length(OFFICE), day_length(ALWAYS)) == (
        hours(24),
        hours(8),
        hours(24),
    )


# --- errors ---------------------------------------------------------------------------------


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 27, 15)

    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_time(BUSINESS, naive, hours(1))
    with pytest.raises(ValueError, match="timezone-aware"):
        working_time_between(BUSINESS, local(2026, 11, 27), naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        is_working_time(BUSINESS, naive)


@pytest.mark.parametrize("duration", [hours(0), hours(-1), WorkingDuration()])
def test_durations_must_be_positive(duration: timedelta | WorkingDuration) -> None:
    with pytest.raises(ValueError, match="more than zero"):
        add_working_time(BUSINESS, local(2026, 11, 27), duration)
    with pytest.raises(ValueError, match="more than zero"):
        subtract_working_time(BUSINESS, local(2026, 11, 27), duration)


@pytest.mark.parametrize(
    "fields",
    [
        {"workdays": frozenset()},
        {"workdays": frozenset({7})},
        {"hours": (time(16), time(8))},
        {"hours": (time(8), time(8))},
        {"country": "XX"},
    ],
)
def test_impossible_calendars_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="calendar 'broken'"):
        business_calendar("broken", **fields)  # type: ignore[arg-type]


def test_walking_too_far_is_an_error_not_a_hang() -> None:
    # 3000 working days are about 12 years of calendar days, beyond the ten-year walk.
    # (No setting can say 3000d: parse_working_duration stops at a year.)
    with pytest.raises(ValueError, match="more than 3660 days"):
        add_working_time(BUSINESS, local(2026, 1, 1), WorkingDuration(days=3000))
    with pytest.raises(ValueError, match="more than 3660 days"):
        subtract_working_time(OFFICE, local(2026, 1, 1), WorkingDuration(days=3000))
    with pytest.raises(ValueError, match="more than 3660 days"):
        working_time_between(BUSINESS, local(2026, 1, 1), local(2040, 1, 1))


# --- properties ---------------------------------------------------------------------------------

# Odd calendars on purpose: hours that swallow the spring DST gap (02:00-03:00 does not exist
# on the last Sunday of March), another time zone with its own holidays, every day working.
CALENDARS = [
    BUSINESS,
    OFFICE,
    ALWAYS,
    EVERY_DAY,
    NEW_YEARS_EVE_OFF,
    business_calendar("night", workdays=frozenset(range(7)), hours=(time(1), time(3, 30))),
    business_calendar(
        "new_york", tz=ZoneInfo("America/New_York"), hours=(time(9), time(17)), country="US"
    ),
]
BUSINESS_CALENDARS = [calendar for calendar in CALENDARS if not calendar.always]

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=12))
# Whole minutes and seconds, the way durations are written, plus stray microseconds.
round_durations = st.integers(min_value=1, max_value=12 * 24 * 60).map(
    lambda minutes: timedelta(minutes=minutes)
)
PROPERTY = settings(max_examples=150, deadline=None, database=None)


@PROPERTY
@given(st.sampled_from(CALENDARS), moments, st.one_of(durations, round_durations))
def test_adding_then_measuring_back_gives_the_duration(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    due = add_working_time(calendar, start, duration)

    assert working_time_between(calendar, start, due) == duration
    assert working_time_between(calendar, due, start) == -duration


@PROPERTY
@given(st.sampled_from(CALENDARS), moments, st.one_of(durations, round_durations))
def test_subtracting_undoes_adding_up_to_the_first_working_moment(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    back = subtract_working_time(calendar, add_working_time(calendar, start, duration), duration)

    # Counting starts at the first working moment at or after the start; that is where
    # subtracting lands (an interval's start when the start was outside working time).
    assert back >= start
    assert working_time_between(calendar, start, back) == timedelta(0)
    if is_working_time(calendar, start):
        assert back == start


@PROPERTY
@given(st.sampled_from(BUSINESS_CALENDARS), moments, st.one_of(durations, round_durations))
def test_deadlines_never_fall_on_a_day_off(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    due = add_working_time(calendar, start, duration)
    last_working_moment = due - timedelta(microseconds=1)

    assert is_working_time(calendar, last_working_moment)
    assert not is_day_off(calendar, last_working_moment.astimezone(calendar.tz).date())


@PROPERTY
@given(st.sampled_from(CALENDARS), moments, durations, durations)
def test_longer_durations_end_later(
    calendar: Calendar, start: datetime, one: timedelta, other: timedelta
) -> None:
    shorter, longer = sorted((one, other))
    early, late = (add_working_time(calendar, start, d) for d in (shorter, longer))

    assert early <= late
    assert (early == late) == (shorter == longer)
    # Adding in two steps is adding the sum.
    if longer > shorter:
        assert add_working_time(calendar, early, longer - shorter) == late


@PROPERTY
@given(st.sampled_from(CALENDARS), moments, moments, moments)
def test_measured_time_adds_up(calendar: Calendar, a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted((a, b, c))
    c = min(c, a + timedelta(days=400))
    b = min(b, c)

    ab, bc = working_time_between(calendar, a, b), working_time_between(calendar, b, c)

    assert ab >= timedelta(0)
    assert ab + bc == working_time_between(calendar, a, c)
    assert ab <= b - a


@PROPERTY
@given(st.sampled_from(CALENDARS), moments, round_durations)
def test_explain_add_ends_at_the_deadline(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    steps = explain_add(calendar, start, duration)

    assert steps[-1].end == add_working_time(calendar, start, duration)
    assert sum((step.counted for step in steps), timedelta(0)) == duration
