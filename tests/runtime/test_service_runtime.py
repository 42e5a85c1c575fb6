"""mailbot as systemd runs it: sd_notify, signals, reload, health, logs, the unit file.

The daemon tests start ``mailbot run`` as a real process against Dovecot and an
aiosmtpd sink, with a datagram socket of the test's own as ``$NOTIFY_SOCKET``.
They wait for the process's datagrams and log lines with timeouts; they never
sleep to let time pass.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, create_engine, select

from mailbot.adapters.db import LedgerRow, OutboxRow, TicketRow
from mailbot.config import HealthSettings, ImapSettings, load_settings
from mailbot.config_oauth2 import KEY_CREDENTIAL, SECRET_KEYS
from mailbot.runtime.heartbeat import Heartbeat
from mailbot.runtime.log_setup import JsonFormatter, TextFormatter, is_wire_logger
from mailbot.runtime.sdnotify import Notifier, status_line, watchdog_interval
from mailbot.usecases.health import Level, Snapshot, judge, record_poll
from tests.cli.test_cli import mailbot, write_config
from tests.conftest import Dovecot, ImapPeer, RecordingHandler, SmtpSink, free_port
from tests.factories import customer_mail

REPO = Path(__file__).resolve().parents[2]
WAIT = 60.0  # seconds: generous for a loaded CI machine; reached only when something is wrong


# --- a notify socket, as systemd holds it ------------------------------------------------


class NotifySocket:
    """A datagram socket standing in for systemd's; ``address`` goes into $NOTIFY_SOCKET."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.received: list[dict[str, str]] = []

    def next(self, timeout: float = WAIT) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        message = dict(line.split("=", 1) for line in data.splitlines())
        self.received.append(message)
        return message

    def until(self, key: str, value: str | None = None, timeout: float = WAIT) -> dict[str, str]:
        """Read datagrams until one sets ``key`` (to ``value``); return it."""
        while True:
            message = self.next(timeout)
            if key in message and (value is None or message[key] == value):
                return message

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["abstract", "path"])
def notify_socket(request: pytest.FixtureRequest) -> Iterator[NotifySocket]:
    """systemd uses a path (/run/systemd/notify); '@' names the abstract namespace."""
    if request.param == "abstract":
        sock = NotifySocket(f"@mailbot-test-{uuid.uuid4().hex}")
        yield sock
        sock.close()
        return
    directory = tempfile.mkdtemp(prefix="mbn-", dir="/tmp")  # AF_UNIX paths: 108 bytes at most
    sock = NotifySocket(f"{directory}/notify")
    yield sock
    sock.close()
    shutil.rmtree(directory, ignore_errors=True)


# --- the daemon as a process --------------------------------------------------------------


