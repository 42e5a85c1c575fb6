"""``mailbot demo``: the whole pipeline on a Maildir and a folder of .eml files, no servers.

It seeds three contracts (one per tier), drops sample mails into a Maildir,
runs one poll-and-send cycle like the daemon does, then a customer's answer
to the first ticket and a second cycle, and prints what happened.
"""

from __future__ import annotations

import asyncio
import mailbox
import shutil
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from mailbot.bootstrap import build_desk, import_configured_contracts, system_clock
from mailbot.config import Settings, load_settings
from mailbot.runtime.daemon import Daemon
from mailbot.usecases.views import ticket_summaries

MARKER = ".mailbot-demo"
SUPPORT = "pomoc@serwis.example.pl"  # as in DEMO_CONFIG

DEMO_CONFIG = """\
# Written by `mailbot demo`: the demo's own configuration, all paths relative to this file.
[general]
state_dir = "."

[imap]
url = "maildir:Maildir"      # a local Maildir instead of an IMAP server

[smtp]
url = "dir:sent"             # outgoing mail as .eml files instead of SMTP

[database]
url = "sqlite:///{root}/mailbot.db"

[support]
address = "pomoc@serwis.example.pl"
name = "Serwis IT - Pomoc"
staff_addresses = ["technik@serwis.example.pl"]
staff_domains = ["serwis.example.pl"]
contracts_file = "contracts.toml"
"""

DEMO_CONTRACTS = """\
[[contract]]
id = "acme-vip"
customer = "ACME Sp. z o.o."
tier = "vip"
addresses = ["jan.kowalski@acme.pl"]
domains = ["acme.pl"]
valid_from = 2025-01-01

[[contract]]
id = "piekarnia-gw"
customer = "Piekarnia Złoty Kłos"
tier = "warranty"
domains = ["zlotyklos.pl"]
valid_from = 2025-06-01
valid_until = 2027-05-31

[[contract]]
id = "biuro-pw"
customer = "Biuro Rachunkowe Nowak"
tier = "post_warranty"
addresses = ["anna@nowak-biuro.pl"]
valid_from = 2024-01-01
language = "en"
"""

SAMPLES: tuple[tuple[str, str, str, str, dict[str, str]], ...] = (
    (
        "Jan Kowalski",
        "jan.kowalski@acme.pl",
        "Serwer pocztowy nie odpowiada",
        "Dzień dobry,\nod rana nie działa poczta w całej firmie. Prosimy o pilną pomoc.\n",
        {},
    ),
    (
        "Maria Wiśniewska",
        "maria@zlotyklos.pl",
        "Drukarka fiskalna drukuje puste paragony",
        "Dzień dobry,\ndrukarka kupiona u Państwa w zeszłym roku drukuje puste paragony.\n",
        {},
    ),
    (
        "Anna Nowak",
        "anna@nowak-biuro.pl",
        "Laptop will not boot",
        "Hello,\nmy laptop shows a black screen after the logo. Can you help?\n",
        {},
    ),
    (
        "Piotr Zieliński",
        "piotr@gmail.example",
        "Pytanie o konfigurację routera",
        "Dzień dobry,\nczy mogą Państwo skonfigurować router w moim domu?\n",
        {},
    ),
    (
        "Jan Kowalski",
        "jan.kowalski@acme.pl",
        "Nieobecność w biurze: Re: zgłoszenie",
        "Jestem poza biurem do poniedziałku.\n",
        {"Auto-Submitted": "auto-replied"},
    ),
)


def _sample(name: str, address: str, subject: str, body: str, headers: dict[str, str]) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(system_clock())
    msg["Message-ID"] = make_msgid(domain=address.rpartition("@")[2])
    for key, value in headers.items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes()


def _sent_mail(root: Path, *, kind: str, tag: str) -> EmailMessage:
    """The headers of the mail of ``kind`` about ``tag`` that the demo wrote to ``sent/``."""
    for path in sorted((root / "sent").glob("*.eml")):
        head = BytesParser(policy=default).parsebytes(path.read_bytes(), headersonly=True)
        if head["X-Mailbot-Kind"] == kind and tag in str(head["Subject"]):
            return head
    raise RuntimeError(f"the demo sent no {kind} mail about {tag}")


def _prepare(root: Path) -> None:
    if root.exists():
        if any(root.iterdir()) and not (root / MARKER).exists():
            raise SystemExit(
                f"mailbot demo: {root} exists and is not a demo folder; choose another --dir"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by mailbot demo; emptied on every run\n")


def run_demo(root: Path, *, out: TextIO) -> int:
    root = root.resolve()
    _prepare(root)
    (root / "config.toml").write_text(DEMO_CONFIG.format(root=root))
    (root / "contracts.toml").write_text(DEMO_CONTRACTS)
    settings = load_settings(root / "config.toml", environ={})
    desk = build_desk(settings)
    import_configured_contracts(desk)
    inbox = mailbox.Maildir(root / "Maildir", create=True)
    for sample in SAMPLES:
        inbox.add(_sample(*sample))
    daemon = Daemon(desk)
    asyncio.run(daemon.cycle())
    # The technician answers the notification about SOL-1 with a question (answering it
    # is what proves a staff member: its Message-ID is signed)...
    question = "#status waiting\nCzy problem dotyczy wszystkich kont, czy tylko niektórych?\n"
    notification = _sent_mail(root, kind="staff_new", tag="[SOL-1]")
    inbox.add(
        _sample(
            "Tomasz Technik",
            "technik@serwis.example.pl",
            f"Re: {notification['Subject']}",
            question,
            {"In-Reply-To": notification["Message-ID"]},
        )
    )
    asyncio.run(daemon.cycle())
    # ...and the customer answers it: the ticket is open again and the technician is told.
    answer = "Wszystkich. Dodam, że nie działają też kalendarze.\n"
    inbox.add(
        _sample(
            "Jan Kowalski",
            "jan.kowalski@acme.pl",
            "Re: [SOL-1] Serwer pocztowy nie odpowiada",
            answer,
            {},
        )
    )
    asyncio.run(daemon.cycle())
    _report(settings, root, out)
    return 0


def _report(settings: Settings, root: Path, out: TextIO) -> None:
    print(f"\nmailbot demo in {root}\n", file=out)
    tz = ZoneInfo(settings.support.timezone)
    for t in reversed(ticket_summaries(settings, limit=100)):
        print(
            f"{t['number']:7} {t['tier']:14} {t['status']:8} {t['customer']:24} {t['subject']}",
            file=out,
        )
        reaction, resolution = (
            datetime.fromisoformat(t[key]).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")
            for key in ("reaction_due", "resolution_due")
        )
        contract = t["contract"] or "none"
        print(
            f"        contract {contract}; reaction by {reaction}; resolution by {resolution}",
            file=out,
        )
    sent = sorted((root / "sent").glob("*.eml"))
    print(f"\n{len(sent)} mail(s) written to {root / 'sent'} instead of being sent:", file=out)
    for path in sent:
        head = BytesParser(policy=default).parsebytes(path.read_bytes(), headersonly=True)
        print(f"  {path.name:28} to {head['To']}: {head['Subject']}", file=out)
    print(
        f"\nLook closer:\n  mailbot --config {root / 'config.toml'} tickets show SOL-1"
        f"\n  mailbot --config {root / 'config.toml'} contracts list",
        file=out,
    )
