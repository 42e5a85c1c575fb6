"""The long-running process: one APScheduler job polls the mailbox and flushes the outbox.

Blocking work (imapclient, the database) runs in a worker thread; the event
loop owns the scheduler and the signals. SIGTERM/SIGINT stop intake after the
mail in hand and the SMTP send in progress, let the running cycle finish (it
logs out of IMAP), then exit. SIGHUP reloads the configuration, templates and
contracts between cycles; a reload that fails keeps the running desk. What
systemd hears (READY, STATUS, WATCHDOG...) is ``mailbot.runtime.heartbeat``'s job.

New mail: where the server offers IDLE (and ``imap.idle`` is on), a watcher
(``mailbot.runtime.idle``) waits for it on a connection of its own and wakes the poll
at once; the poll every ``imap.poll_interval`` stays as the safety net. A
wake-up during a poll runs one more poll after it: none is lost.

An unreachable mailbox: after a failed poll the next ones are skipped until a
backoff delay has passed (``core.backoff``; starting at ``poll_interval``, so
the daemon never tries more often than it polls, and capped at
``imap.max_backoff``, so a server that is back is seen within that). The
outage is logged once when it begins and once when it ends. A wake-up from
IDLE (its connection is back, or mail came) polls at once regardless; the
reminder sweep and the outbox go on during the outage.

OAuth2: the daemon watches the desk's token source (``usecases.oauth2_refusals``):
a refusal no retry cures is logged once as an ERROR, told to staff once and shown
by ``mailbot status`` until a token is obtained again; the mailbox outage it causes
is then only a WARNING, and the backoff above goes on as for any outage.
"""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailbot.adapters.smtp import MailSender, make_sender
from mailbot.bootstrap import make_source
from mailbot.core.backoff import Outage, after_failure
from mailbot.errors import MailboxError, OAuth2Error
from mailbot.runtime.heartbeat import Heartbeat
from mailbot.runtime.idle import IdleWatcher
from mailbot.runtime.memory import release_free_memory
from mailbot.runtime.parse_pool import ParsePool
from mailbot.runtime.sdnotify import Notifier
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import IngestReport, ingest
from mailbot.usecases.oauth2_refusals import TokenRefusals
from mailbot.usecases.outbox import flush_outbox, others_send, take_back
from mailbot.usecases.reminders import sweep
from mailbot.usecases.web_submissions import expire_stale

log = logging.getLogger("mailbot.daemon")

SWEEP_INTERVAL = timedelta(seconds=20)
# While another instance holds the mailbox's intake lease (reading a burst, say), the next
# poll comes this soon instead of at the next tick: each one sends this instance's share
# of the acknowledgements the reader queues meanwhile (the sweep job's flush comes only
# every SWEEP_INTERVAL). A poll skipped for the lease costs a lock attempt, no IMAP.
LEASE_HELD_RETRY = timedelta(seconds=2)
# On stop, how long to wait for the IDLE watcher to send DONE and log out (it checks for a
# stop every second); a server that does not answer is not worth holding the stop for.
IDLE_STOP_WAIT = 5.0


