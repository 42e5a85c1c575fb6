"""Express service in the SLA core: the resolution deadline on the express window, its pauses,
and turning it on and off. Times are hand-checked (Warsaw is UTC+1 in November and December)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbot.core.calendar import ALWAYS, business_calendar, parse_working_duration
from mailbot.core.sla import (
    Change,
    DeadlineKind,
    SlaClock,
    TierPolicy,
    change_status,
    clock_deadlines,
    deadlines,
    express_resolution_due,
    planned_alerts,
    set_express,
)

d = parse_working_duration
BUSINESS = business_calendar()
POST = TierPolicy(BUSINESS, d("24h"), d("14d"), (d("4h"),), (d("1d"), d("2h")), d("2d"))
WARRANTY = TierPolicy(BUSINESS, d("24h"), d("5d"), (d("4h"),), (d("1d"), d("2h")))
VIP = TierPolicy(ALWAYS, d("1h"), d("2d"), (d("30m"), d("10m")), (d("4h"), d("1h")))
# A slower "express" than the normal window: the normal one wins.
SLOW_EXPRESS = TierPolicy(BUSINESS, d("24h"), d("5d"), (), (), d("20d"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


WED = utc(2026, 11, 25, 9)  # Wednesday 25 November, 10:00 in Warsaw
DAY = timedelta(hours=24)  # one working day on the whole-day business calendar


@pytest.mark.parametrize(
    ("policy", "received", "paused", "expected"),
    [
        # Wednesday 10:00 + 2 working days = Friday 10:00.
        (POST, WED, timedelta(0), utc(2026, 11, 27, 9)),
        # Thursday 10:00 + 2 working days skips the weekend: Monday 10:00.
        (POST, utc(2026, 11, 26, 9), timedelta(0), utc(2026, 11, 30, 9)),
        # Tuesday 22 December: Wednesday 23 is day 1, 24-27 are holidays and a weekend,
        # Monday 28 is day 2.
        (POST, utc(2026, 12, 22, 9), timedelta(0), utc(2026, 12, 28, 9)),
        # A working day spent waiting for the customer does not count: Monday 10:00.
        (POST, WED, DAY, utc(2026, 11, 30, 9)),
        # ... nor do 3 h of it: Friday 13:00.
        (POST, WED, timedelta(hours=3), utc(2026, 11, 27, 12)),
        # Never later than the normal deadline: 5 working days, Wednesday 2 December.
        (SLOW_EXPRESS, WED, timedelta(0), utc(2026, 12, 2, 9)),
    ],
)
def test_the_express_resolution_deadline(
    policy: TierPolicy, received: datetime, paused: timedelta, expected: datetime
) -> None:
    assert express_resolution_due(received, policy, paused=paused) == expected
    due = deadlines(received, policy, paused=paused, express=True)
    assert due.resolution_due == expected
    # The reaction deadline is the tier's, express or not.
    assert due.reaction_due == deadlines(received, policy, paused=paused).reaction_due


@pytest.mark.parametrize("policy", [WARRANTY, VIP])
def test_a_tier_without_express_keeps_its_deadlines(policy: TierPolicy) -> None:
    assert express_resolution_due(WED, policy) is None
    assert deadlines(WED, policy, express=True) == deadlines(WED, policy)


def test_a_ticket_not_express_keeps_the_normal_window() -> None:
    # 14 working days from Wednesday 25 November: Tuesday 15 December 10:00.
    assert deadlines(WED, POST).resolution_due == utc(2026, 12, 15, 9)


@pytest.mark.parametrize(
    ("policy", "on", "resolution_due", "events"),
    [
        (
            POST,
            True,
            utc(2026, 11, 27, 9),
            ["express: the resolution deadline runs on the express window 2d"],
        ),
        (WARRANTY, True, utc(2026, 12, 2, 9), [
            "express: this tier has no express service, the deadlines stay"
        ]),
    ],
)  # fmt: skip
def test_turning_express_on(
    policy: TierPolicy, on: bool, resolution_due: datetime, events: list[str]
) -> None:
    clock, said = set_express(SlaClock(received_at=WED), policy, on)
    assert clock.express is on
    assert clock_deadlines(clock, policy).resolution_due == resolution_due
    assert said == events


def test_turning_express_off_brings_back_the_normal_deadline() -> None:
    express = SlaClock(received_at=WED, paused=DAY, express=True)
    assert clock_deadlines(express, POST).resolution_due == utc(2026, 11, 30, 9)
    clock, said = set_express(express, POST, False)
    # 14 working days plus the working day waited: Wednesday 16 December.
    assert clock_deadlines(clock, POST).resolution_due == utc(2026, 12, 16, 9)
    assert said == ["express off: the resolution deadline runs on the window 14d"]


def test_setting_express_again_changes_nothing() -> None:
    clock = SlaClock(received_at=WED, express=True)
    assert set_express(clock, POST, True) == (clock, [])
    assert set_express(SlaClock(received_at=WED), POST, False) == (SlaClock(received_at=WED), [])


def test_waiting_stops_the_express_clock_as_it_stops_the_normal_one() -> None:
    clock, _ = set_express(SlaClock(received_at=WED), POST, True)
    # Staff ask the customer on Thursday 10:00; the answer comes on Monday 10:00: the
    # ticket waited Thursday 10:00-24:00, Friday and Monday 00:00-10:00, 48 working hours.
    clock, _ = change_status(clock, POST, Change("open", "waiting", utc(2026, 11, 26, 9), True))
    # While it waits, the deadline counts only the pauses that ended (none yet).
    assert clock_deadlines(clock, POST).resolution_due == utc(2026, 11, 27, 9)
    clock, said = change_status(
        clock, POST, Change("waiting", "open", utc(2026, 11, 30, 9), by_staff=False)
    )
    assert clock.paused == 2 * DAY and clock.express
    # Wednesday 10:00 + 2 + 2 working days: Tuesday 1 December 10:00.
    assert clock_deadlines(clock, POST).resolution_due == utc(2026, 12, 1, 9)
    assert said == ["resumed: the resolution deadline moves by 2 days of working time"]


def test_reminders_longer_than_the_express_window_are_left_out() -> None:
    # A 4 h express window with the tier's resolution reminders 1d and 2h: the 1d reminder
    # would fall before the ticket came, so only the 2h one and the escalation are planned.
    short = TierPolicy(BUSINESS, d("24h"), d("14d"), (), (d("1d"), d("2h")), d("4h"))
    clock, _ = set_express(SlaClock(received_at=WED), short, True)
    due = clock_deadlines(clock, short)
    assert due.resolution_due == utc(2026, 11, 25, 13)
    alerts = [a for a in planned_alerts(clock, short, due) if a.kind is DeadlineKind.RESOLUTION]
    assert [(a.at, a.before) for a in alerts] == [
        (utc(2026, 11, 25, 11), d("2h")),
        (utc(2026, 11, 25, 13), None),
    ]
    # Without express the same ticket keeps both reminders of its 14-day window.
    normal = SlaClock(received_at=WED)
    normal_due = clock_deadlines(normal, short)
    kept = [a.before for a in planned_alerts(normal, short, normal_due) if a.before]
    assert d("1d") in kept and d("2h") in kept
