"""The SLA core: deadlines, pauses, and which alerts go out when. Times are hand-checked."""

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
    deadlines,
    plan_alerts,
)

d = parse_working_duration
VIP = TierPolicy(ALWAYS, d("1h"), d("2d"), (d("30m"), d("10m")), (d("4h"), d("1h")))
WARRANTY = TierPolicy(business_calendar(), d("24h"), d("5d"), (d("4h"),), (d("1d"), d("2h")))
T = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # Wednesday 10:00 in Warsaw
MIN = timedelta(minutes=1)


def test_vip_new_year() -> None:
    # 23:30 on 31 December in Warsaw is 22:30 UTC; 1 h later is 00:30 on 1 January (23:30 UTC).
    received = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)
    due = deadlines(received, VIP)
    assert due.reaction_due == datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert due.resolution_due == received + timedelta(days=2)


def test_warranty_friday_afternoon_is_due_monday() -> None:
    # Friday 27 November 15:00 CET (14:00 UTC) + 24 working hours = Monday 30 November 15:00 CET.
    due = deadlines(datetime(2026, 11, 27, 14, 0, tzinfo=UTC), WARRANTY)
    assert due.reaction_due == datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def plan(clock: SlaClock, now: datetime, done: set[str] | None = None, policy: TierPolicy = VIP):
    due = deadlines(clock.received_at, policy, paused=clock.paused)
    return plan_alerts(clock, policy, due, done=done or set(), now=now)


def describe(alerts: tuple[object, ...]) -> list[str]:
    return [f"{a.kind}:{'escalation' if a.escalation else a.before}" for a in alerts]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("minutes", "sent_before", "expected", "next_in"),
    [
        (29, [], [], 30),  # nothing yet; the first reminder at 30 min before = T+30
        (30, [], ["reaction:30m"], 50),
        (50, ["reaction:30m"], ["reaction:10m"], 60),
        (60, ["reaction:30m", "reaction:10m"], ["reaction:escalation"], 2 * 24 * 60 - 4 * 60),
        # the daemon was down from T+20 to T+65: one late escalation, the reminders skipped
        (65, [], ["reaction:escalation"], 2 * 24 * 60 - 4 * 60),
    ],
)
def test_vip_reaction_alerts(
    minutes: int, sent_before: list[str], expected: list[str], next_in: int
) -> None:
    clock = SlaClock(received_at=T)
    earlier = plan(clock, T + timedelta(days=9))  # every alert, to learn the keys
    keys = {
        f"{a.kind}:{'escalation' if a.escalation else a.before}": a.key
        for a in earlier.send + earlier.skip
    }
    all_alerts = {**keys}
    done = {all_alerts[name] for name in sent_before}

    result = plan(clock, T + minutes * MIN, done)

    assert describe(result.send) == expected
    assert result.next_at == T + next_in * MIN


def test_late_alerts_say_so_and_skip_the_older_ones() -> None:
    result = plan(SlaClock(received_at=T), T + 65 * MIN)
    [escalation] = result.send
    assert escalation.late(T + 65 * MIN) and not escalation.late(T + 61 * MIN)
    assert describe(result.skip) == ["reaction:30m", "reaction:10m"]


def test_met_deadlines_have_no_alerts() -> None:
    clock = SlaClock(received_at=T, first_response_at=T + 5 * MIN)
    result = plan(clock, T + 2 * 24 * 60 * MIN)  # two days later: only resolution alerts remain
    assert describe(result.send) == ["resolution:escalation"]
    resolved = SlaClock(received_at=T, first_response_at=T + MIN, resolved_at=T + 2 * MIN)
    assert plan(resolved, T + timedelta(days=9)).send == ()
    assert plan(resolved, T).next_at is None


def test_a_waiting_ticket_gets_no_resolution_alerts() -> None:
    clock = SlaClock(received_at=T, first_response_at=T + MIN, paused_since=T + 2 * MIN)
    assert plan(clock, T + timedelta(days=9)).send == ()


def test_a_moved_deadline_has_new_alerts() -> None:
    first = plan(SlaClock(received_at=T), T + timedelta(days=9))
    moved = plan(SlaClock(received_at=T, paused=timedelta(hours=2)), T + timedelta(days=9))
    assert {a.key for a in first.send if a.kind is DeadlineKind.RESOLUTION}.isdisjoint(
        a.key for a in moved.send if a.kind is DeadlineKind.RESOLUTION
    )


def test_pause_and_resume_move_the_resolution_deadline_by_the_paused_time() -> None:
    clock = SlaClock(received_at=T)
    before = deadlines(T, VIP)
    clock, events = change_status(clock, VIP, Change("new", "waiting", T + 60 * MIN, by_staff=True))
    assert events[0].startswith("first_response") and events[1].startswith("paused")
    clock, events = change_status(
        clock, VIP, Change("waiting", "open", T + 180 * MIN, by_staff=False)
    )
    after = deadlines(T, VIP, paused=clock.paused)
    assert after.resolution_due - before.resolution_due == timedelta(hours=2)
    assert after.reaction_due == before.reaction_due
    assert events == ["resumed: the resolution deadline moves by 2 h of working time"]


def test_a_pause_over_a_weekend_counts_only_working_time() -> None:
    # Waiting from Friday 27 November 15:00 CET to Monday 30 November 09:00 CET:
    # Friday 15:00-24:00 (9 h) + Monday 00:00-09:00 (9 h) = 18 h of working time.
    friday = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    clock = SlaClock(received_at=friday - timedelta(hours=1))
    clock, _ = change_status(clock, WARRANTY, Change("open", "waiting", friday, by_staff=True))
    clock, _ = change_status(clock, WARRANTY, Change("waiting", "open", monday, by_staff=False))
    assert clock.paused == timedelta(hours=18)


def test_resolving_meets_the_deadline_and_reopening_undoes_it() -> None:
    clock, events = change_status(
        SlaClock(T), VIP, Change("open", "resolved", T + MIN, by_staff=True)
    )
    assert clock.resolved_at == T + MIN and clock.first_response_at == T + MIN
    assert events[-1].startswith("resolved")
    clock, events = change_status(
        clock, VIP, Change("resolved", "open", T + 2 * MIN, by_staff=False)
    )
    assert clock.resolved_at is None and events == [
        "reopened: the resolution deadline applies again"
    ]


def test_a_customer_action_does_not_meet_the_reaction() -> None:
    clock, _ = change_status(SlaClock(T), VIP, Change("waiting", "open", T + MIN, by_staff=False))
    assert clock.first_response_at is None
