"""The outbox's shared commits run in a thread of the flush's own: it ends with the flush,
also when the flush fails, so no thread is left to keep the process from exiting."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from mailbot.adapters.db import OutboxRow
from mailbot.adapters.smtp import make_sender
from mailbot.usecases.desk import Desk
from mailbot.usecases.outbox import flush_outbox
from tests.conftest import SmtpSink
from tests.factories import NOW, SUPPORT
from tests.usecases.test_outbox import flush


def queue(desk: Desk, recipient: str, subject: str) -> None:
    raw = f"From: {SUPPORT}\r\nTo: {recipient}\r\nSubject: {subject}\r\n\r\nHello.\r\n".encode()
    with Session(desk.engine) as session:
        session.add(
            OutboxRow(
                kind="relay", message_id=f"<{subject}@desk.example.pl>", mail_from=SUPPORT,
                recipients=recipient, raw=raw, created_at=NOW, next_attempt_at=NOW,
            )
        )  # fmt: skip
        session.commit()


def commit_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "mailbot-outbox-commits"]


def test_a_flush_ends_its_commit_thread(desk: Desk, smtp_sink: SmtpSink) -> None:
    for n in range(5):
        queue(desk, f"k{n}@acme.pl", f"m{n}")

    assert flush(desk).sent == 5

    assert len(smtp_sink.messages) == 5
    assert commit_threads() == []


def test_a_cancelled_flush_ends_its_commit_thread(desk: Desk, smtp_sink: SmtpSink) -> None:
    """Cancelled when the server gets the first mail's data (its claim committed, the
    thread running): the flush commits what waits and ends the thread before it returns."""
    for n in range(5):
        queue(desk, f"k{n}@acme.pl", f"m{n}")
    cancel: list[Callable[[], object]] = []
    take_data = smtp_sink.handler.handle_DATA

    async def handle_data(server: object, session: object, envelope: Any) -> str:
        alive.extend(commit_threads())
        cancel[0]()
        return await take_data(server, session, envelope)

    alive: list[threading.Thread] = []
    smtp_sink.handler.handle_DATA = handle_data  # type: ignore[method-assign]

    async def cancelled_flush() -> None:
        flushing = asyncio.ensure_future(flush_outbox(desk, make_sender(desk.settings.smtp)))
        loop = asyncio.get_running_loop()
        cancel.append(lambda: loop.call_soon_threadsafe(flushing.cancel))
        await asyncio.gather(flushing, return_exceptions=True)
        assert flushing.cancelled()

    asyncio.run(cancelled_flush())

    assert alive  # it ran while the server had the mail
    assert commit_threads() == []
