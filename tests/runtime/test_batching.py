"""Batched intake: byte-bounded IMAP fetches, one transaction per batch, parsing in a worker.

Against Dovecot, aiosmtpd and the test database, like test_ingest; the parse
pool's workers are real processes.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from mailbot.adapters.db import LedgerRow, TicketRow
from mailbot.adapters.imap import ImapSource
from mailbot.config import ImapSettings, IngestSettings
from mailbot.core.limits import SizeLimits
from mailbot.core.prepare import RawMail, prepare_all
from mailbot.runtime.parse_pool import ParsePool
from mailbot.runtime.parse_worker import read_frame, serve, write_frame
from mailbot.usecases import ingest as service
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import ingest
from tests.conftest import ImapPeer, SmtpSink
from tests.factories import customer_mail, deliver, run_once

LIMITS = SizeLimits(max_mail_size=25 * 1024**2, max_attachment_size=10 * 1024**2)


class CountingSource(ImapSource):
    """The real adapter, counting the FETCH round trips that carry mail bodies."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body_fetches: list[int] = []

    def _fetch_batch(self, client: Any, batch: list[int], *args: Any) -> Any:
        self.body_fetches.append(len(batch))
        return super()._fetch_batch(client, batch, *args)


def with_ingest(desk: Desk, **values: Any) -> Desk:
    return replace(desk, settings=replace(desk.settings, ingest=IngestSettings(**values)))


def subjects(desk: Desk) -> list[str]:
    with Session(desk.engine) as session:
        return [t.subject for t in session.exec(select(TicketRow).order_by(TicketRow.seq))]


def test_fetch_round_trips_are_bounded_by_count_and_bytes(
    imap_settings: ImapSettings, imap_client: ImapPeer
) -> None:
    mails = [customer_mail(f"c{n}@acme.pl", f"Mail {n}", "x" * 3000) for n in range(7)]
    uids = [str(imap_client.append(raw)) for raw in mails]
    size = len(mails[0])
    source = CountingSource(imap_settings, batch_size=3, batch_bytes=2 * size + 10)
    source.open()
    try:
        fetched = list(source.fetch(uids))
    finally:
        source.close()
    assert [m.raw for m in fetched] == mails
    assert source.body_fetches == [2, 2, 2, 1]  # the byte bound bites before the count
    assert all(m.size == len(m.raw) and not m.truncated for m in fetched)


def test_a_mail_over_the_limit_is_read_only_in_part(
    imap_settings: ImapSettings, imap_client: ImapPeer
) -> None:
    small = customer_mail("jan@acme.pl", "Mały")
    big = customer_mail("ewa@acme.pl", "Duży", "Tekst na początku.\n" + "y" * 200_000)
    uids = [str(imap_client.append(raw)) for raw in (small, big)]
    source = ImapSource(imap_settings)
    source.open()
    try:
        first, second = source.fetch(uids, max_size=100_000)
    finally:
        source.close()
    assert (first.raw, first.truncated) == (small, False)
    assert second.truncated and second.size == len(big)
    assert second.raw == big[: len(second.raw)] and len(second.raw) == 100_000
    [prepared] = prepare_all(
        [RawMail(second.raw, second.size, True)], replace(LIMITS, max_mail_size=100_000)
    )
    assert prepared.oversized and "Tekst na początku." in prepared.mail.body_text
    assert prepared.mail.size == len(big)