@dataclass
class Daemon:
    """A ``mailbot run`` process; its stderr lines are collected by a thread."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def wait_for_line(self, pattern: str, timeout: float = WAIT) -> str:
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while True:
            left = (deadline - datetime.now(UTC)).total_seconds()
            try:
                line = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise TimeoutError(
                    f"no line matching {pattern!r}:\n" + "".join(self.seen)
                ) from None
            self.seen.append(line)
            if re.search(pattern, line):
                return line

    def stop(self, timeout: float = WAIT) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    @property
    def stderr(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


@pytest.fixture
def start_daemon() -> Iterator[Any]:
    started: list[tuple[Daemon, threading.Thread]] = []

    def start(config: Path, env: dict[str, str] | None = None) -> Daemon:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            clean.pop(name, None)
        process = subprocess.Popen(
            [sys.executable, "-m", "mailbot", "--config", str(config), "run"],
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**clean, **(env or {})},
        )
        daemon = Daemon(process)
        assert process.stderr is not None
        stream = process.stderr
        reader = threading.Thread(target=lambda: [daemon.lines.put(x) for x in stream])
        reader.start()
        started.append((daemon, reader))
        return daemon

    yield start
    for daemon, reader in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
        daemon.process.wait(10)
        reader.join(10)  # the pipe is at its end once the process is gone
        assert daemon.process.stderr is not None
        daemon.process.stderr.close()


def fast_config(tmp_path: Path, imap: ImapSettings, smtp: SmtpSink, database_url: str) -> Path:
    config = write_config(tmp_path, imap, smtp, database_url)
    config.write_text(config.read_text().replace('poll_interval = "5s"', 'poll_interval = "1s"'))
    return config


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


# --- sd_notify from a real daemon -----------------------------------------------------------


def test_ready_status_watchdog_and_stopping_arrive_in_order(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    notify_socket: NotifySocket,
    start_daemon: Any,
) -> None:
    config = fast_config(tmp_path, imap_settings, smtp_sink, sqlite_url(tmp_path))
    imap_client.append(customer_mail("jan@acme.pl", "Serwer nie działa"))
    env = {"NOTIFY_SOCKET": notify_socket.address, "WATCHDOG_USEC": "10000000"}
    daemon = start_daemon(config, env)

    ready = notify_socket.until("READY", "1")
    watchdog = notify_socket.until("WATCHDOG", "1")
    status = notify_socket.until("STATUS")
    smtp_sink.wait_for(1)
    assert daemon.stop() == 0, daemon.stderr
    stopping = notify_socket.until("STOPPING", "1")

    order = [id(message) for message in notify_socket.received]
    positions = [order.index(id(m)) for m in (ready, watchdog, status, stopping)]
    assert positions == sorted(positions), notify_socket.received
    assert "STATUS" in ready  # READY comes with what the first poll did
    assert re.search(r"\d+ in outbox; \d+ overdue; last poll \d+s ago", status["STATUS"])
    assert "mailbot stopped" in daemon.stderr


def test_a_failed_first_poll_still_reports_ready_with_the_reason(
    tmp_path: Path,
    imap_settings: ImapSettings,
    smtp_sink: SmtpSink,
    notify_socket: NotifySocket,
    start_daemon: Any,
) -> None:
    closed = replace(imap_settings, port=free_port())
    config = fast_config(tmp_path, closed, smtp_sink, sqlite_url(tmp_path))
    daemon = start_daemon(config, {"NOTIFY_SOCKET": notify_socket.address})

    ready = notify_socket.until("READY", "1")

    assert ready["STATUS"].startswith("poll failed: IMAP server")
    assert "connection refused" in ready["STATUS"]
    assert "no successful poll yet" in ready["STATUS"]
    assert daemon.stop() == 0


# --- SIGTERM --------------------------------------------------------------------------------


def big_mail(sender: str, subject: str, megabytes: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@desk.example.pl"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@acme.pl>"
    msg.set_content("Logi w załączniku.\n")
    msg.add_attachment(os.urandom(megabytes << 20), "application", "octet-stream", filename="l.bin")
    return msg.as_bytes()


def test_sigterm_during_large_mails_leaves_nothing_half_done(
    tmp_path: Path,
    dovecot: Dovecot,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    start_daemon: Any,
) -> None:
    url = sqlite_url(tmp_path)
    config = fast_config(tmp_path, imap_settings, smtp_sink, url)
    total = 6
    for n in range(total):
        imap_client.append(big_mail("jan@acme.pl", f"Awaria {n}", megabytes=6))
    daemon = start_daemon(config)

    daemon.wait_for_line(r"INFO mailbot\.ingest: mail <")  # the first is done, the next in hand
    assert daemon.stop() == 0, daemon.stderr

    processed = imap_client.messages("Processed")
    inbox = imap_client.messages("INBOX")
    assert len(processed) + len(inbox) == total
    assert 1 <= len(processed) < total, "stopped after the mail in hand, not after them all"
    engine = create_engine(url)
    with Session(engine) as session:
        ledger = session.exec(select(LedgerRow)).all()
        tickets = session.exec(select(TicketRow)).all()
        outbox = session.exec(select(OutboxRow)).all()
    engine.dispose()
    # Every mail that left the inbox is stored whole, with its ticket and its answer;
    # every mail still there is untouched, for the next start.
    assert len(ledger) == len(tickets) == len(outbox) == len(processed)
    assert {row.outcome for row in ledger} == {"ticket"}
    assert "sending" not in {row.status for row in outbox}
    # IMAP was closed with LOGOUT, not by dropping the connection.
    log = dovecot.log_file.read_text()
    assert re.search(rf"imap\({imap_settings.username}\).*Logged out", log), log[-2000:]


class SlowHandler(RecordingHandler):
    """Holds DATA until the test lets it go, so a signal can arrive mid-send."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.entered.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, WAIT)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp() -> Iterator[tuple[SmtpSink, SlowHandler]]:
    handler = SlowHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpSink(controller.hostname, controller.port, handler), handler
    finally:
        handler.release.set()
        controller.stop()


