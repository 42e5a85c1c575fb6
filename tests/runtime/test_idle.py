"""New mail through IMAP IDLE, against the private Dovecot: the daemon runs in this process
(``run_forever`` on the test's event loop) and the test waits for conditions with deadlines.

With ``poll_interval`` at an hour, only IDLE can explain a mail taken within seconds.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mailbot.adapters.imap import ImapSource
from mailbot.bootstrap import build_desk
from mailbot.config import ImapSettings
from mailbot.runtime.daemon import Daemon
from mailbot.runtime.idle import IdleWatcher
from mailbot.usecases.desk import Desk
from tests import factories
from tests.conftest import Dovecot, ImapPeer, SmtpSink, new_account, private_dovecot

HOUR = timedelta(hours=1)
WAIT = 10.0  # seconds: a deadline for conditions, reached only when something is wrong

DeskFactory = Callable[..., Desk]


@pytest.fixture
def make_desk(
    imap_settings: ImapSettings, smtp_sink: SmtpSink, database_url: str, tmp_path: Path
) -> Iterator[DeskFactory]:
    """A desk on the test's account; keyword arguments change its ``ImapSettings``."""
    desks: list[Desk] = []

    def make(**imap: object) -> Desk:
        settings = factories.make_settings(
            replace(imap_settings, **imap), smtp_sink, database_url, tmp_path
        )
        desks.append(build_desk(settings, clock=lambda: factories.NOW))
        return desks[-1]

    yield make
    for desk in desks:
        desk.engine.dispose()


@asynccontextmanager
async def running(daemon: Daemon) -> AsyncIterator[Daemon]:
    """``run_forever`` on this loop; stopped as SIGTERM stops it, and awaited."""
    task = asyncio.create_task(daemon.run_forever())
    try:
        yield daemon
    finally:
        daemon.stop()
        await asyncio.wait_for(task, WAIT)


async def until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not after {timeout} s: {what}")
        await asyncio.sleep(0.02)


async def settled(daemon: Daemon) -> IdleWatcher:
    """The watcher is in IDLE and the first poll is over: mail now comes only through IDLE."""
    await until(lambda: daemon.watcher is not None, "an IDLE watcher")
    watcher = daemon.watcher
    assert watcher is not None
    await until(lambda: watcher.connections >= 1 and daemon.polls >= 1, "IDLE and a first poll")
    return watcher


async def append_and_time(peer: ImapPeer, sink: SmtpSink, subject: str) -> float:
    """APPEND a mail; seconds until its acknowledgement is at the SMTP server."""
    before = len(sink.of_kind("ack"))
    began = time.monotonic()
    await asyncio.to_thread(peer.append, factories.customer_mail("nowy@firma.pl", subject))
    await until(lambda: len(sink.of_kind("ack")) > before, f"the acknowledgement of {subject!r}")
    return time.monotonic() - began


# --- (a) IDLE wakes the poll --------------------------------------------------------------


