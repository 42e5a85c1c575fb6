"""The SMTP sender's connections against a real aiosmtpd server: few, reused, replaced when dead.

The sink counts SMTP sessions (one EHLO each) and QUITs; ``hold_data`` makes
DATA wait until that many sessions are in it at once, which proves parallel
sending without timing anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mailbot.adapters.smtp import IDLE_CHECK_AFTER, Refusal, SmtpSender, Withdrawn
from mailbot.errors import DeliveryError
from mailbot.usecases.desk import Desk
from mailbot.usecases.outbox import FlushReport, flush_outbox
from tests.conftest import SmtpSink
from tests.factories import SUPPORT
from tests.usecases.test_outbox import outbox_row, queue, subjects, with_smtp


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_twenty_mails_go_over_two_connections_kept_from_one_flush_to_the_next(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    desk = with_smtp(desk, connections=2)
    sender = SmtpSender(desk.settings.smtp)
    for n in range(20):
        queue(desk, f"k{n}@acme.pl", subject=f"m{n}")

    async def two_flushes() -> tuple[FlushReport, FlushReport]:
        first = await flush_outbox(desk, sender)
        for n in range(20, 25):
            queue(desk, f"k{n}@acme.pl", subject=f"m{n}")
        second = await flush_outbox(desk, sender)
        await sender.close()
        return first, second

    first, second = asyncio.run(two_flushes())

    assert (first.sent, second.sent) == (20, 5)
    assert sorted(subjects(smtp_sink.messages)) == sorted(f"m{n}" for n in range(25))
    assert 1 <= smtp_sink.handler.sessions <= 2
    assert smtp_sink.handler.quits == smtp_sink.handler.sessions


def test_as_many_mails_as_connections_are_in_flight_at_once(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    desk = with_smtp(desk, connections=3)
    smtp_sink.handler.hold_data = 3  # no DATA is answered before three sessions are in it
    for n in range(3):
        queue(desk, f"k{n}@acme.pl", subject=f"m{n}")
    sender = SmtpSender(desk.settings.smtp)

    report = asyncio.run(flush_outbox(desk, sender))

    assert report.sent == 3
    assert smtp_sink.handler.most_in_data == 3
    assert smtp_sink.handler.sessions == 3


def test_close_says_quit_on_every_open_connection(desk: Desk, smtp_sink: SmtpSink) -> None:
    desk = with_smtp(desk, connections=2)
    smtp_sink.handler.hold_data = 2  # two connections open for sure
    queue(desk, "a@acme.pl", subject="m1")
    queue(desk, "b@acme.pl", subject="m2")
    sender = SmtpSender(desk.settings.smtp)

    async def flush_then_close() -> int:
        await flush_outbox(desk, sender)
        quits_before_close = smtp_sink.handler.quits
        await sender.close()
        return quits_before_close

    assert asyncio.run(flush_then_close()) == 0  # kept open between flushes
    assert smtp_sink.handler.sessions == 2
    assert smtp_sink.handler.quits == 2


def test_a_sender_nobody_closed_says_quit_when_its_event_loop_ends_and_works_in_the_next(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    sender = SmtpSender(desk.settings.smtp)
    queue(desk, "a@acme.pl", subject="m1")
    asyncio.run(flush_outbox(desk, sender))
    assert (smtp_sink.handler.sessions, smtp_sink.handler.quits) == (1, 1)

    queue(desk, "a@acme.pl", subject="m2")
    asyncio.run(flush_outbox(desk, sender))

    assert subjects(smtp_sink.messages) == ["m1", "m2"]
    assert (smtp_sink.handler.sessions, smtp_sink.handler.quits) == (2, 2)


def test_an_idle_connection_the_server_dropped_is_replaced_and_the_mail_goes_once(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    clock = Clock()
    sender = SmtpSender(desk.settings.smtp, clock=clock)
    first = queue(desk, "a@acme.pl", subject="m1")

    async def flush_drop_flush() -> FlushReport:
        await flush_outbox(desk, sender)
        smtp_sink.handler.drop_connections()  # the server's idle timeout, say
        clock.now += IDLE_CHECK_AFTER + 1
        queue(desk, "a@acme.pl", subject="m2")
        report = await flush_outbox(desk, sender)
        await sender.close()
        return report

    report = asyncio.run(flush_drop_flush())

    assert report == FlushReport(sent=1)
    assert subjects(smtp_sink.messages) == ["m1", "m2"]
    assert smtp_sink.handler.sessions == 2
    assert outbox_row(desk, first + 1).status == "sent"


def test_a_live_connection_is_reused_and_answers_a_noop_first_after_a_long_idle(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    clock = Clock()
    sender = SmtpSender(desk.settings.smtp, clock=clock)

    async def flush_after(idle: float, subject: str) -> None:
        clock.now += idle
        queue(desk, "a@acme.pl", subject=subject)
        await flush_outbox(desk, sender)

    async def three_flushes() -> list[int]:
        noops = []
        for idle, subject in ((0, "m1"), (IDLE_CHECK_AFTER, "m2"), (IDLE_CHECK_AFTER + 1, "m3")):
            await flush_after(idle, subject)
            noops.append(smtp_sink.handler.noops)
        await sender.close()
        return noops

    assert asyncio.run(three_flushes()) == [0, 0, 1]
    assert subjects(smtp_sink.messages) == ["m1", "m2", "m3"]
    assert smtp_sink.handler.sessions == 1


def test_with_ready_the_data_waits_after_the_envelope_and_goes_only_when_ready_says_so(
    desk: Desk, smtp_sink: SmtpSink
) -> None:
    """The outbox's overlap (send ``ready``): the server has the envelope when ``ready`` is
    awaited, and takes the mail only if it returns True."""
    rcpts: list[str] = []
    take_rcpt = smtp_sink.handler.handle_RCPT

    async def handle_rcpt(
        server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        rcpts.append(address)
        return await take_rcpt(server, session, envelope, address, rcpt_options)

    smtp_sink.handler.handle_RCPT = handle_rcpt  # type: ignore[method-assign]
    smtp_sink.handler.refuse["gone@acme.pl"] = "550 5.1.1 No such user"
    sender = SmtpSender(desk.settings.smtp)
    asked: list[tuple[list[str], int]] = []  # at each ready(): the RCPTs seen, the mails taken

    def ready(answer: bool | Exception) -> Callable[[], Awaitable[bool]]:
        async def ask() -> bool:
            asked.append((list(rcpts), len(smtp_sink.messages)))
            if isinstance(answer, Exception):
                raise answer
            return answer

        return ask

    async def send(to: str, subject: str, answer: bool | Exception) -> tuple[Refusal, ...]:
        raw = f"From: {SUPPORT}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nHello.\r\n".encode()
        return await sender.send(
            mail_from=SUPPORT, recipients=[to], raw=raw, name=subject, ready=ready(answer)
        )

    async def five_sends() -> None:
        assert await send("a@acme.pl", "m1", True) == ()
        with pytest.raises(Withdrawn):
            await send("b@acme.pl", "m2", False)
        with pytest.raises(LookupError, match="the commit failed"):  # as it is, no DeliveryError
            await send("c@acme.pl", "m3", LookupError("the commit failed"))
        with pytest.raises(DeliveryError) as refused:
            await send("gone@acme.pl", "m4", True)
        assert refused.value.permanent
        assert await send("d@acme.pl", "m5", True) == ()
        await sender.close()

    asyncio.run(five_sends())

    assert subjects(smtp_sink.messages) == ["m1", "m5"]
    # Each ready() came after its envelope; none for the refused one (the server took nothing).
    assert asked == [
        (["a@acme.pl"], 0),
        (["a@acme.pl", "b@acme.pl"], 1),
        (["a@acme.pl", "b@acme.pl", "c@acme.pl"], 1),
        (["a@acme.pl", "b@acme.pl", "c@acme.pl", "gone@acme.pl", "d@acme.pl"], 1),
    ]
