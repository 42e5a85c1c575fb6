"""The benchmark's peers: a private Dovecot (the tests' own), an aiosmtpd sink that notes
when each mail arrived, an IMAP account filled over one connection, and a fresh database
per run (a SQLite file, or a PostgreSQL database created and dropped)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from imapclient import IMAPClient

from bench.corpus import BenchMail
from tests.conftest import Dovecot, free_port

# MULTIAPPEND (RFC 3502) in groups of this many mails, and of at most this many bytes.
APPEND_GROUP = 100
APPEND_GROUP_BYTES = 8 * 1024 * 1024
_HEADER = re.compile(rb"^(X-Mailbot-Kind|In-Reply-To|Message-ID): *(.*?)\r?$", re.M | re.I)


@dataclass(frozen=True)
class Arrival:
    """One mail the sink accepted: when (``time.monotonic()``), and what it answers."""

    at: float
    kind: str
    in_reply_to: str
    message_id: str


@dataclass
class TimingHandler:
    """aiosmtpd handler that keeps the arrival time and the threading headers of each mail."""

    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.monotonic()
        content: bytes = envelope.original_content or b""
        head = content.split(b"\r\n\r\n", 1)[0]
        found = {name.lower(): value for name, value in _HEADER.findall(head)}
        arrival = Arrival(
            at,
            found.get(b"x-mailbot-kind", b"").decode(),
            found.get(b"in-reply-to", b"").decode(),
            found.get(b"message-id", b"").decode(),
        )
        with self.lock:
            self.arrivals.append(arrival)
        return "250 2.0.0 OK"

    def snapshot(self) -> list[Arrival]:
        with self.lock:
            return list(self.arrivals)

    def clear(self) -> None:
        with self.lock:
            self.arrivals.clear()

    def acks(self) -> list[Arrival]:
        return [a for a in self.snapshot() if a.kind == "ack"]


@dataclass(frozen=True)
class Sink:
    host: str
    port: int
    handler: TimingHandler


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    """An aiosmtpd server on 127.0.0.1 in a thread of this process."""
    handler = TimingHandler()
    # The acknowledgements are small, but the SMTP stage sends many at once.
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield Sink("127.0.0.1", controller.port, handler)
    finally:
        controller.stop()


@dataclass(frozen=True)
class Account:
    """A Dovecot user of the benchmark's own: where one run's mail waits."""

    host: str
    port: int
    username: str
    password: str

    def client(self) -> Any:
        client: Any = IMAPClient(self.host, port=self.port, ssl=False, timeout=60)
        client.normalise_times = False
        client.login(self.username, self.password)
        return client


def new_account(dovecot: Dovecot) -> Account:
    user = f"bench{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    dovecot.add_user(user, password)
    return Account(dovecot.host, dovecot.port, user, password)


def fill(account: Account, mails: Sequence[BenchMail]) -> float:
    """APPEND ``mails`` to the INBOX over one connection; returns the seconds it took.

    No INTERNALDATE is given, so the server stamps each mail with the fill time.
    """
    client = account.client()
    started = time.perf_counter()
    try:
        group: list[bytes] = []
        size = 0
        for mail in mails:
            if group and (len(group) >= APPEND_GROUP or size + len(mail.raw) > APPEND_GROUP_BYTES):
                client.multiappend("INBOX", group)
                group, size = [], 0
            group.append(mail.raw)
            size += len(mail.raw)
        if group:
            client.multiappend("INBOX", group)
        return time.perf_counter() - started
    finally:
        client.logout()


def inbox_count(client: Any) -> int:
    """Mails in the INBOX, by STATUS (the client must not have it selected)."""
    return int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])


@contextmanager
def fresh_database(kind: str, *, directory: Path, postgresql: str) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in ``directory``, or a new PostgreSQL
    database on the server of the ``postgresql`` URL, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'mailbot.db'}"
        return
    name = f"mailbot_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgresql, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(postgresql).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
