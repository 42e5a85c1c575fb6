"""Working-time arithmetic on business calendars: pure, no I/O, no clock, no logging.

The rules:

1. Every datetime in and out is timezone-aware; results are in UTC. A naive
   datetime is a ValueError, never silently taken as local or UTC time.
2. A calendar works in intervals of LOCAL wall-clock time, one per local date
   (``zoneinfo``, so daylight-saving changes come from the time-zone database,
   never from fixed offsets), converted to UTC. With working hours such as
   08:00-16:00 a working day's interval is [08:00, 16:00) local; without them
   it is the whole day, [00:00, next 00:00) local. Working time is the real
   elapsed time inside those intervals: a whole working day that loses an hour
   to daylight saving holds 23 hours.
3. A day is off when its weekday is not a working weekday, when it is a public
   holiday of the calendar's country (from the ``holidays`` package, which
   knows that 24 December is a holiday in Poland from 2025 on), or when it is
   one of the company's extra days off. Days off have no working interval.
4. The 24/7 calendar (``always``) has no days off and one endless interval:
   working time is plain elapsed time (1 h from 23:30 on 31 December is 00:30
   on 1 January; 2 days are 48 elapsed hours).
5. ``add_working_time(calendar, start, d)`` is the moment when ``d`` of working
   time has elapsed since ``start``. A start outside working time begins
   counting at the next working moment. When ``d`` runs out exactly at the end
   of an interval, the result is that end (Friday 24:00 = Saturday 00:00
   local; 16:00 with hours 08:00-16:00), never the start of the next one. So a
   warranty ticket received on Friday 15:00 with 24 h is due on Monday 15:00
   local, also across the daylight-saving weekends.
6. ``subtract_working_time`` is the mirror image, for "4 h before the
   deadline": when it lands exactly at the start of an interval, the result is
   that start.
7. A duration may be a plain ``timedelta`` of working time or a
   ``WorkingDuration`` (whole working days plus working time). A working day is
   one day's interval of the calendar: 24 h on a whole-day or 24/7 calendar,
   8 h with 08:00-16:00; so "5d" means 5 working days on any calendar.
   Durations must be more than zero.
8. No loop runs forever: a calendar needs at least one working weekday, and a
   walk over more than 3660 days (ten years) is a ValueError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from holidays.registry import EntityLoader

from mailbot.core.durations import settings_parts

WARSAW = ZoneInfo("Europe/Warsaw")
MONDAY_TO_FRIDAY = frozenset(range(5))
EVERY_DAY = frozenset(range(7))

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MAX_DAYS = 3660  # ten years of walking day by day is a configuration error, not a deadline
# The longest window or reminder a setting may give (parse_working_duration).
MAX_WORKING_DAYS = 366
_ZERO = timedelta(0)
_DAY = timedelta(days=1)
_MIDNIGHT = time(0)
# The far ends of time for the endless interval of the 24/7 calendar.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + _DAY
_LATEST = datetime.max.replace(tzinfo=UTC) - _DAY


@dataclass(frozen=True)
class Calendar:
    """When work happens: working weekdays and hours in a time zone, minus days off.

    ``workdays`` are ``date.weekday()`` numbers (0 = Monday .. 6 = Sunday);
    ``hours`` are local working hours (start before end, both in one day), None
    for the whole day; ``country`` is a country code for ``holidays`` (None: no
    public holidays); ``days_off`` are the company's extra days off. With
    ``always`` every moment is working time and the other fields only serve to
    show local times. Raises ValueError when the fields make no calendar.
    """

    name: str
    tz: ZoneInfo = WARSAW
    workdays: frozenset[int] = MONDAY_TO_FRIDAY
    hours: tuple[time, time] | None = None
    country: str | None = "PL"
    days_off: frozenset[date] = field(default_factory=frozenset)
    always: bool = False

    def __post_init__(self) -> None:
        if not self.workdays or not self.workdays <= EVERY_DAY:
            raise ValueError(
                f"calendar {self.name!r}: workdays must be a non-empty set of 0 (Monday)"
                f" to 6 (Sunday), got {sorted(self.workdays)}"
            )
        if self.hours is not None:
            start, end = self.hours
            if start.tzinfo is not None or end.tzinfo is not None or not start < end:
                raise ValueError(
                    f"calendar {self.name!r}: hours must be two local times, start before end,"
                    f" got {start.isoformat()}-{end.isoformat()}"
                )
        if self.country is not None and self.country not in supported_countries():
            raise ValueError(
                f"calendar {self.name!r}: the holidays package knows no country {self.country!r}"
            )


ALWAYS = Calendar("always", workdays=EVERY_DAY, country=None, always=True)


def business_calendar(
    name: str = "business",
    *,
    tz: ZoneInfo = WARSAW,
    workdays: frozenset[int] = MONDAY_TO_FRIDAY,
    hours: tuple[time, time] | None = None,
    country: str | None = "PL",
    days_off: frozenset[date] = frozenset(),
) -> Calendar:
    """A business calendar; the defaults are the service terms' (Mon-Fri, whole days, PL)."""
    return Calendar(name, tz, workdays, hours, country, days_off)


