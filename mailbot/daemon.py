"""The long-running process: one APScheduler job polls the mailbox and flushes the outbox.

Blocking work (imapclient, the database) runs in a worker thread; the event
loop owns the scheduler and the signals. SIGTERM/SIGINT stop intake after the
mail in hand and the SMTP send in progress, let the running cycle finish (it
logs out of IMAP), then exit. SIGHUP reloads the configuration, templates and
contracts between cycles; a reload that fails keeps the running desk. What
systemd hears (READY, STATUS, WATCHDOG...) is ``mailbot.heartbeat``'s job.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailbot.adapters.smtp import MailSender, make_sender
from mailbot.alerts import sweep
from mailbot.errors import MailboxError
from mailbot.heartbeat import Heartbeat
from mailbot.outbox import flush_outbox
from mailbot.parse_pool import ParsePool
from mailbot.sdnotify import Notifier
from mailbot.service import Desk, IngestReport, ingest
from mailbot.wiring import make_source

log = logging.getLogger("mailbot.daemon")

SWEEP_INTERVAL = timedelta(seconds=20)


class Daemon:
    """``reload`` builds a new, checked desk from the configuration (raising when it is bad)."""

    def __init__(
        self,
        desk: Desk,
        *,
        sender: MailSender | None = None,
        heartbeat: Heartbeat | None = None,
        reload: Callable[[], Desk] | None = None,
    ) -> None:
        self.desk = desk
        self.sender = sender or make_sender(desk.settings.smtp)
        self._own_sender = sender is None  # rebuilt from the new settings on reload
        self.heartbeat = heartbeat or Heartbeat(Notifier())
        self._reload = reload
        # A threading.Event: the ingest loop runs in a worker thread and checks it between mails.
        self.stopping = threading.Event()
        self._cycle_lock = asyncio.Lock()
        self._scheduler: AsyncIOScheduler | None = None
        self._reloads: set[asyncio.Task[bool]] = set()
        # Parsing on a second core; the workers start with the first batch.
        self.parser = ParsePool(desk.settings.ingest.parse_workers)

    async def cycle(self) -> bool:
        """One poll of the mailbox, one reminder sweep, one flush of the outbox; never raises.

        Returns False when any of them failed (logged), so ``run --once`` can exit 1.
        Shielded: the scheduler cancels its jobs when it shuts down, but a cycle in
        progress must finish its mail and its SMTP send; one that had not begun by the
        stop request does nothing.
        """
        return await asyncio.shield(self._poll_cycle())

    async def _poll_cycle(self) -> bool:
        async with self._cycle_lock:
            if self.stopping.is_set():
                return True
            report, error = await self._ingest()
            if report is not None and report.seen:
                log.info("poll: %d mail(s): %s", report.seen, report.outcomes)
            swept = await self._sweep_and_flush()
            await asyncio.to_thread(self.heartbeat.poll_done, self.desk, error=error)
            return report is not None and swept

    async def sweep_cycle(self) -> bool:
        """The reminder sweep and an outbox flush, between two polls (shielded like ``cycle``)."""
        return await asyncio.shield(self._sweep_cycle())

    async def _sweep_cycle(self) -> bool:
        async with self._cycle_lock:
            if self.stopping.is_set():
                return True
            swept = await self._sweep_and_flush()
            await asyncio.to_thread(self.heartbeat.refresh, self.desk)
            return swept

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

    async def _ingest(self) -> tuple[IngestReport | None, str]:
        """The report, or None and what went wrong."""
        source = make_source(self.desk.settings)
        try:
            report = await asyncio.to_thread(
                ingest, self.desk, source, should_stop=self._next_mail, parser=self.parser
            )
        except MailboxError as exc:
            log.error("mailbox: %s", exc)
            return None, str(exc)
        except Exception as exc:
            log.exception("poll failed")
            return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return report, ""

    def _next_mail(self) -> bool:
        """Between two mails: a mail was handled (progress); stop here if asked to."""
        self.heartbeat.mail_handled()
        return self.stopping.is_set()

    async def run_once(self) -> bool:
        """One cycle, stopping after the mail in hand on SIGTERM/SIGINT like the daemon."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            return await self.cycle()
        finally:
            self.parser.close()

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_stop, done)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        scheduler = self._scheduler = AsyncIOScheduler(timezone=UTC)
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
        self._add_watchdog_job(scheduler)
        scheduler.start()
        log.info("mailbot running; polling every %s", self.desk.settings.imap.poll_interval)
        await done.wait()
        scheduler.shutdown(wait=False)
        # The scheduler cancelled its job; the shielded cycle finishes its mail and send.
        async with self._cycle_lock:
            pass
        self.parser.close()
        log.info("mailbot stopped")

    def _add_watchdog_job(self, scheduler: AsyncIOScheduler) -> None:
        interval = self.heartbeat.notifier.watchdog
        if interval is None:
            return
        if interval < 2 * self.desk.settings.imap.poll_interval:
            log.warning(
                "WatchdogSec (%s) should be at least twice imap.poll_interval (%s)",
                interval,
                self.desk.settings.imap.poll_interval,
            )
        # sd_watchdog_enabled(3): ping at half the interval.
        scheduler.add_job(
            self.heartbeat.tick,
            "interval",
            seconds=interval.total_seconds() / 2,
            max_instances=1,
            coalesce=True,
            id="watchdog",
        )

    def _request_stop(self, done: asyncio.Event) -> None:
        log.info("stop requested; finishing the mail in hand")
        self.heartbeat.stopping()
        self.stopping.set()
        done.set()

    def _request_reload(self) -> None:
        if self.stopping.is_set():
            return
        log.info("reload requested (SIGHUP)")
        task = asyncio.get_running_loop().create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def reload(self) -> bool:
        """Build a new desk between cycles and swap it in; on failure keep the old one."""
        if self._reload is None:
            return False
        self.heartbeat.reloading()
        error = ""
        async with self._cycle_lock:
            if self.stopping.is_set():
                return False
            try:
                desk = await asyncio.to_thread(self._reload)
            except Exception as exc:  # whatever is wrong, the running desk goes on
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.error("reload refused, the running configuration stays in force: %s", error)
            else:
                self._swap(desk)
                log.info("reloaded %s", desk.settings.source or "the configuration")
        await asyncio.to_thread(self.heartbeat.reloaded, self.desk, error=error)
        return not error

    def _swap(self, desk: Desk) -> None:
        old, self.desk = self.desk, desk
        if self._own_sender:
            self.sender = make_sender(desk.settings.smtp)
        interval = desk.settings.imap.poll_interval
        if self._scheduler is not None and interval != old.settings.imap.poll_interval:
            self._scheduler.reschedule_job(
                "poll", trigger="interval", seconds=interval.total_seconds()
            )
        if old.engine is not desk.engine:
            old.engine.dispose()
