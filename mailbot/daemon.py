"""The long-running process: one APScheduler job polls the mailbox and flushes the outbox.

Blocking work (imapclient, the database) runs in a worker thread; the event
loop owns the scheduler and the signals. SIGTERM/SIGINT stop intake after the
mail in hand, let the running cycle finish, then exit.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailbot.adapters.smtp import MailSender, make_sender
from mailbot.alerts import sweep
from mailbot.errors import MailboxError
from mailbot.outbox import flush_outbox
from mailbot.service import Desk, IngestReport, ingest
from mailbot.wiring import make_source

log = logging.getLogger("mailbot.daemon")

SWEEP_INTERVAL = timedelta(seconds=20)


class Daemon:
    def __init__(self, desk: Desk, *, sender: MailSender | None = None) -> None:
        self.desk = desk
        self.sender = sender or make_sender(desk.settings.smtp)
        # A threading.Event: the ingest loop runs in a worker thread and checks it between mails.
        self.stopping = threading.Event()
        self._cycle_lock = asyncio.Lock()

    async def cycle(self) -> bool:
        """One poll of the mailbox, one reminder sweep, one flush of the outbox; never raises.

        Returns False when any of them failed (logged), so ``run --once`` can exit 1.
        """
        async with self._cycle_lock:
            report = await self._ingest()
            if report is not None and report.seen:
                log.info("poll: %d mail(s): %s", report.seen, report.outcomes)
            swept = await self._sweep_and_flush()
            return report is not None and swept

    async def sweep_cycle(self) -> bool:
        """The reminder sweep and an outbox flush, between two polls."""
        async with self._cycle_lock:
            return await self._sweep_and_flush()

    async def _sweep_and_flush(self) -> bool:
        try:
            swept = await asyncio.to_thread(sweep, self.desk)
            if swept.sent or swept.skipped:
                log.info("sweep: %d alert(s) queued, %d skipped", swept.sent, swept.skipped)
            await flush_outbox(self.desk, self.sender, should_stop=self.stopping.is_set)
        except Exception:
            log.exception("reminder sweep or outbox flush failed")
            return False
        return True

    async def _ingest(self) -> IngestReport | None:
        source = make_source(self.desk.settings)
        try:
            return await asyncio.to_thread(
                ingest, self.desk, source, should_stop=self.stopping.is_set
            )
        except MailboxError as exc:
            log.error("mailbox: %s", exc)
        except Exception:
            log.exception("poll failed")
        return None

    async def run_once(self) -> bool:
        """One cycle, stopping after the mail in hand on SIGTERM/SIGINT like the daemon."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        return await self.cycle()

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, done)
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.add_job(
            self.cycle,
            "interval",
            seconds=self.desk.settings.imap.poll_interval.total_seconds(),
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            id="poll",
        )
        # Reminders are due to the minute (issue 3): look every SWEEP_INTERVAL,
        # whatever the poll interval is. The sweep reads an index; it is cheap.
        scheduler.add_job(
            self.sweep_cycle,
            "interval",
            seconds=SWEEP_INTERVAL.total_seconds(),
            max_instances=1,
            coalesce=True,
            id="sweep",
        )
        scheduler.start()
        log.info("mailbot running; polling every %s", self.desk.settings.imap.poll_interval)
        await done.wait()
        scheduler.shutdown(wait=False)
        async with self._cycle_lock:  # let a running cycle finish its mail
            pass
        log.info("mailbot stopped")

    def _request_stop(self, done: asyncio.Event) -> None:
        log.info("stop requested; finishing the mail in hand")
        self.stopping.set()
        done.set()