@dataclass(frozen=True)
class Step:
    """One day of ``explain_add``: the working interval used (UTC), or a day skipped (0)."""

    start: datetime
    end: datetime
    counted: timedelta
    note: str


# --- durations ------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingDuration:
    """A length on a calendar: whole working days plus working time.

    A 'day' is one working day of the calendar (24 h with whole-day hours, 8 h
    with 08:00-16:00), so '5d' means 5 working days on any calendar; the time
    part is working time as it is.
    """

    days: int = 0
    time: timedelta = _ZERO

    def __post_init__(self) -> None:
        if self.days < 0 or self.time < _ZERO:
            raise ValueError(f"a working duration cannot be negative, got {self!r}")

    def __str__(self) -> str:
        days = f"{self.days}d" if self.days else ""
        return days + _format_time(self.time) if self.time or not days else days


_DURATION_HINT = 'expected e.g. "90s", "30m", "1h30m", "5d", "1d 12h" or a number of seconds'


def parse_working_duration(text: str | int) -> WorkingDuration:
    """Parse ``"5d"``, ``"24h"``, ``"1d12h"``, ``"30m"``, ``"90s"``, ``"1d 2h"`` or seconds.

    The settings' form of mailbot.core.durations: whole numbers, units d, h, m, s
    in that order, each at most once, optionally separated by spaces; an int (or
    a string of digits) is seconds. Raises ValueError (message starts with "bad
    duration") for anything else, zero included, and for more than
    MAX_WORKING_DAYS in all (a deadline a year away is a typo).
    """
    found = settings_parts(text)
    if found is None:
        raise ValueError(f"bad duration: {_DURATION_HINT}, got {_show(text)}")
    days, seconds = found
    if days <= 0 and seconds <= 0:
        raise ValueError(f"bad duration: must be more than zero, got {_show(text)}")
    if days * _DAY.total_seconds() + seconds > MAX_WORKING_DAYS * _DAY.total_seconds():
        raise ValueError(f"bad duration: at most {MAX_WORKING_DAYS} days, got {_show(text)}")
    return WorkingDuration(days, timedelta(seconds=seconds))


def _show(value: object) -> str:
    if not isinstance(value, str):
        return repr(value)
    # A value pasted by mistake may be huge; its start is enough to recognise it.
    return json.dumps(value if len(value) <= 80 else value[:80] + "...", ensure_ascii=False)


def day_length(calendar: Calendar) -> timedelta:
    """The working time in one working day: 24 h for whole days and 24/7, else end - start."""
    if calendar.always or calendar.hours is None:
        return _DAY
    start, end = calendar.hours
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)


def working_length(calendar: Calendar, duration: WorkingDuration) -> timedelta:
    """``duration`` as working time on ``calendar``: days * day_length + time."""
    return duration.days * day_length(calendar) + duration.time


# --- days ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def supported_countries() -> frozenset[str]:
    """The country codes (alpha-2, alpha-3 and aliases) the holidays package knows.

    From its registry, not ``holidays.list_supported_countries()``: that one imports
    all 250 countries' modules for their subdivisions (6 MB in every process that only
    loads the settings, `mailbot web` included: bench.web)."""
    return frozenset(EntityLoader.get_country_codes())


