from datetime import timedelta

import pytest

from mailbot.core.humanize import human_duration


@pytest.mark.parametrize(
    ("length", "pl", "en"),
    [
        (timedelta(0), "0 min", "0 min"),
        (timedelta(seconds=59), "0 min", "0 min"),
        (timedelta(minutes=30), "30 min", "30 min"),
        (timedelta(hours=1), "1 h", "1 h"),
        (timedelta(hours=1, minutes=30), "1 h 30 min", "1 h 30 min"),
        (timedelta(days=1), "1 dzień", "1 day"),
        (timedelta(days=2, hours=4), "2 dni 4 h", "2 days 4 h"),
        (timedelta(days=-1), "0 min", "0 min"),
    ],
)
def test_human_duration(length: timedelta, pl: str, en: str) -> None:
    assert human_duration(length, "pl") == pl
    assert human_duration(length, "en") == en