def test_sigterm_during_an_smtp_send_finishes_it_and_marks_it_sent(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    slow_smtp: tuple[SmtpSink, SlowHandler],
    start_daemon: Any,
) -> None:
    sink, handler = slow_smtp
    url = sqlite_url(tmp_path)
    config = fast_config(tmp_path, imap_settings, sink, url)
    # One connection: the second mail waits behind the first (with more, both are in flight).
    config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\nconnections = 1\n", 1))
    imap_client.append(customer_mail("jan@acme.pl", "Pierwsza"))
    imap_client.append(customer_mail("obcy@example.com", "Druga"))
    daemon = start_daemon(config)

    assert handler.entered.wait(WAIT)
    daemon.process.send_signal(signal.SIGTERM)
    daemon.wait_for_line("stop requested")
    handler.release.set()
    assert daemon.process.wait(WAIT) == 0, daemon.stderr

    engine = create_engine(url)
    with Session(engine) as session:
        statuses = sorted(row.status for row in session.exec(select(OutboxRow)).all())
    engine.dispose()
    assert statuses == ["queued", "sent"]  # the one in flight went out; the next waits
    assert len(sink.messages) == 1


# --- SIGHUP ----------------------------------------------------------------------------------


def test_sighup_reloads_a_good_config_and_refuses_a_broken_one(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    notify_socket: NotifySocket,
    start_daemon: Any,
) -> None:
    config = fast_config(tmp_path, imap_settings, smtp_sink, sqlite_url(tmp_path))
    good = config.read_text()
    daemon = start_daemon(config, {"NOTIFY_SOCKET": notify_socket.address})
    notify_socket.until("READY", "1")

    config.write_text(good.replace("port = ", 'port = "not a port" #', 1))
    daemon.process.send_signal(signal.SIGHUP)
    notify_socket.until("RELOADING", "1")
    refused = notify_socket.until("READY", "1")
    assert "reload refused" in refused["STATUS"] and "imap.port" in refused["STATUS"]
    daemon.wait_for_line(r"ERROR mailbot\.daemon: reload refused.*imap\.port")
    # The old configuration still works: a mail from a stranger is post-warranty.
    imap_client.append(customer_mail("nowy@firma.pl", "Przed"))
    daemon.wait_for_line(r"mail <.*post_warranty")

    # A good one takes effect: the new contract makes the same sender VIP.
    config.write_text(good)
    (tmp_path / "contracts.toml").write_text(
        (tmp_path / "contracts.toml").read_text()
        + '\n[[contract]]\nid = "firma"\ncustomer = "Firma"\ntier = "vip"\n'
        'addresses = ["nowy@firma.pl"]\nvalid_from = 2025-01-01\n'
    )
    daemon.process.send_signal(signal.SIGHUP)
    notify_socket.until("RELOADING", "1")
    reloaded = notify_socket.until("READY", "1")
    assert "refused" not in reloaded["STATUS"]
    daemon.wait_for_line(r"INFO mailbot\.daemon: reloaded")
    imap_client.append(customer_mail("nowy@firma.pl", "Po"))
    daemon.wait_for_line(r"mail <.*vip")
    assert daemon.stop() == 0, daemon.stderr


# --- mailbot status ----------------------------------------------------------------------------


def status(config: Path) -> tuple[int, dict[str, Any]]:
    done = mailbot("--config", str(config), "status", "--json")
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_status_exit_codes_follow_the_poll_and_the_outbox(
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
    database_url: str,
) -> None:
    config = write_config(tmp_path, imap_settings, smtp_sink, database_url)
    code, shown = status(config)
    assert (code, shown["status"]) == (2, "CRITICAL")
    assert shown["problems"] == ["no successful poll yet"]

    imap_client.append(customer_mail("jan@acme.pl", "Serwer"))
    assert mailbot("--config", str(config), "run", "--once").returncode == 0
    code, shown = status(config)
    assert (code, shown["status"], shown["problems"]) == (0, "OK", [])
    assert (shown["mails_today"], shown["outbox_unsent"]) == (1, 0)
    assert shown["last_poll_age_seconds"] < 60

    engine = create_engine(database_url)
    now = datetime.now(UTC)
    record_poll(engine, now=now - timedelta(minutes=7))  # past the 5 minute warning
    code, shown = status(config)
    assert (code, shown["status"]) == (1, "WARNING")
    assert shown["problems"] == ["last successful poll 7 min ago"]

    record_poll(engine, now=now)
    with Session(engine) as session:
        session.add(
            OutboxRow(
                kind="ack", message_id="<stuck@x>", mail_from="s@x.pl", recipients="a@b.pl",
                raw=b"x", created_at=now - timedelta(hours=3), next_attempt_at=now,
            )
        )  # fmt: skip
        session.commit()
    engine.dispose()
    code, shown = status(config)
    assert (code, shown["status"]) == (2, "CRITICAL")
    assert shown["problems"] == ["oldest unsent mail queued 3 h ago"]

    text = mailbot("--config", str(config), "status")
    assert text.returncode == 2 and text.stdout.startswith("CRITICAL: oldest unsent mail")


NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
LIMITS = HealthSettings()


def snapshot(**changes: Any) -> Snapshot:
    base = Snapshot(NOW, NOW, NOW, "", 0, 0, None, 0, 0, 0)
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "level", "problem"),
    [
        ({}, Level.OK, None),
        ({"last_poll_at": NOW - timedelta(minutes=5)}, Level.OK, None),
        ({"last_poll_at": NOW - timedelta(minutes=6)}, Level.WARNING, "poll 6 min ago"),
        ({"last_poll_at": NOW - timedelta(minutes=16)}, Level.CRITICAL, "poll 16 min ago"),
        ({"last_poll_at": None, "last_error": "refused"}, Level.CRITICAL, "(last attempt: ref"),
        ({"oldest_unsent_at": NOW - timedelta(minutes=14), "outbox_unsent": 1}, Level.OK, None),
        ({"oldest_unsent_at": NOW - timedelta(minutes=16)}, Level.WARNING, "queued 16 min ago"),
        ({"oldest_unsent_at": NOW - timedelta(hours=2, minutes=1)}, Level.CRITICAL, "2 h 1 min"),
        ({"reminders_late": 2}, Level.WARNING, "2 ticket(s) with reminders late"),
        ({"overdue_tickets": 5, "outbox_failed": 3}, Level.OK, None),  # the staff's business
    ],
)
def test_judge(changes: dict[str, Any], level: Level, problem: str | None) -> None:
    verdict = judge(snapshot(**changes), LIMITS)
    assert verdict.level is level
    assert (problem is None) == (not verdict.problems)
    if problem:
        assert problem in verdict.problems[0]


