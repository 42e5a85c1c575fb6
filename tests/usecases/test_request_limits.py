"""The lost-link and sign-in request limits, counted in the database (usecases.request_limits):
the windows per client and in all, a restart and a second web process, the pruning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from mailbot.adapters.db import Session, WebRequestRow
from mailbot.bootstrap import build_desk
from mailbot.core.submission_limits import Window
from mailbot.usecases.desk import Desk
from mailbot.usecases.request_limits import count_request
from mailbot.usecases.web_staff import IP_WINDOWS, SIGNIN_KIND
from mailbot.usecases.web_status import LOST_LINK_KIND
from tests import factories
from tests.factories import Clock

CLIENT, OTHER = "192.0.2.1", "192.0.2.2"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Desk]:
    desk = another_process(database_url, tmp_path, clock)
    yield desk
    desk.engine.dispose()


def another_process(database_url: str, tmp_path: Path, clock: Clock) -> Desk:
    """A desk of its own on the same database: what a second web process (or the same one
    after a restart) has."""
    settings = factories.maildir_settings(database_url, tmp_path)
    return build_desk(settings, clock=clock)


def rows(desk: Desk) -> list[tuple[str, str, datetime]]:
    with Session(desk.engine) as session:
        return [(row.kind, row.client, row.at) for row in session.exec(select(WebRequestRow))]


def test_ten_sign_in_requests_an_hour_from_one_client(desk: Desk, clock: Clock) -> None:
    assert all(count_request(desk, SIGNIN_KIND, CLIENT, IP_WINDOWS).allowed for _ in range(10))
    clock.now += timedelta(minutes=30)
    refused = count_request(desk, SIGNIN_KIND, CLIENT, IP_WINDOWS)
    assert not refused.allowed and refused.retry_after == 30 * 60
    assert len(rows(desk)) == 10, "a refused request is not written"
    assert count_request(desk, SIGNIN_KIND, OTHER, IP_WINDOWS).allowed
    # Another kind of request counts apart.
    assert count_request(desk, LOST_LINK_KIND, CLIENT, IP_WINDOWS).allowed
    clock.now += timedelta(minutes=30)
    assert count_request(desk, SIGNIN_KIND, CLIENT, IP_WINDOWS).allowed


def test_the_global_window_counts_every_client(desk: Desk) -> None:
    windows = (Window("ip", 5, timedelta(hours=1)), Window("global", 2, timedelta(hours=1)))
    assert count_request(desk, LOST_LINK_KIND, CLIENT, windows).allowed
    assert count_request(desk, LOST_LINK_KIND, OTHER, windows).allowed
    refused = count_request(desk, LOST_LINK_KIND, "192.0.2.3", windows)
    assert not refused.allowed and refused.window == windows[1]


def test_the_counts_outlive_a_restart_and_span_processes(
    desk: Desk, database_url: str, tmp_path: Path, clock: Clock
) -> None:
    windows = (Window("ip", 3, timedelta(hours=1)),)
    second = another_process(database_url, tmp_path, clock)
    try:
        assert count_request(desk, LOST_LINK_KIND, CLIENT, windows).allowed
        assert count_request(second, LOST_LINK_KIND, CLIENT, windows).allowed
        desk.engine.dispose()  # this process stops; it starts again with a new desk
        restarted = another_process(database_url, tmp_path, clock)
        assert count_request(restarted, LOST_LINK_KIND, CLIENT, windows).allowed
        assert not count_request(second, LOST_LINK_KIND, CLIENT, windows).allowed
        assert not count_request(restarted, LOST_LINK_KIND, CLIENT, windows).allowed
        restarted.engine.dispose()
    finally:
        second.engine.dispose()


def test_rows_out_of_their_kinds_longest_window_are_pruned_when_writing(
    desk: Desk, clock: Clock
) -> None:
    day = (Window("ip", 5, timedelta(hours=1)), Window("ip", 20, timedelta(days=1)))
    start = clock.now
    count_request(desk, SIGNIN_KIND, CLIENT, IP_WINDOWS)  # longest window: 1 hour
    count_request(desk, LOST_LINK_KIND, CLIENT, day)  # longest window: 1 day
    clock.now = start + timedelta(hours=1)
    count_request(desk, SIGNIN_KIND, OTHER, IP_WINDOWS)
    assert len(rows(desk)) == 2, "the first sign-in request left its window: pruned"
    clock.now = start + timedelta(hours=2)
    count_request(desk, LOST_LINK_KIND, OTHER, day)  # the first lost-link one is still in
    assert sorted(rows(desk)) == sorted(
        [
            (SIGNIN_KIND, OTHER, start + timedelta(hours=1)),
            (LOST_LINK_KIND, CLIENT, start),
            (LOST_LINK_KIND, OTHER, start + timedelta(hours=2)),
        ]
    )
    clock.now = start + timedelta(days=1, hours=1)
    count_request(desk, LOST_LINK_KIND, CLIENT, day)
    assert sorted(rows(desk)) == sorted(
        [
            (SIGNIN_KIND, OTHER, start + timedelta(hours=1)),
            (LOST_LINK_KIND, OTHER, start + timedelta(hours=2)),
            (LOST_LINK_KIND, CLIENT, start + timedelta(days=1, hours=1)),
        ]
    )
