"""``mailbot demo``: the whole pipeline on a Maildir and a folder of .eml files, no servers.

It seeds three contracts (one per tier), drops sample mails into a Maildir,
runs one poll-and-send cycle like the daemon does, then a customer's answer
to the first ticket and a second cycle, and prints what happened.

``mailbot demo --serve`` then keeps the web side running on 127.0.0.1 with the
demo's tickets (``serve_demo``), a daemon cycle every ``CYCLE_SECONDS`` in a
thread so that mail the pages queue (a staff sign-in link, a confirmation) lands
in ``sent/``, until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import mailbox
import shutil
import socket
import threading
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
from mailbot.usecases.desk import Desk
from mailbot.usecases.views import ticket_summaries
from mailbot.usecases.web_status import current_link
from mailbot.web.server import serve

CYCLE_SECONDS = 2.0  # how often --serve polls the Maildir and sends the outbox
STAFF = "technik@serwis.example.pl"  # as in DEMO_CONFIG

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

[web]
bind = "{bind}"
base_url = "{base_url}"
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
    desk = _run_pipeline(root.resolve(), bind="127.0.0.1:8080", out=out)
    desk.engine.dispose()
    return 0


def _run_pipeline(root: Path, *, bind: str, out: TextIO, base_url: str = "") -> Desk:
    """The demo's mail, three cycles and the report; the desk, for serving it."""
    _prepare(root)
    (root / "config.toml").write_text(DEMO_CONFIG.format(root=root, bind=bind, base_url=base_url))
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
    return desk


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


# --- mailbot demo --serve ----------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_lines(desk: Desk, base: str, root: Path) -> list[str]:
    """What ``--serve`` prints once the web side is up: where to look in a browser."""
    return [
        f"\nThe web side of the demo is at {base}/ (Ctrl-C stops it)",
        f"  the start page and the submission forms: {base}/",
        *status_link_lines(desk, base),
        f"  the staff board: {base}/staff/login (ask for a link for {STAFF};"
        f" the mail lands in {root / 'sent'} within {CYCLE_SECONDS:g} s)",
    ]


def status_link_lines(desk: Desk, base: str) -> list[str]:
    """The status page of the demo's first ticket, as its customer's mails link it."""
    first = ticket_summaries(desk.settings, limit=1)
    link = current_link(desk, first[0]["number"]) if first else None
    return [f"  a customer's status page ({first[0]['number']}): {link}"] if link else []


def serve_demo(root: Path, *, port: int | None, out: TextIO) -> int:
    """The demo, then its web side on 127.0.0.1 until SIGTERM or Ctrl-C (exit 0)."""
    root = root.resolve()
    port = port or free_port()
    # With base_url the demo's acknowledgements carry status links that work at once.
    base = f"http://127.0.0.1:{port}"
    desk = _run_pipeline(root, bind=f"127.0.0.1:{port}", out=out, base_url=base)
    for line in serve_lines(desk, base, root):
        print(line, file=out)
    out.flush()
    stop = threading.Event()
    cycles = threading.Thread(target=_keep_cycling, args=(desk, stop), name="demo-daemon")
    cycles.start()
    try:
        serve(desk)
    finally:
        stop.set()
        cycles.join()
        desk.engine.dispose()
    return 0


def _keep_cycling(desk: Desk, stop: threading.Event) -> None:
    """What ``mailbot run`` would do beside ``mailbot web``: poll and send, until ``stop``."""
    daemon = Daemon(desk)
    while not stop.wait(CYCLE_SECONDS):
        asyncio.run(daemon.cycle())