@lru_cache(maxsize=256)
def _public_holidays(country: str, year: int) -> Mapping[date, str]:
    # The country's own language, explicitly: left out, the package follows the locale.
    language = holidays.country_holidays(country).default_language
    return dict(holidays.country_holidays(country, years=year, language=language))


def day_off_reason(calendar: Calendar, day: date) -> str | None:
    """Why ``day`` is off ("weekend", "public holiday (...)", "company day off"), else None."""
    if calendar.always:
        return None
    weekday = day.weekday()
    if weekday not in calendar.workdays:
        return "weekend" if weekday >= 5 else f"no work on {_WEEKDAY_NAMES[weekday]}s"
    if calendar.country is not None and day in _public_holidays(calendar.country, day.year):
        return f"public holiday ({_public_holidays(calendar.country, day.year)[day]})"
    if day in calendar.days_off:
        return "company day off"
    return None


def is_day_off(calendar: Calendar, day: date) -> bool:
    """True when ``day`` (a local date) has no working time on ``calendar``."""
    return day_off_reason(calendar, day) is not None


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)


def _local_day(calendar: Calendar, moment: datetime) -> date:
    return moment.astimezone(calendar.tz).date()


def _at(calendar: Calendar, day: date, clock: time) -> datetime:
    """Local ``clock`` time on ``day`` in UTC (a time in a DST gap counts as the earlier offset)."""
    return datetime.combine(day, clock, tzinfo=calendar.tz).astimezone(UTC)


def _day_bounds(calendar: Calendar, day: date) -> tuple[datetime, datetime]:
    """The working interval of ``day`` (as if it were a working day), in UTC."""
    if calendar.hours is None or calendar.always:
        return _at(calendar, day, _MIDNIGHT), _at(calendar, day + _DAY, _MIDNIGHT)
    start, end = calendar.hours
    return _at(calendar, day, start), _at(calendar, day, end)


@lru_cache(maxsize=4096)
def _working_bounds(calendar: Calendar, day: date) -> tuple[datetime, datetime] | None:
    """The working interval of ``day`` in UTC, None on a day off. Kept: every new ticket
    walks the same days for its deadlines and reminders, and the time zone arithmetic and
    the holiday lookup cost more than the walk. (A calendar is a frozen value: a changed
    configuration is another key.)"""
    return None if day_off_reason(calendar, day) is not None else _day_bounds(calendar, day)


def _days(first: date, *, backwards: bool = False) -> Iterator[date]:
    """Days from ``first`` on (or back); at most _MAX_DAYS of them."""
    step = -_DAY if backwards else _DAY
    return (first + offset * step for offset in range(_MAX_DAYS))


def _walk(calendar: Calendar, first: date) -> Iterator[tuple[date, str | None]]:
    """Days from ``first`` on, each with why it is off; at most _MAX_DAYS of them."""
    for day in _days(first):
        yield day, day_off_reason(calendar, day)


def _too_far(calendar: Calendar, moment: datetime) -> ValueError:
    return ValueError(
        f"calendar {calendar.name!r}: the answer lies more than {_MAX_DAYS} days from"
        f" {moment.isoformat()}"
    )


def _intervals(
    calendar: Calendar, start: datetime, *, backwards: bool = False
) -> Iterator[tuple[datetime, datetime]]:
    """The working intervals (UTC) after ``start`` in time order, or before it in reverse.

    Intervals are clipped at ``start``; empty ones are left out. It ends after
    _MAX_DAYS days (one endless interval for the 24/7 calendar).
    """
    if calendar.always:
        yield (_EARLIEST, start) if backwards else (start, _LATEST)
        return
    for day in _days(_local_day(calendar, start), backwards=backwards):
        bounds = _working_bounds(calendar, day)
        if bounds is None:
            continue
        begin, end = bounds
        begin, end = (begin, min(end, start)) if backwards else (max(begin, start), end)
        if begin < end:
            yield begin, end


def _positive(calendar: Calendar, duration: timedelta | WorkingDuration) -> timedelta:
    length = duration if isinstance(duration, timedelta) else working_length(calendar, duration)
    if length <= _ZERO:
        raise ValueError(f"a duration of working time must be more than zero, got {length}")
    return length


# --- the arithmetic -----------------------------------------------------------------


