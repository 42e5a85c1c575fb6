"""The one duration grammar (mailbot.core.durations) and the two forms its callers take."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mailbot.core.durations import DurationText, read_duration, settings_parts, work_seconds

D = Decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", DurationText(seconds=D(90))),
        ("30m", DurationText(minutes=D(30))),
        ("45min", DurationText(minutes=D(45))),
        ("1h30m", DurationText(hours=D(1), minutes=D(30))),
        ("2d", DurationText(days=D(2))),
        ("1d 12h", DurationText(days=D(1), hours=D(12))),
        (" 1 h 5 min ", DurationText(hours=D(1), minutes=D(5))),
        (" 1h 30m 15s ", DurationText(hours=D(1), minutes=D(30), seconds=D(15))),
        ("1.5h", DurationText(hours=D("1.5"), fraction=True)),
        ("1,5h", DurationText(hours=D("1.5"), fraction=True)),
        ("2H", DurationText(hours=D(2), upper_case=True)),
        ("30Min", DurationText(minutes=D(30), upper_case=True)),
        ("120", DurationText(seconds=D(120), bare=True)),
        (45, DurationText(seconds=D(45), bare=True)),
        (-5, DurationText(seconds=D(-5), bare=True)),
        ("0s", DurationText()),
        # Huge numbers stand in as 10**30, which every caller's bound refuses.
        ("9" * 5000 + "h", DurationText(hours=D(10**30))),
    ],
)
def test_read_duration(text: str | int, expected: DurationText) -> None:
    assert read_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "soon", "h", "-5m", "-1h", "30m1h", "1h1h", "2w", "1.5.h", "1:30", "1h x", True],
)
def test_no_duration(text: str | int) -> None:
    assert read_duration(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", (0, 90)),
        ("1d12h", (1, 43200)),
        ("1d 12h", (1, 43200)),
        ("120", (0, 120)),
        (45, (0, 45)),
        ("30min", (0, 1800)),
        ("0", (0, 0)),  # zero is the caller's to refuse
    ],
)
def test_settings_parts(text: str | int, expected: tuple[int, int]) -> None:
    assert settings_parts(text) == expected


@pytest.mark.parametrize("text", ["1.5h", "1H", "2D", "soon", True])
def test_settings_take_whole_numbers_and_lower_case(text: str | int) -> None:
    assert settings_parts(text) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400),
        ("90m", 5400),
        ("1.5h", 5400),
        ("1,5H", 5400),
        ("1h 5min", 3900),
        ("1 h", 3600),
        ("1d", 86400),
        ("0m", 0),  # too short is the caller's to refuse
    ],
)
def test_work_seconds(text: str, seconds: int) -> None:
    assert work_seconds(text) == seconds


@pytest.mark.parametrize("text", ["90", "", "-1h", "1.5.h", "soon"])
def test_work_takes_no_bare_number(text: str) -> None:
    assert work_seconds(text) is None
