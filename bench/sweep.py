"""How long does one reminder sweep take with 100,000 open tickets, and what does it cost in memory?

Fills a database with N open tickets whose next alerts lie ahead (as on a
busy desk between reminders), plus a few whose reminder is due now, then
times ``mailbot.usecases.reminders.sweep`` and measures the memory one sweep allocates
(tracemalloc peak) and the process's resident size. The target of issue 3: a
sweep under 100 ms on SQLite, memory flat whatever N is.

    .venv/bin/python -m bench.sweep                   # N = 10 and 100,000 on SQLite
    .venv/bin/python -m bench.sweep --tickets 100000 \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel, create_engine

from mailbot.adapters.db import TicketRow
from mailbot.bootstrap import build_desk
from mailbot.config import ImapSettings
from mailbot.usecases.desk import Desk
from mailbot.usecases.reminders import sweep
from tests.conftest import RecordingHandler, SmtpSink
from tests.factories import make_settings

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
DUE_NOW = 20  # tickets whose reminder falls due in the measured sweep


def fill(desk: Desk, tickets: int) -> None:
    """Open VIP tickets received over the last 50 minutes; their next alerts are ahead."""
    rows = []
    for n in range(1, tickets + 1):
        due_now = n <= DUE_NOW
        # Those due now are 31 minutes old: their "30 minutes before" reminder is ripe.
        received = NOW - (timedelta(minutes=31) if due_now else timedelta(seconds=n % 1500))
        rows.append(
            {
                "number": f"SOL-{n}",
                "seq": n,
                "tier": "vip",
                "status": "new",
                "subject": f"Zgłoszenie {n}",
                "customer_address": f"klient{n}@firma.pl",
                "customer_name": "",
                "language": "pl",
                "received_at": received,
                "reaction_due": (received + timedelta(hours=1)),
                "resolution_due": (received + timedelta(days=2)),
                "paused_seconds": 0.0,
                "assignee": "",
                "next_alert_at": (
                    NOW - timedelta(seconds=1) if due_now else NOW + timedelta(minutes=5 + n % 50)
                ),
                "updated_at": received,
            }
        )
    with desk.engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(sa.insert(TicketRow.__table__), rows[start : start + 5000])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SweepResult:
    db: str
    tickets: int
    fill_seconds: float
    median_ms: float  # a sweep that finds nothing due, as between two reminders
    max_ms: float
    peak_kib: float  # what one sweep allocates at most (tracemalloc)
    rss_mib: float  # the process's max RSS (the fill's)
    busy_ms: float  # the sweep that queues the due reminders
    queued: int


def measure(database: str, tickets: int, state: Path) -> SweepResult:
    if database.startswith("postgresql"):
        engine = create_engine(database)
        SQLModel.metadata.drop_all(engine)
        engine.dispose()
    sink = SmtpSink("127.0.0.1", 25, RecordingHandler())  # never contacted: the sweep only queues
    clock = [NOW]
    desk = build_desk(make_settings(_no_imap(), sink, database, state), clock=lambda: clock[0])
    started = time.perf_counter()
    fill(desk, tickets)
    filled = time.perf_counter() - started
    started = time.perf_counter()
    busy = sweep(desk)  # the due tickets get their reminders queued
    busy_ms = (time.perf_counter() - started) * 1000
    idle = []
    for i in range(20):
        clock[0] = NOW + timedelta(seconds=i + 1)
        started = time.perf_counter()
        sweep(desk)
        idle.append(time.perf_counter() - started)
    tracemalloc.start()
    sweep(desk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = SweepResult(
        desk.engine.dialect.name, tickets, filled, statistics.median(idle) * 1000,
        max(idle) * 1000, peak / 1024, rss, busy_ms, busy.sent,
    )  # fmt: skip
    print(
        f"{result.db:10} {tickets:>7} open tickets (filled in {filled:5.1f} s): "
        f"sweep median {result.median_ms:6.2f} ms, max {result.max_ms:6.2f} ms; "
        f"one sweep allocates {result.peak_kib:6.0f} KiB at peak; process max RSS {rss:5.0f} MiB "
        f"(the fill's); a sweep queueing {busy.sent} reminders: {busy_ms:6.1f} ms"
    )
    desk.engine.dispose()
    return result


def _no_imap() -> ImapSettings:
    return ImapSettings(
        "",
        993,  # never dialled: the sweep reads no mailbox (a port must be valid)
        "",
        "",
        "none",
        False,
        "INBOX",
        "Processed",
        "Quarantine",
        timedelta(seconds=60),
        "maildir:/nonexistent",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tickets",
        type=int,
        action="append",
        help="open tickets (repeatable; default 10 and 100000)",
    )
    parser.add_argument(
        "--database", default="", help="database URL (default: a SQLite file in a temp dir)"
    )
    args = parser.parse_args()
    for tickets in args.tickets or [10, 100_000]:
        with tempfile.TemporaryDirectory() as state:
            measure(
                args.database or f"sqlite:///{Path(state) / 'mailbot.db'}", tickets, Path(state)
            )
    print("(the timed sweeps find nothing due, as between two reminders)")


if __name__ == "__main__":
    main()