def is_working_time(calendar: Calendar, moment: datetime) -> bool:
    """True when ``moment`` (aware) lies inside a working interval of ``calendar``."""
    moment = _utc(moment, "moment")
    day = _local_day(calendar, moment)
    if is_day_off(calendar, day):
        return False
    begin, end = _day_bounds(calendar, day)
    return begin <= moment < end


def add_working_time(
    calendar: Calendar, start: datetime, duration: timedelta | WorkingDuration
) -> datetime:
    """The moment (UTC) when ``duration`` of working time has elapsed since ``start``."""
    start = _utc(start, "start")
    remaining = _positive(calendar, duration)
    for begin, end in _intervals(calendar, start):
        if remaining <= end - begin:
            return begin + remaining
        remaining -= end - begin
    raise _too_far(calendar, start)


def subtract_working_time(
    calendar: Calendar, end: datetime, duration: timedelta | WorkingDuration
) -> datetime:
    """The moment (UTC) ``duration`` of working time before ``end`` (e.g. a reminder)."""
    end = _utc(end, "end")
    remaining = _positive(calendar, duration)
    for begin, stop in _intervals(calendar, end, backwards=True):
        if remaining <= stop - begin:
            return stop - remaining
        remaining -= stop - begin
    raise _too_far(calendar, end)


def working_time_between(calendar: Calendar, a: datetime, b: datetime) -> timedelta:
    """The working time from ``a`` to ``b``; negative when ``b`` is before ``a``."""
    a, b = _utc(a, "a"), _utc(b, "b")
    if b < a:
        return -working_time_between(calendar, b, a)
    total = _ZERO
    for begin, end in _intervals(calendar, a):
        if end >= b:
            return total + max(b - begin, _ZERO)
        total += end - begin
    raise _too_far(calendar, a)


# --- explaining -----------------------------------------------------------------------


def explain_add(
    calendar: Calendar, start: datetime, duration: timedelta | WorkingDuration
) -> list[Step]:
    """The days ``add_working_time`` walks through, for ``mailbot sla explain``.

    One Step per day from the start's local date to the deadline's: the working
    time counted on it, or a note why nothing was (weekend, holiday, ...). The
    last step's ``end`` is ``add_working_time(calendar, start, duration)``.
    """
    start = _utc(start, "start")
    remaining = _positive(calendar, duration)
    steps: list[Step] = []
    for day, reason in _walk(calendar, _local_day(calendar, start)):
        step = _explain_day(calendar, day, reason, start, remaining)
        steps.append(step)
        remaining -= step.counted
        if remaining == _ZERO:
            return steps
    raise _too_far(calendar, start)


def _explain_day(
    calendar: Calendar, day: date, reason: str | None, start: datetime, remaining: timedelta
) -> Step:
    label = f"{_WEEKDAY_NAMES[day.weekday()]} {day.isoformat()}"
    begin, end = _day_bounds(calendar, day)
    if reason is not None:
        whole_day = _at(calendar, day, _MIDNIGHT), _at(calendar, day + _DAY, _MIDNIGHT)
        return Step(*whole_day, _ZERO, f"{label}: {reason}")
    begin = max(begin, start)
    if begin >= end:
        return Step(start, start, _ZERO, f"{label}: after working hours ({_hours(calendar)})")
    counted = min(remaining, end - begin)
    clock = f"{_clock(calendar, day, begin)}-{_clock(calendar, day, begin + counted)}"
    return Step(begin, begin + counted, counted, f"{label} {clock} ({_format_time(counted)})")


def _clock(calendar: Calendar, day: date, moment: datetime) -> str:
    """HH:MM of ``moment`` on the local ``day``; the midnight that ends it is 24:00."""
    local = moment.astimezone(calendar.tz)
    return "24:00" if local.date() > day else local.strftime("%H:%M")


def _hours(calendar: Calendar) -> str:
    if calendar.hours is None:
        return "00:00-24:00"
    start, end = calendar.hours
    return f"{start:%H:%M}-{end:%H:%M}"


def _format_time(length: timedelta) -> str:
    """``9h``, ``1h30m``, ``25h``, ``45s``: hours, minutes and seconds, zeros left out."""
    seconds = int(length.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n]
    return "".join(parts) or "0s"
