"""A mail that costs the parser too much, end to end: ``mailbot run`` against Dovecot and
aiosmtpd, with a simulated systemd watchdog (issue 13, item 1).

The poison mail of the issue is cheap since mailbot.core.parse_bounds; the deadline,
the kill and the fallback reader are exercised with the worker's test seam
``MAILBOT_TEST_PARSE_HANG`` (mailbot/runtime/parse_worker.py): a mail carrying the marker is
parsed forever, holding the interpreter's lock. The tests wait for conditions with
deadlines; they never sleep to let time pass.
"""

from __future__ import annotations

import itertools
import re
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, create_engine, select

from mailbot.adapters.db import LedgerRow
from mailbot.config import ImapSettings
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import customer_mail
from tests.runtime.test_batching import _children
from tests.runtime.test_service_runtime import (  # noqa: F401 - start_daemon is a fixture
    fast_config,
    sqlite_url,
    start_daemon,
)

HANG = "X-HANG-ME-6b1f"
WATCHDOG = 4.0  # seconds: WATCHDOG_USEC of the simulated systemd
STAFF = "tech@desk.example.pl"


class Watchdog:
    """systemd's side of sd_notify: every datagram, with when it arrived."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="mbw-", dir="/tmp")
        self.address = f"{self.directory}/notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.address)
        self.sock.settimeout(0.2)
        self.pings: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen)
        self._thread.start()

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.address, "WATCHDOG_USEC": str(int(WATCHDOG * 1e6))}

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if b"WATCHDOG=1" in data.splitlines():
                self.pings.append(time.monotonic())

    def longest_gap(self, until: float) -> float:
        """The longest time without a WATCHDOG=1, from the first ping to ``until``."""
        assert self.pings, "no WATCHDOG=1 at all"
        moments = [*self.pings, until]
        return max(b - a for a, b in itertools.pairwise(moments))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        Path(self.address).unlink(missing_ok=True)
        Path(self.directory).rmdir()


@pytest.fixture
def watchdog() -> Iterator[Watchdog]:
    dog = Watchdog()
    yield dog
    dog.close()


def config_with(tmp_path: Path, imap: ImapSettings, smtp: SmtpSink, deadline: str) -> Path:
    config = fast_config(tmp_path, imap, smtp, sqlite_url(tmp_path))
    text = config.read_text().replace(
        "[support]\n", f'[support]\nstaff_addresses = ["{STAFF}"]\n', 1
    )
    config.write_text(text + f'\n[ingest]\nparse_deadline = "{deadline}"\n')
    return config


def poison_mail(quotes: int) -> bytes:
    """The issue's mail: a Content-Type name of ``quotes`` quotes (16,000 took 7.6 s)."""
    raw = customer_mail("obcy@example.com", "Zatruty")
    return raw.replace(
        b"Content-Type: text/plain", b"Content-Type: text/plain; name=" + b'"' * quotes, 1
    )


def wait_until(condition: Any, timeout: float, what: str) -> float:
    """Poll ``condition`` until it holds; returns the seconds it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - start


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def hanging_worker(daemon_pid: int) -> int:
    """The daemon's parse worker, once it is inside the hanging parse (burning CPU)."""
    found: list[int] = []

    def busy() -> bool:
        found[:] = [pid for pid in _children(daemon_pid) if cpu_ticks(pid) > 150]
        return bool(found)

    wait_until(busy, 60, "a parse worker in the hanging parse")
    return found[0]


def ack_to(smtp: SmtpSink, address: str) -> bool:
    return any(address in m.rcpt_tos for m in smtp.of_kind("ack"))


def test_the_poison_mail_does_not_hold_up_the_next_one(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    watchdog: Watchdog,
    start_daemon: Any,  # noqa: F811
) -> None:
    config = config_with(tmp_path, imap_settings, smtp_sink, "10s")
    imap_client.append(poison_mail(110_000))
    imap_client.append(customer_mail("jan@acme.pl", "Normalny"))
    started = time.monotonic()
    daemon = start_daemon(config, watchdog.env)

    took = wait_until(lambda: ack_to(smtp_sink, "jan@acme.pl"), 30, "the normal mail's ack")
    acked = time.monotonic()
    print(f"\npoison mail (110,000 quotes): the next mail acknowledged {took:.2f} s after start")
    assert daemon.stop() == 0, daemon.stderr
    assert ack_to(smtp_sink, "obcy@example.com"), "the poison mail opened its ticket too"
    assert watchdog.longest_gap(acked) <= WATCHDOG
    assert acked - started < 30


