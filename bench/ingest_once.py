"""How fast does one ``mailbot run --once`` empty a Dovecot inbox?

Starts a private Dovecot and an aiosmtpd sink (the test fixtures' code), fills
the inbox with N deterministic mails (mostly short Polish text, some
ISO-8859-2, some HTML, some with a 100 KB attachment), then runs one ingest
and one outbox flush exactly as the daemon does, and prints mails per second.

    .venv/bin/python -m bench.ingest_once --mails 1000
    .venv/bin/python -m bench.ingest_once --mails 1000 --contracts 20000
    .venv/bin/python -m bench.ingest_once --mails 1000 \
        --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
import time
import uuid
from datetime import date, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlmodel import SQLModel, create_engine

from mailbot.adapters.db import Session, contract_index, import_contracts
from mailbot.adapters.imap import ImapSource
from mailbot.adapters.smtp import make_sender
from mailbot.bootstrap import build_desk
from mailbot.config import ImapSettings
from mailbot.core.contracts import Contract
from mailbot.core.tiers import Tier
from mailbot.usecases.ingest import ingest
from mailbot.usecases.outbox import flush_outbox
from tests.conftest import (
    Dovecot,
    ImapPeer,
    RecordingHandler,
    SmtpSink,
    free_port,
    private_dovecot,
)
from tests.factories import make_settings

WORDS = ("drukarka serwer poczta nie działa proszę o pomoc zgłoszenie sieć komputer łącze").split()  # noqa: SIM905 - a sentence reads better than a list of twelve strings


def sample_mail(rng: random.Random, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Klient {n} <klient{n % 200}@firma{n % 37}.pl>"
    msg["To"] = "support@desk.example.pl"
    msg["Subject"] = f"Zgłoszenie {n}: {' '.join(rng.choices(WORDS, k=4))}"
    msg["Message-ID"] = f"<{uuid.UUID(int=rng.getrandbits(128))}@firma.pl>"
    text = "\n".join(" ".join(rng.choices(WORDS, k=12)) for _ in range(rng.randint(10, 50)))
    charset = "iso-8859-2" if n % 5 == 0 else "utf-8"
    msg.set_content(text, charset=charset)
    if n % 7 == 0:
        msg.add_alternative(
            f"<html><body><p>{text.replace(chr(10), '<br>')}</p></body></html>", subtype="html"
        )
    if n % 10 == 0:
        msg.add_attachment(
            rng.randbytes(100_000), maintype="application", subtype="pdf", filename=f"skan-{n}.pdf"
        )
    return msg.as_bytes(policy=SMTP)


def generated_contracts(count: int) -> list[Contract]:
    """``count`` warranty contracts: the first 10 for domains the sample mails come from."""
    return [
        Contract(
            f"k{i}",
            f"Firma {i}",
            Tier.WARRANTY,
            (f"a{i}@k{i}.pl", f"b{i}@k{i}.pl"),
            (f"firma{i}.pl" if i < 10 else f"k{i}.pl",),
            date(2025, 1, 1),
        )
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mails", type=int, default=1000, help="how many mails to ingest (default 1000)"
    )
    parser.add_argument(
        "--database", default="", help="database URL (default: a SQLite file in a temp dir)"
    )
    parser.add_argument("--seed", type=int, default=2, help="random seed of the mails (default 2)")
    parser.add_argument(
        "--contracts", type=int, default=10,
        help="contracts in the database (default 10; the first 10 cover 10 of the senders' 37 "
        "domains, the others two addresses and a domain of their own each)",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = random.Random(args.seed)
    mails = [sample_mail(rng, n) for n in range(args.mails)]
    with private_dovecot() as dovecot, tempfile.TemporaryDirectory() as state:
        dovecot.add_user("bench", "bench")
        handler = RecordingHandler()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            run(args, mails, dovecot, SmtpSink("127.0.0.1", controller.port, handler), Path(state))
        finally:
            controller.stop()


def run(
    args: argparse.Namespace, mails: list[bytes], dovecot: Dovecot, sink: SmtpSink, state: Path
) -> None:
    url = args.database or f"sqlite:///{state / 'mailbot.db'}"
    if args.database:
        engine = create_engine(url)
        SQLModel.metadata.drop_all(engine)
        with engine.begin() as connection:  # else the schema counts as made: no tables
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        engine.dispose()
    imap = ImapSettings(
        dovecot.host,
        dovecot.port,
        "bench",
        "bench",
        "none",
        False,
        "INBOX",
        "Processed",
        "Quarantine",
        timedelta(seconds=60),
        "",
    )
    peer = ImapPeer(imap)
    started = time.perf_counter()
    for start in range(0, len(mails), 100):
        peer.client.multiappend("INBOX", mails[start : start + 100])
    appended = time.perf_counter() - started
    desk = build_desk(make_settings(imap, sink, url, state))
    started = time.perf_counter()
    with Session(desk.engine) as session:
        import_contracts(generated_contracts(args.contracts), session=session)
        session.commit()
    with Session(desk.engine) as session:
        contract_index(session=session)  # read at start, as bootstrap.log_identity does
    imported = time.perf_counter() - started
    started = time.perf_counter()
    report = ingest(desk, ImapSource(imap))
    ingested = time.perf_counter() - started
    started = time.perf_counter()
    flushed = asyncio.run(flush_outbox(desk, make_sender(desk.settings.smtp), limit=len(mails)))
    sent = time.perf_counter() - started
    size = sum(map(len, mails)) / len(mails) / 1024
    print(f"database: {desk.engine.dialect.name}; {len(mails)} mails, {size:.1f} KB on average")
    print(f"APPEND (MULTIAPPEND x100): {len(mails) / appended:8.0f} mails/s")
    print(f"{args.contracts:,} contracts imported and indexed in {imported:.2f} s")
    rate = report.seen / ingested
    print(f"ingest (fetch, parse, store, move): {rate:8.1f} mails/s  {report.outcomes}")
    print(f"outbox flush: {flushed.sent / sent:8.1f} mails/s")
    print(f"run --once in all: {len(mails) / (ingested + sent):8.1f} mails/s")
    desk.engine.dispose()
    peer.close()


if __name__ == "__main__":
    main()
