"""Per-IP and global limits on web submissions: a table of histories and verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbot.core.submission_limits import (
    ALLOW,
    DEFAULT_WINDOWS,
    Verdict,
    Window,
    decide_submission,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
HOUR, DAY, GLOBAL = DEFAULT_WINDOWS


def ago(*minutes: float) -> tuple[datetime, ...]:
    return tuple(NOW - timedelta(minutes=m) for m in minutes)


@pytest.mark.parametrize(
    ("mine", "everyone", "expected"),
    [
        ((), (), ALLOW),
        (ago(1, 2, 3, 4), ago(1, 2, 3, 4), ALLOW),
        # The fifth in an hour was the last: the oldest of them frees a place at 50 min ago + 1 h.
        (ago(1, 2, 3, 4, 50), ago(1, 2, 3, 4, 50), Verdict(False, 10 * 60, HOUR)),
        # Unsorted input, and more than the limit: the 5th newest decides.
        (ago(50, 4, 59, 3, 1, 2), ago(), Verdict(False, 10 * 60, HOUR)),
        # One that left the window an instant ago does not count.
        (ago(1, 2, 3, 4, 60), ago(), ALLOW),
        # A time in the future (clock skew between processes) does not count.
        (ago(1, 2, 3, 4, -5), ago(), ALLOW),
        # 20 a day, spread over more than an hour: refused until the oldest is a day old.
        (
            ago(*range(70, 70 + 20 * 60, 60)),
            ago(),
            Verdict(False, 24 * 60 * 60 - (70 + 19 * 60) * 60, DAY),
        ),
        (ago(*range(70, 70 + 19 * 60, 60)), ago(), ALLOW),
        # Both windows refuse: the longer wait wins.
        (
            ago(1, 2, 3, 4, 5, *range(100, 100 + 15 * 60, 60)),
            ago(),
            Verdict(False, 24 * 60 * 60 - (100 + 14 * 60) * 60, DAY),
        ),
        # Everyone together: the global cap.
        ((), ago(*[i / 10 for i in range(1, 201)]), Verdict(False, 60 * 60 - 20 * 60, GLOBAL)),
        ((), ago(*[i / 10 for i in range(1, 200)]), ALLOW),
    ],
)
def test_default_windows(
    mine: tuple[datetime, ...], everyone: tuple[datetime, ...], expected: Verdict
) -> None:
    assert decide_submission(now=NOW, from_address=mine, from_everyone=everyone) == expected


def test_retry_after_is_rounded_up_and_at_least_a_second() -> None:
    window = Window("ip", 1, timedelta(hours=1))
    made = NOW - timedelta(minutes=59, seconds=59, microseconds=500_000)
    verdict = decide_submission(now=NOW, from_address=(made,), from_everyone=(), windows=(window,))
    assert verdict == Verdict(False, 1, window)
    made = NOW - timedelta(minutes=30, microseconds=1)
    verdict = decide_submission(now=NOW, from_address=(made,), from_everyone=(), windows=(window,))
    assert verdict == Verdict(False, 30 * 60, window)


def test_a_window_of_zero_closes_the_form() -> None:
    closed = Window("global", 0, timedelta(hours=1))
    verdict = decide_submission(now=NOW, from_address=(), from_everyone=(), windows=(closed,))
    assert verdict == Verdict(False, 3600, closed)


def test_no_windows_allow_everything() -> None:
    assert (
        decide_submission(now=NOW, from_address=ago(1) * 100, from_everyone=(), windows=()) == ALLOW
    )


@pytest.mark.parametrize(("count", "period"), [(-1, timedelta(hours=1)), (5, timedelta(0))])
def test_a_window_must_make_sense(count: int, period: timedelta) -> None:
    with pytest.raises(ValueError):
        Window("ip", count, period)
