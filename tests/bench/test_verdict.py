"""The benchmark's judging of targets that compare two configurations: medians of
repeated runs (the pure part, bench.verdict)."""

from __future__ import annotations

import pytest

from bench.verdict import at_least, figures, median, median_share, provisional


@pytest.mark.parametrize(
    ("ours", "theirs", "share"),
    [
        ([211.0, 205.0, 230.0], [300.0, 315.0, 320.0], 211 / 315),
        # One disturbed run on each side: the medians ignore both.
        ([300.0, 120.0, 310.0], [320.0, 330.0, 900.0], 300 / 330),
        # An even count: the mean of the two middle figures.
        ([100.0, 300.0], [400.0], 200 / 400),
        ([150.0], [250.0], 150 / 250),
        ([], [250.0], None),
        ([150.0], [], None),
        ([150.0], [0.0], None),
    ],
)
def test_median_share(ours: list[float], theirs: list[float], share: float | None) -> None:
    assert median_share(ours, theirs) == (pytest.approx(share) if share is not None else None)


@pytest.mark.parametrize(
    ("share", "fraction", "verdict"),
    [
        (0.95, 0.9, True),
        (0.9, 0.9, True),  # "at least": the limit itself passes
        (0.8999, 0.9, False),
        (0.53, 0.6, False),
        (None, 0.6, None),  # not measured
    ],
)
def test_at_least(share: float | None, fraction: float, verdict: bool | None) -> None:
    assert at_least(share, fraction) is verdict


def test_a_disturbed_run_no_longer_decides_the_verdict() -> None:
    """The case that made single runs flip: round by round, one run of each fails in the
    first round and passes in the second (the base's slow run); the medians of the three
    rounds give one verdict."""
    base, big = [237.0, 181.0, 229.0], [200.0, 214.0, 219.0]
    assert at_least(median_share(big[:1], base[:1]), 0.9) is False
    assert at_least(median_share(big[1:2], base[1:2]), 0.9) is True
    assert at_least(median_share(big, base), 0.9) is True
    assert median_share(big, base) == pytest.approx(214 / 229)


@pytest.mark.parametrize(
    ("values", "expected"), [([3.0, 1.0, 2.0], 2.0), ([1.0, 4.0], 2.5), ([], None)]
)
def test_median(values: list[float], expected: float | None) -> None:
    assert median(values) == expected


@pytest.mark.parametrize(
    ("values", "spec", "text"),
    [
        ([205.4, 211.6, 230.0], ".0f", "205, 212, 230"),  # in the runs' order, not sorted
        ([1.65, 3.9], ".1f", "1.6, 3.9"),
        ([], ".0f", ""),
    ],
)
def test_figures(values: list[float], spec: str, text: str) -> None:
    assert figures(values, spec) == text


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), False),
        (([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]), False),
        (([1.0, 2.0, 3.0], [1.0]), True),
        (([1.0, 2.0],), True),
    ],
)
def test_provisional(groups: tuple[list[float], ...], expected: bool) -> None:
    assert provisional(*groups) is expected
