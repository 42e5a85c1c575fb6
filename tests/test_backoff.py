"""Reconnection backoff: the pure delay (equal jitter, capped), and the daemon living with an
IMAP outage: it logs it once when it begins and once when it ends, and skips polls meanwhile."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailbot.core.backoff import Outage, after_failure, backoff_delay

S = timedelta(seconds=1)
BASE = 2 * S
CAP = 60 * S


@pytest.mark.parametrize(
    ("failures", "jitter", "expected"),
    [
        (0, 0.5, 0 * S),  # nothing failed: no wait
        (1, 0.0, 1 * S),  # half the first step...
        (1, 0.5, 1.5 * S),
        (1, 0.999, 1.999 * S),  # ...up to (almost) all of it
        (2, 0.0, 2 * S),  # the step doubles: 4 s
        (3, 0.5, 6 * S),  # 8 s
        (6, 0.0, 30 * S),  # 64 s is over the cap: the step is 60 s
        (6, 0.999, 59.97 * S),
        (10_000, 0.5, 45 * S),  # no overflow, however long the outage
    ],
)
def test_backoff_delay(failures: int, jitter: float, expected: timedelta) -> None:
    delay = backoff_delay(failures, base=BASE, cap=CAP, jitter=jitter)
    assert delay.total_seconds() == pytest.approx(expected.total_seconds())


def test_delays_grow_whatever_the_draws_and_never_pass_the_cap() -> None:
    draws = (0.0, 0.3, 0.999999)
    for failures in range(1, 40):
        now = [backoff_delay(failures, base=BASE, cap=CAP, jitter=j) for j in draws]
        after = [backoff_delay(failures + 1, base=BASE, cap=CAP, jitter=j) for j in draws]
        # With the same draw, never shorter; and never over the cap.
        assert all(later >= earlier for earlier, later in zip(now, after, strict=True))
        assert max(now) <= CAP
        if BASE * 2**failures <= CAP:
            # Equal jitter, below the cap: the shortest next wait is the longest one now.
            assert min(after) >= max(now)
        else:
            assert min(after) >= CAP / 2  # at the cap: between half of it and all of it


def test_a_cap_below_the_base_wins() -> None:
    assert backoff_delay(1, base=60 * S, cap=10 * S, jitter=0.999) <= 10 * S


def test_jitter_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="jitter"):
        backoff_delay(1, base=BASE, cap=CAP, jitter=1.0)


def test_an_outage_counts_failures_from_its_start() -> None:
    first = after_failure(None, now=100.0, base=BASE, cap=CAP, jitter=0.0)
    assert first == Outage(since=100.0, failures=1, retry_at=101.0)
    assert not first.due(100.9) and first.due(101.0)
    second = after_failure(first, now=101.5, base=BASE, cap=CAP, jitter=0.0)
    assert second == Outage(since=100.0, failures=2, retry_at=103.5)