def test_a_mail_appended_while_the_daemon_waits_is_acknowledged_at_once(
    make_desk: DeskFactory, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    daemon = Daemon(make_desk(poll_interval=HOUR))

    async def scenario() -> list[float]:
        async with running(daemon):
            await settled(daemon)
            return [await append_and_time(imap_client, smtp_sink, f"Awaria {n}") for n in range(3)]

    latencies = asyncio.run(scenario())

    assert len(smtp_sink.of_kind("ack")) == 3
    assert imap_client.messages("INBOX") == []
    # Dovecot reports a new mail about 0.5 s after it arrives; a poll costs a fraction of that.
    assert statistics.median(latencies) < 2.0, latencies
    print(f"APPEND to acknowledgement: {', '.join(f'{x:.2f}' for x in latencies)} s")


def test_a_wake_up_during_a_poll_runs_one_more_poll(
    make_desk: DeskFactory, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    daemon = Daemon(make_desk(poll_interval=HOUR))

    async def scenario() -> None:
        async with running(daemon):
            await settled(daemon)
            polls = daemon.polls
            # Wake twice in a row: the second arrives while the first's poll runs.
            daemon.wake()
            await until(lambda: daemon.polls > polls, "the first woken poll")
            imap_client.append(factories.customer_mail("nowy@firma.pl", "W trakcie"))
            daemon.wake()
            await until(lambda: smtp_sink.of_kind("ack"), "the acknowledgement")

    asyncio.run(scenario())
    assert len(smtp_sink.of_kind("ack")) == 1


# --- (b) IDLE is re-issued --------------------------------------------------------------------


def test_the_watcher_reissues_idle_and_still_sees_new_mail(
    imap_settings: ImapSettings, imap_client: ImapPeer
) -> None:
    woken = threading.Event()
    watcher = IdleWatcher(
        imap_settings, wake=woken.set, reissue=timedelta(seconds=0.2), check_every=0.05
    )
    watcher.start()
    try:
        deadline = time.monotonic() + WAIT
        while watcher.reissues < 3:
            assert time.monotonic() < deadline, "IDLE was not re-issued"
            woken.wait(0.05)
        woken.clear()  # (the wake-up once IDLE began)
        imap_client.append(factories.customer_mail("nowy@firma.pl", "Po kilku IDLE"))
        assert woken.wait(WAIT), "the new mail did not wake anyone"
    finally:
        watcher.stop()
        assert watcher.join(WAIT)
    assert watcher.connections == 1  # re-issued on the same connection, not reconnected


# --- (c) fallback: polling ---------------------------------------------------------------------


def test_with_idle_off_there_is_no_watcher_and_polling_takes_the_mail(
    make_desk: DeskFactory,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    daemon = Daemon(make_desk(idle=False, poll_interval=timedelta(seconds=1)))

    async def scenario() -> None:
        async with running(daemon):
            await until(lambda: daemon.polls >= 1, "a first poll")
            await append_and_time(imap_client, smtp_sink, "Bez IDLE")
            assert daemon.watcher is None

    asyncio.run(scenario())
    assert "imap.idle is off; polling every 0:00:01" in caplog.text


NO_IDLE_CAPABILITY = (
    "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS MOVE"
)


@pytest.fixture(scope="module")
def dovecot_without_idle() -> Iterator[Dovecot]:
    """A Dovecot of its own whose CAPABILITY lacks IDLE (``imap_capability`` replaces it)."""
    with private_dovecot() as server:
        with server.config.open("a") as config:
            config.write(f"\n{NO_IDLE_CAPABILITY}\n")
        server.stop()
        server.start()
        yield server


def test_a_server_without_idle_is_polled(
    dovecot_without_idle: Dovecot,
    smtp_sink: SmtpSink,
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    server = dovecot_without_idle
    imap = new_account(server)
    source = ImapSource(imap)
    source.open()
    assert not source.supports_idle
    source.close()
    desk = build_desk(factories.make_settings(imap, smtp_sink, database_url, tmp_path))
    daemon = Daemon(desk)
    peer = ImapPeer(imap)

    async def scenario() -> None:
        async with running(daemon):
            await settled_without_idle(daemon)
            await append_and_time(peer, smtp_sink, "Serwer bez IDLE")

    try:
        asyncio.run(scenario())
    finally:
        peer.close()
        desk.engine.dispose()
    assert caplog.text.count("does not offer IDLE; polling every 0:00:01") == 1


async def settled_without_idle(daemon: Daemon) -> None:
    await until(lambda: daemon.watcher is not None, "a watcher")
    watcher = daemon.watcher
    assert watcher is not None
    await until(lambda: not watcher.alive, "the watcher giving up on IDLE")
    assert watcher.connections == 0


# --- (d) the server goes away and comes back ------------------------------------------------


def test_the_watcher_reconnects_after_a_dovecot_restart_and_mail_is_taken_after(
    dovecot: Dovecot,
    make_desk: DeskFactory,
    imap_settings: ImapSettings,
    smtp_sink: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    # An hour between polls: after the restart only IDLE can find the mail. The backoff
    # is capped at a second so the reconnection does not keep the test waiting.
    daemon = Daemon(make_desk(poll_interval=HOUR, max_backoff=timedelta(seconds=1)))

    async def scenario() -> None:
        async with running(daemon):
            watcher = await settled(daemon)
            try:
                # As a crashed server would: the connections are cut, the server is gone.
                await asyncio.to_thread(dovecot.doveadm, "kick", imap_settings.username)
                await asyncio.to_thread(dovecot.stop)
                await until(lambda: "IDLE connection lost" in caplog.text, "the loss noticed")
            finally:
                await asyncio.to_thread(dovecot.start)
            await until(lambda: watcher.connections >= 2, "the watcher reconnected")
            peer = await asyncio.to_thread(ImapPeer, imap_settings)
            try:
                await append_and_time(peer, smtp_sink, "Po restarcie")
            finally:
                peer.close()

    asyncio.run(scenario())
    # Logged when lost and when back, not at every attempt (the kick and the stop may make
    # one outage or two).
    lost = caplog.text.count("IDLE connection lost")
    assert lost >= 1 and caplog.text.count("IDLE connection back after") == lost


# --- (e) a poll longer than the poll interval -------------------------------------------------


def test_ticks_during_a_long_poll_pass_without_a_warning_and_start_no_second_poll(
    make_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A backlog of thousands of mails keeps one poll busy for a minute: the ticks that
    come meanwhile (one a second here) must neither queue polls nor log a warning each."""
    caplog.set_level(logging.INFO)
    daemon = Daemon(make_desk(poll_interval=timedelta(seconds=1), idle=False))
    ticks = 0
    polls_at_once = 0
    release = asyncio.Event()
    scheduled_poll = daemon._poll_job
    real_ingest = daemon._ingest

    async def counting_poll_job() -> None:
        nonlocal ticks
        ticks += 1
        await scheduled_poll()

    async def long_ingest() -> Any:
        nonlocal polls_at_once
        polls_at_once += 1
        await release.wait()  # the backlog: until the test has seen three ticks
        try:
            return await real_ingest()
        finally:
            polls_at_once -= 1

    daemon._poll_job = counting_poll_job  # type: ignore[method-assign]
    daemon._ingest = long_ingest  # type: ignore[method-assign]

    async def scenario() -> None:
        async with running(daemon):
            await until(lambda: ticks >= 3, "three ticks of the poll job during one poll")
            assert polls_at_once == 1 and daemon.polls == 0
            release.set()
            await until(lambda: daemon.polls >= 1, "the long poll's end")

    asyncio.run(scenario())
    assert "maximum number of running instances" not in caplog.text
