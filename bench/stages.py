"""The raw limits of each stage, on the same mails and the same machine as the runs.

Each stage runs alone, with the libraries mailbot uses and nothing of mailbot's
bookkeeping around them: what mailbot could reach if it did nothing else.

- fetch: imapclient, ``UID FETCH`` of ``BODY.PEEK[]`` in batches of ``FETCH_BATCH``;
- parse: ``mailbot.core.parsing.parse_mail`` on the fetched bytes;
- fetch + parse: one after the other for each mail, 1 / (1/fetch + 1/parse);
- move: ``UID MOVE`` of ``MOVE_BATCH`` mails per command to another folder (mailbot moves
  each batch after its commit);
- insert: a ticket and its mail through SQLModel, one commit per mail (mailbot's engine:
  on SQLite WAL with ``synchronous=FULL``);
- render: an acknowledgement from the real templates, composed to bytes as the outbox
  keeps it (``Renderer`` + ``compose``);
- SMTP: aiosmtplib to the sink on 1 and on 8 kept-open connections, and with one
  connection per mail (``mailbot.adapters.smtp.SmtpSender`` keeps ``[smtp] connections``
  open).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid
from functools import partial
from pathlib import Path
from typing import Any

import aiosmtplib
from sqlmodel import Session

from bench.corpus import SUPPORT, BenchMail
from bench.daemons import write_config
from bench.pipeline import progress
from bench.servers import Account, Sink, fill, fresh_database, new_account
from mailbot.adapters.db import MessageRow, TicketRow, make_engine
from mailbot.bootstrap import build_desk
from mailbot.config import load_settings
from mailbot.core.compose import compose, reply_references
from mailbot.core.mail import InboundMail, OutboundMail
from mailbot.core.parsing import parse_mail
from mailbot.core.tickets import subject_with_tag
from mailbot.usecases.apply import ack_context
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import base_context
from tests.conftest import Dovecot

FETCH_BATCH = 100
TIERS = ("post_warranty", "post_warranty", "warranty", "vip")


@dataclass
class Limits:
    """Mails per second of each stage alone, over ``mails`` mails."""

    mails: int
    fetch: float = 0.0
    parse: float = 0.0
    move: float = 0.0
    insert: dict[str, float] = field(default_factory=dict)  # per database kind
    render: float = 0.0
    smtp: dict[str, float] = field(default_factory=dict)  # "1", "8", "per mail"

    @property
    def fetch_and_parse(self) -> float:
        """Fetching then parsing each mail, one after the other."""
        if not self.fetch or not self.parse:
            return 0.0
        return 1 / (1 / self.fetch + 1 / self.parse)


def _rate(count: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def measure(
    corpus: Sequence[BenchMail],
    *,
    dovecot: Dovecot,
    sink: Sink,
    dbs: Sequence[str],
    postgresql: str,
) -> Limits:
    limits = Limits(len(corpus))
    account = new_account(dovecot)
    progress(f"limits, {len(corpus)} mails: filling the inbox")
    fill(account, corpus)
    raws: list[bytes] = []
    limits.fetch = _rate(len(corpus), lambda: raws.extend(fetch_all(account)))
    progress(f"  fetch: {limits.fetch:.0f} mails/s")
    parsed: list[InboundMail] = []
    limits.parse = _rate(len(raws), lambda: parsed.extend(parse_mail(raw) for raw in raws))
    progress(f"  parse: {limits.parse:.0f} mails/s")
    limits.move = _rate(len(raws), lambda: move_all(account))
    progress(f"  move: {limits.move:.0f} mails/s")
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as temp:
        for db in dbs:
            with fresh_database(db, directory=Path(temp), postgresql=postgresql) as url:
                limits.insert[db] = insert_rate(parsed, url)
            progress(f"  insert ({db}): {limits.insert[db]:.0f} mails/s")
        desk = build_desk(
            load_settings(
                write_config(
                    Path(temp) / "render",
                    account=account,
                    sink=sink,
                    database="",
                    poll_interval="60s",
                ),
                environ={},
            )
        )
        acks: list[bytes] = []
        limits.render = _rate(len(parsed), lambda: acks.extend(render_acks(desk, parsed)))
        desk.engine.dispose()
    progress(f"  render: {limits.render:.0f} mails/s")
    limits.smtp = smtp_rates(sink, acks)
    progress("  SMTP: " + ", ".join(f"{k}: {v:.0f} mails/s" for k, v in limits.smtp.items()))
    return limits


def fetch_all(account: Account) -> list[bytes]:
    """Every mail of the INBOX, ``FETCH_BATCH`` UIDs per ``UID FETCH BODY.PEEK[]``."""
    client = account.client()
    try:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        raws: list[bytes] = []
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            response = client.fetch(batch, ["BODY.PEEK[]"])
            raws.extend(bytes(response[uid][b"BODY[]"]) for uid in batch)
        return raws
    finally:
        client.logout()


# As many mails as one of mailbot's batches holds by default ([ingest] batch_size).
MOVE_BATCH = 100


def move_all(account: Account) -> None:
    """Every mail of the INBOX to another folder, ``MOVE_BATCH`` per ``UID MOVE`` (RFC 6851)."""
    client = account.client()
    try:
        client.create_folder("Processed")
        client.select_folder("INBOX")
        uids = sorted(client.search("ALL"))
        for start in range(0, len(uids), MOVE_BATCH):
            client.move(uids[start : start + MOVE_BATCH], "Processed")
    finally:
        client.logout()


def insert_rate(parsed: Sequence[InboundMail], url: str) -> float:
    """A ticket and its mail per parsed mail, committed one mail at a time."""
    engine = make_engine(url)
    now = datetime.now(UTC)

    def insert() -> None:
        with Session(engine) as session:
            for n, mail in enumerate(parsed, 1):
                ticket = TicketRow(
                    number=f"SOL-{n}", seq=n, tier=TIERS[n % len(TIERS)], status="new",
                    subject=mail.subject, customer_address=mail.from_address or "", received_at=now,
                    reaction_due=now + timedelta(hours=24), resolution_due=now + timedelta(days=5),
                    updated_at=now,
                )  # fmt: skip
                session.add(ticket)
                session.flush()
                assert ticket.id is not None
                session.add(MessageRow(
                    ticket_id=ticket.id, direction="in", message_id=mail.message_id,
                    sender=mail.from_address or "", subject=mail.subject, body_text=mail.body_text,
                    body_html=mail.body_html, received_at=now, author="customer",
                ))  # fmt: skip
                session.commit()

    try:
        return _rate(len(parsed), insert)
    finally:
        engine.dispose()


def render_acks(desk: Desk, parsed: Sequence[InboundMail]) -> list[bytes]:
    """The acknowledgement of each mail as ``ticketing`` renders and composes it."""
    now = datetime.now(UTC)
    out: list[bytes] = []
    for n, mail in enumerate(parsed, 1):
        ticket = TicketRow(
            number=f"SOL-{n}", seq=n, tier=TIERS[n % len(TIERS)], status="new",
            subject=mail.subject, customer_address=mail.from_address or "", language="pl",
            received_at=now, reaction_due=now + timedelta(hours=24),
            resolution_due=now + timedelta(days=5), updated_at=now,
        )  # fmt: skip
        notice = ack_context(desk, ticket, contract_customer="Firma Sp. z o.o.")
        rendered = desk.renderer.render(notice, ticket.language, base_context(desk, ticket))
        outbound = OutboundMail(
            message_id=make_msgid(idstring=ticket.number, domain=SUPPORT.rpartition("@")[2]),
            sender=SUPPORT,
            recipients=(ticket.customer_address,),
            subject=subject_with_tag(ticket.number, rendered.subject),
            body_text=rendered.body,
            in_reply_to=mail.message_id,
            references=reply_references(mail.in_reply_to, mail.references, mail.message_id),
            extra_headers=(
                ("Auto-Submitted", "auto-replied"),
                ("X-Loop", SUPPORT),
                ("X-Mailbot-Ticket", ticket.number),
                ("Content-Language", ticket.language),
                ("X-Mailbot-Kind", "ack"),
            ),
        )
        out.append(compose(outbound, sender_name=desk.settings.support.name, date=now))
    return out


def smtp_rates(sink: Sink, acks: Sequence[bytes]) -> dict[str, float]:
    rates: dict[str, float] = {}
    for label, connections in (("1 connection", 1), ("8 connections", 8)):
        rates[label] = _rate(len(acks), partial(asyncio.run, _send_kept(sink, acks, connections)))
        sink.handler.clear()
    rates["a connection per mail"] = _rate(len(acks), lambda: asyncio.run(_send_each(sink, acks)))
    sink.handler.clear()
    return rates


async def _send_kept(sink: Sink, acks: Sequence[bytes], connections: int) -> None:
    """``acks`` over ``connections`` connections opened once, the mails shared out."""

    async def worker(share: Sequence[bytes]) -> None:
        client: Any = aiosmtplib.SMTP(hostname=sink.host, port=sink.port, timeout=30)
        await client.connect()
        try:
            for raw in share:
                await client.sendmail(SUPPORT, ["klient@firma.pl"], raw)
        finally:
            await client.quit()

    await asyncio.gather(*(worker(acks[i::connections]) for i in range(connections)))


async def _send_each(sink: Sink, acks: Sequence[bytes]) -> None:
    for raw in acks:
        await aiosmtplib.send(
            raw, sender=SUPPORT, recipients=["klient@firma.pl"], hostname=sink.host, port=sink.port
        )