class Daemon:
    """``reload`` builds a new, checked desk from the configuration (raising when it is bad).

    ``monotonic`` and ``random_fraction`` time and spread the reconnection backoff
    (tests pass their own).
    """

    def __init__(
        self,
        desk: Desk,
        *,
        sender: MailSender | None = None,
        heartbeat: Heartbeat | None = None,
        reload: Callable[[], Desk] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self.desk = desk
        _watch_tokens(desk)
        self.sender = sender or make_sender(desk.settings.smtp, tokens=desk.oauth2_tokens)
        self._own_sender = sender is None  # rebuilt from the new settings on reload
        self.heartbeat = heartbeat or Heartbeat(Notifier())
        self._reload = reload
        # A threading.Event: the ingest loop runs in a worker thread and checks it between mails.
        self.stopping = threading.Event()
        self._cycle_lock = asyncio.Lock()
        self._scheduler: AsyncIOScheduler | None = None
        self._reloads: set[asyncio.Task[bool]] = set()
        # Parsing on a second core; the workers start with the first batch. Waiting for a
        # worker is progress for the watchdog: each mail's wait ends by its parse deadline.
        ingest = desk.settings.ingest
        self.parser = ParsePool(
            ingest.parse_workers,
            deadline=ingest.parse_deadline.total_seconds(),
            on_wait=self.heartbeat.progress,
        )
        self._monotonic = monotonic
        self._random = random_fraction
        self._outage: Outage | None = None  # the mailbox has failed since...
        self._done = asyncio.Event()
        # Wake-ups (event loop only): _woken lets the next poll pass the backoff;
        # _poll_again makes a running poll job run one more cycle.
        self._woken = False
        self._polling = False
        self._poll_again = False
        self._watcher: IdleWatcher | None = None
        self.polls = 0  # poll cycles that reached the mailbox (or tried to), for the curious
        # An outbox flush started while the intake is still at work (see _ingest).
        self._early_flush: asyncio.Task[None] | None = None
        self._sweeping = False  # a scheduled sweep is waiting or running

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
            woken, self._woken = self._woken, False
            if self._outage is not None and not self._outage.due(self._monotonic()) and not woken:
                return await self._wait_out_backoff()
            report, error = await self._ingest()
            self.polls += 1
            if report is not None and report.skipped:
                self._poll_soon(LEASE_HELD_RETRY)
            if report is not None and report.seen:
                log.info("poll: %d mail(s): %s", report.seen, report.outcomes)
            swept = await self._sweep_and_flush()
            await asyncio.to_thread(self.heartbeat.poll_done, self.desk, error=error)
            return report is not None and swept

    async def _wait_out_backoff(self) -> bool:
        """A poll skipped while the mailbox is backed off: the sweep and the outbox still run.

        Waiting is not being stuck: the watchdog stays fed; the STATUS and
        ``mailbot status`` keep the last failure.
        """
        await self._sweep_and_flush()
        self.heartbeat.progress()
        await asyncio.to_thread(self.heartbeat.refresh, self.desk)
        return False

    async def _sweep_job(self) -> None:
        """The scheduler's sweep; nothing while the one before still waits or runs (behind a
        long poll, say: both take the cycle lock)."""
        if self._sweeping:
            return
        self._sweeping = True
        try:
            await self.sweep_cycle()
        finally:
            self._sweeping = False

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
            await self._early_flush_done()
            swept = await asyncio.to_thread(sweep, self.desk)
            if swept.sent or swept.skipped:
                log.info("sweep: %d alert(s) queued, %d skipped", swept.sent, swept.skipped)
            await asyncio.to_thread(expire_stale, self.desk)  # web forms never confirmed
            await flush_outbox(self.desk, self.sender, should_stop=self.stopping.is_set)
        except Exception:
            log.exception("reminder sweep or outbox flush failed")
            return False
        return True

    async def _ingest(self) -> tuple[IngestReport | None, str]:
        """The report, or None and what went wrong."""
        source = make_source(self.desk.settings, tokens=self.desk.oauth2_tokens)
        loop = asyncio.get_running_loop()

        def after_batch() -> bool:
            # The batch is committed: its acknowledgements may go while the next is read,
            # from here unless another instance sends them (usecases.outbox.others_send).
            if not others_send(self.desk):
                loop.call_soon_threadsafe(self._start_early_flush)
            release_free_memory()
            return self._next_mail()

        try:
            report = await asyncio.to_thread(
                ingest, self.desk, source, should_stop=after_batch, parser=self.parser
            )
        except MailboxError as exc:
            self._mailbox_failed(exc)
            return None, str(exc)
        except Exception as exc:
            log.exception("poll failed")
            return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        self._mailbox_back()
        return report, ""

    def _mailbox_failed(self, exc: MailboxError) -> None:
        """Back off; log when the outage begins, not at every further failure."""
        imap = self.desk.settings.imap
        now = self._monotonic()
        outage = after_failure(
            self._outage, now=now, base=imap.poll_interval, cap=imap.max_backoff,
            jitter=self._random(),
        )  # fmt: skip
        if self._outage is None:
            # A token refused for good is logged as the ERROR already (usecases.oauth2_refusals).
            refused = isinstance(exc.__cause__, OAuth2Error) and exc.__cause__.permanent
            log.log(
                logging.WARNING if refused else logging.ERROR,
                "mailbox: %s; retrying with backoff up to %s", exc, imap.max_backoff,
            )  # fmt: skip
        else:
            log.debug(
                "mailbox still failing (%d attempts): %s; next attempt in %.1f s",
                outage.failures, exc, outage.retry_at - now,
            )  # fmt: skip
        self._outage = outage

    def _mailbox_back(self) -> None:
        outage, self._outage = self._outage, None
        if outage is not None:
            lasted = timedelta(seconds=round(self._monotonic() - outage.since))
            log.info("mailbox back after %d failed attempt(s) over %s", outage.failures, lasted)

    def _start_early_flush(self) -> None:
        """Flush the outbox beside the intake (event loop thread), unless one runs already:
        in a burst, the first acknowledgements go out long before the inbox is empty."""
        if self._early_flush is None or self._early_flush.done():
            self._early_flush = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await flush_outbox(self.desk, self.sender, should_stop=self.stopping.is_set)
        except Exception:
            log.exception("outbox flush failed")

    async def _early_flush_done(self) -> None:
        if self._early_flush is not None:
            await asyncio.shield(self._early_flush)

    def _next_mail(self) -> bool:
        """Between two mails: a mail was handled (progress); stop here if asked to."""
        self.heartbeat.mail_handled()
        return self.stopping.is_set()

    async def run_once(self) -> bool:
        """One cycle, stopping after the mail in hand on SIGTERM/SIGINT like the daemon."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop_parsing)
        try:
            await self.take_back_claims()
            return await self.cycle()
        finally:
            self.parser.close()
            await self.sender.close()

    async def take_back_claims(self) -> None:
        """At start: the outbox claims of this instance's dead processes are queued again at
        once (``mailbot.outbox.take_back``), not after the stale limit. Never raises."""
        try:
            await asyncio.to_thread(take_back, self.desk)
        except Exception:
            log.exception("cannot take back the outbox claims of dead processes")

    async def run_forever(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._request_reload)
        await self.take_back_claims()
        await asyncio.to_thread(self.parser.warm_up)  # the first mail must not wait for it
        scheduler = self._scheduler = AsyncIOScheduler(timezone=UTC)
        # max_instances=2: a tick that comes while a long poll (a backlog of thousands of
        # mails) still runs returns at once (_poll_job); with 1, APScheduler would log a
        # warning at every tick of it, once a second with a short poll interval.
        scheduler.add_job(
            self._poll_job,
            "interval",
            seconds=self.desk.settings.imap.poll_interval.total_seconds(),
            next_run_time=datetime.now(UTC),
            max_instances=2,
            coalesce=True,
            id="poll",
        )
        # Reminders are due to the minute (issue 3): look every SWEEP_INTERVAL,
        # whatever the poll interval is. The sweep reads an index; it is cheap.
        scheduler.add_job(
            self._sweep_job,
            "interval",
            seconds=SWEEP_INTERVAL.total_seconds(),
            max_instances=2,
            coalesce=True,
            id="sweep",
        )
        self._add_watchdog_job(scheduler)
        scheduler.start()
        log.info("mailbot running; polling every %s", self.desk.settings.imap.poll_interval)
        self._start_watcher(loop)
        await self._done.wait()
        watcher = self._watcher
        if watcher is not None:
            watcher.stop()
        scheduler.shutdown(wait=False)
        # The scheduler cancelled its job; the shielded cycle finishes its mail and send.
        async with self._cycle_lock:
            pass
        await self._early_flush_done()
        if watcher is not None and not await asyncio.to_thread(watcher.join, IDLE_STOP_WAIT):
            log.warning("the IDLE connection did not close within %s s; leaving it", IDLE_STOP_WAIT)
        self.parser.close()
        await self.sender.close()
        log.info("mailbot stopped")

    async def _poll_job(self) -> None:
        """The scheduler's poll: a cycle, and one more for each wake-up that came during it.

        Nothing when a poll is running already: the mail that came meanwhile is its
        next cycle's (``wake``) or the next tick's.
        """
        if self._polling:
            return
        self._polling = True
        try:
            self._poll_again = True
            while self._poll_again and not self.stopping.is_set():
                self._poll_again = False
                await self.cycle()
        except asyncio.CancelledError:
            # The scheduler cancels its jobs when it shuts down; the shielded cycle
            # finishes its mail by itself. Not an error for the scheduler to log.
            if not self.stopping.is_set():
                raise
        finally:
            self._polling = False

    def _poll_soon(self, delay: timedelta) -> None:
        """The next poll in ``delay``, unless it comes sooner anyway (event loop thread)."""
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running or self.stopping.is_set():
            return
        soon = datetime.now(UTC) + delay
        job = scheduler.get_job("poll")
        if job is not None and job.next_run_time is not None and job.next_run_time > soon:
            scheduler.modify_job("poll", next_run_time=soon)

    def wake(self) -> None:
        """New mail may be in the inbox: poll now, past any backoff (event loop thread only)."""
        if self.stopping.is_set():
            return
        log.debug("woken: new mail may be in the inbox")
        self._woken = True
        if self._polling:
            self._poll_again = True
        elif self._scheduler is not None and self._scheduler.running:
            self._scheduler.modify_job("poll", next_run_time=datetime.now(UTC))

    @property
    def watcher(self) -> IdleWatcher | None:
        """The IDLE watcher, while there is one."""
        return self._watcher

    def _start_watcher(self, loop: asyncio.AbstractEventLoop) -> None:
        """The IDLE watcher for the current settings, if they ask for one."""
        imap = self.desk.settings.imap
        if imap.maildir_path is not None:
            return
        if not imap.idle:
            log.info("imap.idle is off; polling every %s", imap.poll_interval)
            return

        def wake_from_thread() -> None:
            with suppress(RuntimeError):  # the loop is closed: the daemon has stopped
                loop.call_soon_threadsafe(self.wake)

        self._watcher = IdleWatcher(
            imap,
            wake=wake_from_thread,
            random_fraction=self._random,
            tokens=self.desk.oauth2_tokens,
        )
        self._watcher.start()

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

    def stop(self) -> None:
        """What SIGTERM does: stop after the mail in hand (event loop thread only)."""
        log.info("stop requested; finishing the mail in hand")
        self.heartbeat.stopping()
        self._stop_parsing()
        self._done.set()

    def _stop_parsing(self) -> None:
        """Stop the intake after the mail in hand; a parse in a worker is not waited for
        (killed: its mails stay in the inbox), so the stop fits in TimeoutStopSec whatever
        a mail costs."""
        self.stopping.set()
        self.parser.abort()

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
                await self._early_flush_done()  # it sends with the old sender
                old_sender = self.sender
                self._swap(desk)
                if old_sender is not self.sender:
                    await old_sender.close()
                log.info("reloaded %s", desk.settings.source or "the configuration")
        await asyncio.to_thread(self.heartbeat.reloaded, self.desk, error=error)
        return not error

    def _swap(self, desk: Desk) -> None:
        _watch_tokens(desk)
        old, self.desk = self.desk, desk
        self.parser.deadline = desk.settings.ingest.parse_deadline.total_seconds()
        if self._own_sender:
            self.sender = make_sender(desk.settings.smtp, tokens=desk.oauth2_tokens)
        interval = desk.settings.imap.poll_interval
        if self._scheduler is not None and interval != old.settings.imap.poll_interval:
            self._scheduler.reschedule_job(
                "poll", trigger="interval", seconds=interval.total_seconds()
            )
        if old.engine is not desk.engine:
            old.engine.dispose()
        new, before = desk.settings, old.settings
        if self._scheduler is not None and (new.imap, new.oauth2) != (before.imap, before.oauth2):
            # Another server, account or folder, IDLE switched, or new OAuth2 settings (a new
            # refresh token: the watcher logs in with the new desk's tokens): watch as the new
            # settings say (the old thread logs out by itself).
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher = None
            self._start_watcher(asyncio.get_running_loop())


def _watch_tokens(desk: Desk) -> None:
    """Record the OAuth2 refusals and recoveries of ``desk``'s logins (if it has any)."""
    if desk.oauth2_tokens is not None:
        desk.oauth2_tokens.watch(TokenRefusals(desk))