def test_health_thresholds_follow_the_poll_interval_unless_set(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    base = '[imap]\nurl = "maildir:m"\npoll_interval = "10m"\n[smtp]\nurl = "dir:d"\n'
    config.write_text(base + '[support]\naddress = "s@x.pl"\n')
    health = load_settings(config, environ={}).health
    assert (health.poll_warning, health.poll_critical) == (
        timedelta(minutes=30),
        timedelta(minutes=100),
    )
    config.write_text(base + '[support]\naddress = "s@x.pl"\n[health]\npoll_warning = "1h"\n')
    assert load_settings(config, environ={}).health.poll_warning == timedelta(hours=1)


# --- check-config --------------------------------------------------------------------------


def test_check_config_connects_to_every_server(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    config = write_config(tmp_path, imap_settings, smtp_sink, sqlite_url(tmp_path))
    done = mailbot("--config", str(config), "check-config")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("configuration", "templates", "pages", "contracts", "database", "imap", "smtp"):
        assert re.search(rf"(?m)^{name}: OK: ", done.stdout), done.stdout
    assert "EHLO and NOOP answered" in done.stdout


def test_check_config_reports_an_unreachable_mailbox_and_offline_skips_it(
    tmp_path: Path, imap_settings: ImapSettings, smtp_sink: SmtpSink
) -> None:
    closed = replace(imap_settings, port=free_port())
    config = write_config(tmp_path, closed, smtp_sink, sqlite_url(tmp_path))
    offline = mailbot("--config", str(config), "check-config", "--offline")
    assert offline.returncode == 0, offline.stderr
    assert "imap: " not in offline.stdout and "not tried (--offline)" in offline.stdout
    assert not (tmp_path / "db.sqlite").exists(), "--offline opens no database"

    done = mailbot("--config", str(config), "check-config")
    assert done.returncode == 1
    assert re.search(r"(?m)^imap: FAILED: .*connection refused", done.stdout), done.stdout
    assert re.search(r"(?m)^smtp: OK: ", done.stdout)


# --- logs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_debug_logs_hold_no_password_and_no_mail_body(
    log_format: str,
    tmp_path: Path,
    imap_settings: ImapSettings,
    imap_client: ImapPeer,
    smtp_sink: SmtpSink,
) -> None:
    config = write_config(tmp_path, imap_settings, smtp_sink, sqlite_url(tmp_path))
    wire = '"imapclient=DEBUG", "aiosmtplib=DEBUG", "sqlalchemy.engine=DEBUG", "apscheduler=DEBUG"'
    config.write_text(
        config.read_text().replace(
            "[general]\n", f'[general]\nlog_level = "DEBUG"\nlog_levels = [{wire}]\n'
        )
    )
    marker = f"BODY-MARKER-{uuid.uuid4().hex}"
    imap_client.append(customer_mail("jan@acme.pl", "Drukarka", body=f"{marker}\n"))

    done = mailbot("--log-format", log_format, "--config", str(config), "run", "--once")

    assert done.returncode == 0, done.stderr
    assert imap_settings.password not in done.stderr
    assert marker not in done.stderr
    lines = done.stderr.splitlines()
    if log_format == "json":
        entries = [json.loads(line) for line in lines]
        assert {"time", "level", "logger", "message"} <= set(entries[0])
        lines = [f"{e['level']} {e['logger']}: {e['message']}" for e in entries]
    # One line per mail and per sent mail, each with its Message-ID and ticket.
    assert any(
        re.search(r"mailbot\.ingest: mail <.*@acme\.pl> uid 1: ticket.*SOL-1", x) for x in lines
    )
    assert any(
        re.search(r"mailbot\.outbox: .*ticket SOL-1\) sent to jan@acme\.pl: <", x) for x in lines
    )


def test_passwords_are_masked_even_in_mailbots_own_lines() -> None:
    record = __import__("logging").LogRecord(
        "mailbot.x", 40, __file__, 1, "login as %s with %s failed", ("u", "s3cret-pw"), None
    )
    for formatter in (JsonFormatter(), TextFormatter(journal=True)):
        formatter.secrets = ("s3cret-pw",)
        out = formatter.format(record)
        assert "s3cret-pw" not in out and "********" in out
    assert TextFormatter(journal=True).format(record).startswith("<3>mailbot.x: ")
    assert is_wire_logger("imapclient.imaplib") and not is_wire_logger("imapclientx")


def test_oauth2_tokens_are_masked_by_their_shape() -> None:
    blob = base64.b64encode(b"user=s@x.pl\x01auth=Bearer at-123\x01\x01").decode()
    bearer = base64.b64encode(b"n,a=s@x.pl,\x01auth=Bearer at-123\x01\x01").decode()
    for line in (f"> b'AUTHENTICATE XOAUTH2 {blob}'", f"AUTH XOAUTH2 {bearer}",
                 "Authorization: Bearer at-123"):  # fmt: skip
        record = __import__("logging").LogRecord("imapclient", 10, __file__, 1, line, (), None)
        out = TextFormatter(journal=False).format(record)
        assert blob not in out and bearer not in out and "at-123" not in out, out
        assert "********" in out


def test_log_levels_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    base = '[imap]\nurl = "maildir:m"\n[smtp]\nurl = "dir:d"\n[support]\naddress = "s@x.pl"\n'
    config.write_text(base + '[general]\nlog_levels = ["mailbot.outbox=debug"]\n')
    assert load_settings(config, environ={}).log_levels == (("mailbot.outbox", "DEBUG"),)
    env = {"MAILBOT_GENERAL__LOG_LEVELS": "a=INFO, b.c=ERROR"}
    assert load_settings(config, environ=env).log_levels == (("a", "INFO"), ("b.c", "ERROR"))
    config.write_text(base + '[general]\nlog_levels = ["mailbot.outbox"]\n')
    with pytest.raises(Exception, match=r"general\.log_levels: expected a list like"):
        load_settings(config, environ={})


# --- sd_notify and the watchdog, in-process ------------------------------------------------------


def test_notifier_without_a_socket_does_nothing() -> None:
    assert Notifier.from_environ({}).send("READY=1") is False


def test_notifier_sends_one_datagram_per_call(notify_socket: NotifySocket) -> None:
    notifier = Notifier(notify_socket.address)
    assert notifier.ready("idle;\nsecond line")
    assert notify_socket.next(5) == {"READY": "1", "STATUS": "idle; second line"}
    assert status_line("a\n\nb") == "STATUS=a b"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "30000000"}, timedelta(seconds=30)),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, timedelta(seconds=30)),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "soon"}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: timedelta | None) -> None:
    assert watchdog_interval(env, 42) == expected


