"""Test data and the desk under test: settings, contracts and mails, built the same way
by every integration test."""

from __future__ import annotations

import asyncio
import email.policy
import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from mailbot.config import (
    DatabaseSettings,
    ImapSettings,
    IngestSettings,
    Settings,
    SmtpSettings,
    SupportSettings,
    TierSettings,
    load_settings,
)
from mailbot.core.calendar import parse_working_duration
from mailbot.core.contracts import Contract
from mailbot.core.tiers import Tier
from mailbot.runtime.daemon import Daemon
from mailbot.usecases.desk import Desk

if TYPE_CHECKING:
    from tests.conftest import ImapPeer, SmtpSink

SUPPORT = "support@desk.example.pl"
STAFF = ("tech@desk.example.pl",)
# Wednesday 10:30 in Warsaw. In the past on purpose: Dovecot replaces an INTERNALDATE
# in the future by the real time, so "the mailbox received it at NOW" needs NOW < today.
NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
VIP = Contract(
    "acme-vip",
    "ACME Sp. z o.o.",
    Tier.VIP,
    ("jan@acme.pl",),
    (),
    date(2025, 1, 1),
)
WARRANTY = Contract(
    "klos-gw",
    "Piekarnia Kłos",
    Tier.WARRANTY,
    (),
    ("klos.pl",),
    date(2025, 1, 1),
    date(2027, 1, 1),
)


class Clock:
    """A test's clock: it moves only when the test says so (``clock.now = ...``)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def tier_settings(
    reaction: str,
    resolution: str,
    calendar: str,
    reaction_reminders: list[str],
    resolution_reminders: list[str],
    express_resolution: str | None = None,
) -> TierSettings:
    return TierSettings(
        parse_working_duration(reaction),
        parse_working_duration(resolution),
        calendar,
        tuple(parse_working_duration(before) for before in reaction_reminders),
        tuple(parse_working_duration(before) for before in resolution_reminders),
        parse_working_duration(express_resolution) if express_resolution else None,
    )


def make_settings(
    imap: ImapSettings, smtp_sink: SmtpSink, database_url: str, state: Path
) -> Settings:
    return Settings(
        imap=imap,
        smtp=SmtpSettings(
            smtp_sink.host,
            smtp_sink.port,
            "",
            "",
            "none",
            False,
            SUPPORT,
            timedelta(seconds=10),
            "",
        ),
        database=DatabaseSettings(database_url),
        support=SupportSettings(SUPPORT, "Pomoc IT", STAFF, (), "SOL", None, "Europe/Warsaw"),
        # The service terms' windows and reminders, as config.example.toml has them.
        tiers={
            Tier.WARRANTY: tier_settings("24h", "5d", "business", ["4h"], ["1d", "2h"]),
            Tier.VIP: tier_settings("1h", "2d", "always", ["30m", "10m"], ["4h", "1h"]),
            Tier.POST_WARRANTY: tier_settings("24h", "14d", "business", ["4h"], ["1d", "2h"], "2d"),
        },
        state_dir=state,
        templates_dir=None,
        log_level="INFO",
        # Parse in the test process: a worker process per test costs time; the parse
        # pool has tests of its own (test_batching) and the daemon subprocess tests use it.
        ingest=IngestSettings(parse_workers=0),
    )


def maildir_settings(database_url: str, folder: Path) -> Settings:
    """Settings of a desk that reads the Maildir in ``folder`` and has an SMTP server it never
    reaches (127.0.0.1:25): for tests of what happens before anything is sent."""
    unreached = SimpleNamespace(host="127.0.0.1", port=25)
    maildir = ImapSettings(url=f"maildir:{folder / 'Maildir'}")
    return make_settings(maildir, unreached, database_url, folder)  # type: ignore[arg-type]


def customer_mail(
    sender: str,
    subject: str,
    body: str = "Nie działa drukarka.\n",
    *,
    from_name: str = "Klient",
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{from_name} <{sender}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = "Wed, 25 Nov 2026 10:29:00 +0100"
    if "Message_ID" not in headers:
        msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.rpartition('@')[2]}>"
    msg.set_content(body)  # first: it drops every Content-* header set before it
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    # CRLF, as IMAP stores it; UTF-8 headers (RFC 6532) only for international addresses.
    policy = email.policy.SMTP if sender.isascii() else email.policy.SMTPUTF8
    return msg.as_bytes(policy=policy)


def deliver(imap: ImapPeer, raw: bytes, *, at: datetime = NOW) -> None:
    """The mailbox receives ``raw`` at ``at`` (its INTERNALDATE)."""
    imap.append(raw, received_at=at)


def run_once(desk: Desk) -> None:
    daemon = Daemon(desk)
    try:
        asyncio.run(daemon.cycle())
    finally:
        daemon.parser.close()


def oauth2_mailbox_settings(
    directory: Path, oauth2: str, environ: dict[str, str], *, servers: str = "gmail.com"
) -> Settings:
    """The settings of the mailbox pomoc@firma.pl at ``imap.<servers>`` and
    ``smtp.<servers>``, both logging in with OAuth2 as ``oauth2`` (the TOML lines of
    [oauth2]) says, its secrets in ``environ``; the state in ``directory``."""
    config = directory / "config.toml"
    config.write_text(
        f'[imap]\nhost = "imap.{servers}"\nusername = "pomoc@firma.pl"\nauth = "oauth2"\n'
        f'[smtp]\nhost = "smtp.{servers}"\nusername = "pomoc@firma.pl"\nauth = "oauth2"\n'
        f'[support]\naddress = "pomoc@firma.pl"\n[oauth2]\n{oauth2}',
        encoding="utf-8",
    )
    return load_settings(config, environ={**environ, "MAILBOT_GENERAL__STATE_DIR": str(directory)})