def test_a_mail_past_the_deadline_is_read_by_the_fallback_and_the_next_goes_on(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    watchdog: Watchdog,
    start_daemon: Any,  # noqa: F811
) -> None:
    config = config_with(tmp_path, imap_settings, smtp_sink, "3s")
    imap_client.append(customer_mail("obcy@example.com", "Wisi", f"Pomocy {HANG}\n"))
    imap_client.append(customer_mail("jan@acme.pl", "Normalny"))
    daemon = start_daemon(config, {**watchdog.env, "MAILBOT_TEST_PARSE_HANG": HANG})

    took = wait_until(lambda: ack_to(smtp_sink, "jan@acme.pl"), 30, "the normal mail's ack")
    acked = time.monotonic()
    print(f"\nhanging mail (deadline 3 s): the next mail acknowledged {took:.2f} s after start")
    killed = daemon.wait_for_line(r"parse deadline of 3 s exceeded .* worker \d+ killed")
    worker = int(re.search(r"worker (\d+) killed", killed).group(1))  # type: ignore[union-attr]
    wait_until(lambda: not alive(worker), 2, "the killed worker's end")
    wait_until(lambda: len(imap_client.messages("INBOX")) == 0, 30, "an empty inbox")
    wait_until(lambda: smtp_sink.to(STAFF), 30, "the staff notifications")
    assert daemon.stop() == 0, daemon.stderr
    assert watchdog.longest_gap(acked) <= WATCHDOG

    # The hung mail opened its ticket from what the fallback read, and staff see why.
    assert ack_to(smtp_sink, "obcy@example.com")
    staff = b"".join(m.content for m in smtp_sink.to(STAFF))
    assert b"parse deadline of 3 s exceeded" in staff and b"Pomocy" in staff
    engine = create_engine(sqlite_url(tmp_path))
    with Session(engine) as session:
        ledger = {row.outcome: row.reason for row in session.exec(select(LedgerRow))}
    engine.dispose()
    assert ledger["unparsed"].startswith("parse deadline of 3 s exceeded; ")
    assert "ticket" in ledger
    [(_, original)] = imap_client.messages("Quarantine")
    assert HANG.encode() in original


def test_sigterm_during_a_hanging_parse_stops_at_once_and_kills_the_worker(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    start_daemon: Any,  # noqa: F811
) -> None:
    config = config_with(tmp_path, imap_settings, smtp_sink, "10m")
    imap_client.append(customer_mail("obcy@example.com", "Wisi", f"Pomocy {HANG}\n"))
    daemon = start_daemon(config, {"MAILBOT_TEST_PARSE_HANG": HANG})
    worker = hanging_worker(daemon.process.pid)

    signalled = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(10) == 0, daemon.stderr
    print(f"\nSIGTERM during a hanging parse: stopped in {time.monotonic() - signalled:.2f} s")
    wait_until(lambda: not alive(worker), 1, "the worker's end")
    assert len(imap_client.messages("INBOX")) == 1, "the unparsed mail waits for the next start"


def test_a_killed_daemon_takes_its_hanging_worker_along(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    start_daemon: Any,  # noqa: F811
) -> None:
    config = config_with(tmp_path, imap_settings, smtp_sink, "10m")
    imap_client.append(customer_mail("obcy@example.com", "Wisi", f"Pomocy {HANG}\n"))
    daemon = start_daemon(config, {"MAILBOT_TEST_PARSE_HANG": HANG})
    worker = hanging_worker(daemon.process.pid)

    daemon.process.kill()
    daemon.process.wait(10)
    took = wait_until(lambda: not alive(worker), 2, "the orphaned worker's end")
    print(f"\nSIGKILL of the daemon: its hanging worker gone {took:.2f} s later")