def test_many_mails_go_through_in_batches_exactly_once(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    batched = with_ingest(desk, batch_size=4, parse_workers=0)
    for n in range(10):
        deliver(imap_client, customer_mail(f"c{n}@acme.pl", f"Zgłoszenie {n}"))

    run_once(batched)

    assert subjects(desk) == [f"Zgłoszenie {n}" for n in range(10)]
    assert len(smtp_sink.of_kind("ack")) == 10
    assert imap_client.messages("INBOX") == []
    assert len(imap_client.messages("Processed")) == 10


def test_a_mail_that_fails_in_a_batch_costs_only_itself(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's transaction rolls back; its mails are stored one by one, the bad one
    quarantined, the others once each (no ticket left over from the failed attempt)."""
    real_apply = service._apply

    def failing_apply(desk: Desk, key: Any, mail: Any, *args: Any, **kwargs: Any) -> Any:
        if mail.subject == "Zepsuty":
            raise RuntimeError("a bug met by one mail")
        return real_apply(desk, key, mail, *args, **kwargs)

    monkeypatch.setattr(service, "_apply", failing_apply)
    for subject in ("Pierwszy", "Zepsuty", "Trzeci"):
        deliver(imap_client, customer_mail("jan@acme.pl", subject))

    run_once(desk)

    assert subjects(desk) == ["Pierwszy", "Trzeci"]
    with Session(desk.engine) as session:
        outcomes = [row.outcome for row in session.exec(select(LedgerRow).order_by(LedgerRow.id))]
        numbers = [t.number for t in session.exec(select(TicketRow).order_by(TicketRow.seq))]
    assert sorted(outcomes) == ["quarantined", "ticket", "ticket"]
    assert numbers == ["SOL-1", "SOL-2"]
    assert len(smtp_sink.of_kind("ack")) == 2
    assert len(imap_client.messages("Quarantine")) == 1
    assert imap_client.messages("INBOX") == []


def test_parsing_in_a_worker_process_gives_the_same_tickets(
    desk: Desk, imap_client: ImapPeer, smtp_sink: SmtpSink
) -> None:
    for n in range(6):
        deliver(imap_client, customer_mail(f"c{n}@acme.pl", f"Zgłoszenie {n}", "Zażółć gęślą jaźń"))
    pool = ParsePool(1)
    source = ImapSource(desk.settings.imap, batch_size=2)
    try:
        report = ingest(with_ingest(desk, batch_size=2, parse_workers=1), source, parser=pool)
        workers = pool.pids
    finally:
        pool.close()
    assert len(workers) == 1, "the batches went to a worker process"
    assert report.outcomes == {"ticket": 6}
    assert subjects(desk) == [f"Zgłoszenie {n}" for n in range(6)]


def test_a_dead_parse_worker_is_replaced() -> None:
    raws = [RawMail(customer_mail("jan@acme.pl", f"Mail {n}")) for n in range(3)]
    pool = ParsePool(1)
    try:
        assert [p.mail.subject for p in pool.result(pool.submit(raws, LIMITS))] == [
            "Mail 0",
            "Mail 1",
            "Mail 2",
        ]
        [dead] = pool.pids
        os.kill(dead, signal.SIGKILL)  # the worker dies (the OOM killer, say)
        parsed = pool.result(pool.submit(raws, LIMITS))
        assert [p.mail.subject for p in parsed] == ["Mail 0", "Mail 1", "Mail 2"]
        assert not any(p.mail.unparsed for p in parsed), "fully parsed by the new worker"
        assert pool.pids and dead not in pool.pids
    finally:
        pool.close()


def test_a_stuck_parse_worker_is_killed_and_replaced_at_the_deadline() -> None:
    """A worker that never answers (stopped here; a lost frame would look the same) costs
    the intake one parse deadline: it is killed, the mail it held is read by the fallback
    reader, and a new worker parses the rest of the batch."""
    raws = [RawMail(customer_mail("jan@acme.pl", f"Mail {n}")) for n in range(2)]
    pool = ParsePool(1, deadline=1.0)
    try:
        pool.warm_up()
        [stuck] = pool.pids
        os.kill(stuck, signal.SIGSTOP)
        first, second = pool.result(pool.submit(raws, LIMITS))
        assert (first.mail.subject, first.mail.unparsed) == (
            "Mail 0",
            "parse deadline of 1 s exceeded",
        )
        assert (second.mail.subject, second.mail.unparsed) == ("Mail 1", "")
        assert stuck not in pool.pids and not Path(f"/proc/{stuck}").exists()  # killed, reaped
        assert len(pool.result(pool.submit(raws, LIMITS))) == 2 and pool.pids
    finally:
        pool.close()


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.add(int(entry.name))
    return found


def test_the_parse_worker_goes_when_the_daemon_is_killed() -> None:
    """SIGKILL tells no one: the worker's stdin ends with its daemon, and it ends too. It is
    the daemon's only helper process (no fork server, no resource tracker beside it)."""
    code = (
        "import sys\n"
        "from mailbot.runtime.parse_pool import ParsePool\n"
        "pool = ParsePool(1)\n"
        "pool.warm_up()\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as process:
        try:
            assert process.stdout is not None and process.stdout.readline() == b"ready\n"
            helpers = _children(process.pid)
            commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in helpers]
            assert len(helpers) == 1 and b"mailbot.runtime.parse_worker" in commands[0], commands
        finally:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{pid}").exists() for pid in helpers):
        assert time.monotonic() < deadline, "the parse worker outlived its daemon"
        time.sleep(0.1)


def _frames(*payloads: bytes) -> io.BytesIO:
    stream = io.BytesIO()
    for payload in payloads:
        write_frame(stream, payload)
    stream.seek(0)
    return stream


def _answers(stream: io.BytesIO) -> list[bytes | None]:
    stream.seek(0)
    frames: list[bytes | None] = []
    while (frame := read_frame(stream)) is not None:
        frames.append(frame)
    return frames


def test_the_worker_answers_a_mail_at_a_time_and_a_broken_mail_frame_alone() -> None:
    """A batch is (count, limits) and a frame per mail; the answer a frame per mail, then
    an empty frame. A mail frame that is no pickle fails only its own answer."""
    good = pickle.dumps(RawMail(customer_mail("jan@acme.pl", "Drukarka")))
    answers = io.BytesIO()
    serve(_frames(pickle.dumps((2, LIMITS)), good, b"not a pickle"), answers)
    first, second, end = _answers(answers)
    assert first is not None and second is not None
    ok, prepared = pickle.loads(first)
    assert ok and prepared.mail.subject == "Drukarka"
    assert pickle.loads(second)[0] is False
    assert end == b""
