"""When a mail counts as received (core.received, issue 13 item 9): a table, a property,
and the Date header it leans on, read leniently."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.parsing import parse_mail
from mailbot.core.received import Received, received_time

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WARSAW_WINTER = timezone(HOUR)


@pytest.mark.parametrize(
    ("mailbox", "header", "expected", "doubt"),
    [
        pytest.param(NOW - 20 * 60 * timedelta(seconds=1), NOW - HOUR, NOW - timedelta(minutes=20), None, id="normal"),
        pytest.param(NOW - 3 * DAY, NOW - 3 * DAY - HOUR, NOW - 3 * DAY, None, id="mailbot-was-down"),
        pytest.param(None, NOW - HOUR, NOW, None, id="no-mailbox-date"),
        pytest.param(NOW + 3 * HOUR, None, NOW, None, id="future-mailbox-date"),
        pytest.param(datetime(1970, 1, 1, tzinfo=UTC), None, NOW, "is before 2000", id="epoch"),
        pytest.param(datetime(1999, 12, 31, 23, 59, tzinfo=UTC), None, NOW, "before 2000", id="1999"),
        pytest.param(datetime(2000, 1, 1, tzinfo=UTC), None, datetime(2000, 1, 1, tzinfo=UTC), None, id="2000"),
        pytest.param(NOW - 3 * DAY, NOW - HOUR, NOW, "more than a day before the mail's Date", id="before-date"),
        pytest.param(NOW - DAY, NOW - HOUR, NOW - DAY, None, id="within-a-day-of-date"),
        pytest.param(
            datetime(2026, 11, 15, 8, tzinfo=UTC),
            datetime(2026, 11, 18, 10, tzinfo=WARSAW_WINTER),
            NOW,
            "Date header 2026-11-18T10:00:00+01:00",
            id="date-in-another-zone",
        ),
        # A Date header from a sender whose clock runs days ahead proves nothing.
        pytest.param(NOW - 3 * DAY, NOW + 7 * DAY, NOW - 3 * DAY, None, id="date-in-the-future"),
        pytest.param(NOW - 3 * DAY, datetime(1980, 1, 1, tzinfo=UTC), NOW - 3 * DAY, None, id="date-1980"),
        pytest.param(
            NOW - 3 * DAY,
            datetime.max.replace(tzinfo=timezone(-timedelta(hours=23))),
            NOW - 3 * DAY,
            None,
            id="date-at-the-end-of-time",
        ),
        pytest.param(
            NOW - 3 * DAY,
            datetime.min.replace(tzinfo=timezone(timedelta(hours=23))),
            NOW - 3 * DAY,
            None,
            id="date-at-the-start-of-time",
        ),
    ],
)  # fmt: skip
def test_received_time(
    mailbox: datetime | None, header: datetime | None, expected: datetime, doubt: str | None
) -> None:
    received = received_time(mailbox, header, now=NOW)
    assert received.at == expected
    if doubt is None:
        assert received.doubt is None
    else:
        assert received.doubt is not None and doubt in received.doubt


def test_the_doubt_names_both_dates() -> None:
    assert received_time(NOW - 3 * DAY, NOW - HOUR, now=NOW) == Received(
        NOW,
        "mailbox date 2026-11-15T09:30:00+00:00 is more than a day before the mail's Date header"
        " 2026-11-18T08:30:00+00:00",
    )


aware = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-23 * 60, max_value=23 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(max_examples=300, deadline=None)
@given(
    mailbox=st.none() | aware,
    header=st.none() | st.tuples(st.datetimes(), offsets).map(lambda p: p[0].replace(tzinfo=p[1])),
)
def test_received_is_never_after_now_nor_before_2000_and_never_raises(
    mailbox: datetime | None, header: datetime | None
) -> None:
    received = received_time(mailbox, header, now=NOW)
    assert datetime(2000, 1, 1, tzinfo=UTC) <= received.at <= NOW
    assert received.at in (mailbox, NOW)
    assert (received.doubt is not None) <= (received.at == NOW)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Mon, 31 Feb 2025 10:00:00 +0000", None),
        ("Sat, 1 Jan 10000 00:00:00 +0000", None),
        ("Mon, 2 Jun 2025 10:00:00 +9999", None),
        ("Mon, 2 Jun 2025 99:99:99 +0000", None),
        ("9" * 5000, None),
        ("2 Jun 2025 10:00 +0200 (CEST)", datetime(2025, 6, 2, 8, tzinfo=UTC)),
        ("Fri, 31 Dec 9999 23:59:59 -2359", datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59)))),
    ],
)  # fmt: skip
def test_the_date_header_is_read_leniently(value: str, expected: datetime | None) -> None:
    """Whatever the Date header says, parsing gives an aware moment or None, never an error;
    received_time copes with any moment it gives."""
    raw = f"From: a@b.pl\r\nDate: {value}\r\nSubject: x\r\n\r\nbody\r\n".encode()
    date = parse_mail(raw).date
    assert date == expected
    assert received_time(NOW - 3 * DAY, date, now=NOW).at in (NOW - 3 * DAY, NOW)
