"""How close does the outbox come to aiosmtplib alone (issue 17: at least 60 %)?

In one run, on the same acknowledgements and the same aiosmtpd sink (in this
process), in turn: aiosmtplib over ``--connections`` kept-open connections with
nothing around it (``bench.stages``' raw SMTP rate), ``flush_outbox`` with
``[smtp] connections`` the same from a fresh database holding the mails queued,
and aiosmtplib again. The ratio of the outbox's rate to the mean of the two raw
ones around it is the figure to read (the machine's other load moves all three).

    .venv/bin/python -m bench.outbox --mails 2000 --repeat 3
    .venv/bin/python -m bench.outbox --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.servers import Sink, fresh_database, smtp_sink
from bench.stages import _send_kept
from mailbot.adapters.db import OutboxRow
from mailbot.adapters.smtp import SmtpSender
from mailbot.bootstrap import build_desk
from mailbot.usecases.outbox import flush_outbox
from tests.factories import SUPPORT, customer_mail, maildir_settings

DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def acknowledgements(count: int) -> list[bytes]:
    """``count`` mails of an acknowledgement's size, each with its own Message-ID."""
    body = "Dziękujemy, zgłoszenie przyjęte. Odpowiemy w ciągu 24 godzin roboczych.\n" * 12
    return [
        customer_mail(f"klient{n % 200}@firma{n % 37}.pl", f"[SOL-{n}] Zgłoszenie", body)
        for n in range(count)
    ]


def raw_rate(sink: Sink, mails: Sequence[bytes], connections: int) -> float:
    started = time.perf_counter()
    asyncio.run(_send_kept(sink, mails, connections))
    rate = len(mails) / (time.perf_counter() - started)
    sink.handler.clear()
    return rate


def outbox_rate(sink: Sink, mails: Sequence[bytes], connections: int, kind: str, pg: str) -> float:
    with (
        tempfile.TemporaryDirectory(prefix="mailbot-bench-") as temp,
        fresh_database(kind, directory=Path(temp), postgresql=pg) as url,
    ):
        settings = maildir_settings(url, Path(temp))
        smtp = dataclasses.replace(
            settings.smtp, host=sink.host, port=sink.port, connections=connections
        )
        desk = build_desk(dataclasses.replace(settings, smtp=smtp))
        try:
            _queue(desk.engine, mails)
            sender = SmtpSender(desk.settings.smtp)
            started = time.perf_counter()
            report = asyncio.run(flush_outbox(desk, sender))
            seconds = time.perf_counter() - started
        finally:
            desk.engine.dispose()
    arrived = len(sink.handler.snapshot())
    sink.handler.clear()
    if report.sent != len(mails) or arrived != len(mails):
        raise SystemExit(f"outbox: {report} and {arrived} mails at the sink, not {len(mails)}")
    return len(mails) / seconds


def _queue(engine: sa.Engine, mails: Sequence[bytes]) -> None:
    """The mails queued and due, as ``queue_mail`` leaves them (one to one customer each)."""
    now = datetime.now(UTC)
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    rows = [
        {
            "kind": "ack",
            "message_id": f"<{uuid.uuid4().hex}@desk.example.pl>",
            "mail_from": SUPPORT,
            "recipients": f"klient{n % 200}@firma{n % 37}.pl",
            "capped_address": f"klient{n % 200}@firma{n % 37}.pl",
            "raw": raw,
            "status": "queued",
            "attempts": 0,
            "last_error": "",
            "created_at": now,
            "next_attempt_at": now,
        }
        for n, raw in enumerate(mails)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(outbox), rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.outbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--mails", type=int, default=2000, help="(default 2000)")
    parser.add_argument("--connections", type=int, default=8, help="(default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="pairs of runs (default 3)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgresql", default=DEFAULT_POSTGRESQL, help="the server's URL")
    args = parser.parse_args(argv)
    mails = acknowledgements(args.mails)
    size = sum(map(len, mails)) / len(mails)
    print(f"{args.mails} mails of {size:.0f} bytes, {args.connections} connections, {args.db}")
    ratios = []
    with smtp_sink() as sink:
        for k in range(1, args.repeat + 1):
            before = raw_rate(sink, mails, args.connections)
            flushed = outbox_rate(sink, mails, args.connections, args.db, args.postgresql)
            after = raw_rate(sink, mails, args.connections)
            raw = (before + after) / 2
            ratios.append(flushed / raw)
            print(
                f"run {k}: aiosmtplib {before:5.0f} and {after:5.0f} mails/s, outbox "
                f"{flushed:5.0f} mails/s, ratio {flushed / raw:.0%}",
                flush=True,
            )
    print(f"ratio: median {statistics.median(ratios):.0%}, min {min(ratios):.0%}")


if __name__ == "__main__":
    main()