def test_the_watchdog_timer_pings_only_while_polls_progress(notify_socket: NotifySocket) -> None:
    now = [100.0]
    heartbeat = Heartbeat(
        Notifier(notify_socket.address, timedelta(seconds=30)), monotonic=lambda: now[0]
    )
    assert heartbeat.tick() is False  # no poll has ended yet
    heartbeat.progress()
    now[0] += 29
    assert heartbeat.tick() is True
    assert notify_socket.next(5) == {"WATCHDOG": "1"}
    now[0] += 2  # 31 s since the last progress: a poll is stuck
    assert heartbeat.tick() is False
    heartbeat.mail_handled()  # a long poll working through mail is progress
    assert heartbeat.tick() is True
    assert notify_socket.next(5)["READY"] == "1"  # the first mail of the first poll
    assert notify_socket.next(5) == {"WATCHDOG": "1"}


# --- the unit file ----------------------------------------------------------------------------


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze is missing (apt-get install systemd; ./tests/run does it)")
    return found


# The daemon's unit and the web side's (issue 15), locked down alike.
UNITS = ("mailbot.service", "mailbot-web.service")


@pytest.fixture(params=UNITS)
def unit_under_test(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A unit as shipped, but starting this checkout's ``mailbot``.

    ``verify`` insists that ExecStart names an existing executable, and
    /opt/mailbot is not installed here; only that path is changed.
    """
    installed = Path(sys.executable).parent / "mailbot"
    assert installed.exists(), "the package's console script (pip install -e .)"
    text = (REPO / "systemd" / request.param).read_text()
    assert "ExecStart=/opt/mailbot/bin/mailbot " in text
    unit = tmp_path / request.param
    unit.write_text(text.replace("ExecStart=/opt/mailbot/bin/mailbot ", f"ExecStart={installed} "))
    return unit


def test_the_unit_verifies(unit_under_test: Path) -> None:
    done = subprocess.run(
        [systemd_analyze(), "verify", str(unit_under_test)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # verify exits 0 even for ignored lines ("Unknown key", "Invalid syntax"): none may show.
    assert str(unit_under_test) not in done.stderr, done.stderr


# OAuth2's secrets, offered commented out (a credential file that is missing fails the start),
# under the names the config loader reads (mailbot.config_oauth2).
OAUTH2_CREDENTIALS = tuple(
    f"\n#LoadCredential={name}:/etc/mailbot/{name}"
    for name in (*SECRET_KEYS.values(), KEY_CREDENTIAL)
)
# What each unit must say beyond its hardening.
UNIT_LINES = {
    "mailbot.service": (
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "LoadCredential=imap_password:",
        "LoadCredential=smtp_password:",
        *OAUTH2_CREDENTIALS,
        "EnvironmentFile=-/etc/mailbot/mailbot.env",
    ),
    "mailbot-web.service": (
        " web\n",
        "DynamicUser=yes\nUser=mailbot\n",  # the daemon's dynamic user: one state directory
        "StateDirectory=mailbot",
        "LoadCredential=smtp_password:",
        "LoadCredential=web_metrics_token:",
        *OAUTH2_CREDENTIALS,
        "EnvironmentFile=-/etc/mailbot/mailbot.env",
    ),
}
# What a unit must not say: the web side never reads the mailbox, so it gets no IMAP password.
UNIT_NEVER = {"mailbot.service": (), "mailbot-web.service": ("imap_password",)}


def test_the_unit_is_locked_down(unit_under_test: Path) -> None:
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", str(unit_under_test)],
        capture_output=True,
        text=True,
        check=False,
    )
    name = re.escape(unit_under_test.name)
    found = re.search(rf"Overall exposure level for {name}: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found[1]) <= 2.0
    text = unit_under_test.read_text()
    for line in UNIT_LINES[unit_under_test.name]:
        assert line in text
    for word in UNIT_NEVER[unit_under_test.name]:
        assert word not in text
