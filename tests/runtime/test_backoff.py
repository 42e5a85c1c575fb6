"""Reconnection backoff: the pure delay (equal jitter, capped), and the daemon living with an
IMAP outage: it logs it once when it begins and once when it ends, and skips polls meanwhile."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlmodel import Session

from mailbot.adapters.db import DaemonStateRow
from mailbot.core.backoff import Outage, after_failure, backoff_delay
from mailbot.runtime.daemon import Daemon
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import POLL
from tests.conftest import Dovecot, ImapPeer, SmtpSink
from tests.factories import customer_mail

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


# --- the daemon through an outage of the real Dovecot ------------------------------------------


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def last_poll_error(desk: Desk) -> str:
    with Session(desk.engine) as session:
        state = session.get(DaemonStateRow, POLL)
        return state.error if state else ""


def test_the_daemon_logs_an_outage_once_skips_polls_during_backoff_and_logs_the_recovery(
    dovecot: Dovecot,
    desk: Desk,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mailbot")
    clock = FakeClock()
    # poll_interval is 1 s (the base); jitter 0.5: waits of 0.75, 1.5, 3 s...
    daemon = Daemon(desk, monotonic=clock, random_fraction=lambda: 0.5)
    cycle = lambda: asyncio.run(daemon.cycle())  # noqa: E731 - a short name for the steps
    dovecot.stop()
    try:
        assert not cycle()
        assert "connection refused" in last_poll_error(desk)
        for waited in (0.75, 1.5, 3.0):  # each attempt as soon as its wait is over
            clock.now += waited
            assert not cycle()
        attempts = daemon.polls
        assert attempts == 4
    finally:
        dovecot.start()
    peer = ImapPeer(desk.settings.imap)
    try:
        peer.append(customer_mail("jan@acme.pl", "Po awarii"))
        # The server is back, but the wait after the 4th failure (6 s) is not over: no attempt.
        clock.now += 5.9
        assert not cycle()
        assert daemon.polls == attempts
        assert len(peer.messages("INBOX")) == 1
        assert "connection refused" in last_poll_error(desk)  # `mailbot status` still sees it
        clock.now += 0.1
        assert cycle()
        assert peer.messages("INBOX") == []
        assert cycle()  # and on it goes, without another word about the outage
    finally:
        peer.close()
    assert len(smtp_sink.of_kind("ack")) == 1
    assert last_poll_error(desk) == ""

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, errors
    assert "connection refused" in errors[0]
    assert errors[0].endswith("retrying with backoff up to 0:15:00")
    back = [r.getMessage() for r in caplog.records if "back after" in r.getMessage()]
    assert back == ["mailbox back after 4 failed attempt(s) over 0:00:11"]


def test_a_wake_up_polls_at_once_despite_the_backoff(
    dovecot: Dovecot,
    desk: Desk,
    smtp_sink: SmtpSink,
) -> None:
    clock = FakeClock()
    daemon = Daemon(desk, monotonic=clock, random_fraction=lambda: 0.5)
    dovecot.stop()
    try:
        assert not asyncio.run(daemon.cycle())
    finally:
        dovecot.start()
    peer = ImapPeer(desk.settings.imap)
    try:
        peer.append(customer_mail("jan@acme.pl", "Obudzony"))
        daemon.wake()  # as the IDLE watcher does when its connection is back
        assert asyncio.run(daemon.cycle())
        assert peer.messages("INBOX") == []
    finally:
        peer.close()
    assert len(smtp_sink.of_kind("ack")) == 1
