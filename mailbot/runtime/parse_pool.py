"""Parsing beside the main process: the intake's costliest step on a core of its own.

The main process fetches, stores and sends; ``ParsePool`` hands each batch of
raw mails to a worker process and gives back a job, so the next batch is
parsed while the current one is stored. A worker is a plain child process,
``python -m mailbot.runtime.parse_worker``, that imports only the pure core and talks
over its stdin and stdout: no fork server and no resource tracker beside it
(multiprocessing's way cost two more processes, ~17 MB), and it ends by
itself when the daemon is gone, however the daemon ended (see the worker).

Every mail has a deadline in the worker (``[ingest] parse_deadline``, 10 s),
counted from when the worker could begin it (its batch was handed over and
the mail before it answered). A mail past its deadline is never parsed in the
daemon: the worker is killed and replaced, the mail is read by the bounded
fallback reader (``prepare_unparsed``: sender, subject, first text, and a note
saying why), and the rest of its batch goes to the new worker at once. A
worker that dies on its own has its unanswered mails handed to a new one; a
mail that two workers died on is read by the fallback reader too. Only when no
worker can be started at all (or ``parse_workers = 0``) does the daemon parse
in place, where ``mailbot.core.parse_bounds`` bounds what the stdlib parser
is given. ``abort`` (the daemon's stop) kills the workers at once: a stop
never waits for a parse.
"""

from __future__ import annotations

import logging
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import IO, Any

from mailbot.core.limits import SizeLimits
from mailbot.core.prepare import Prepared, RawMail, prepare, prepare_all, prepare_unparsed
from mailbot.errors import ParseAborted
from mailbot.runtime.parse_worker import pickled, read_frame, write_frame

log = logging.getLogger("mailbot.ingest")

# A worker's time for one mail, unless the settings say otherwise ([ingest] parse_deadline).
PARSE_DEADLINE = 10.0
# How often a wait for a worker says it is alive (``on_wait``): the wait is bounded by the
# deadline, so it is progress, and the systemd watchdog must hear of it.
_WAIT_STEP = 1.0


class WorkerGone(RuntimeError):
    """The worker process ended (killed, out of memory) before it answered."""


@dataclass(eq=False)  # compared by identity: which batch a killed worker held
class _Batch:
    """Mails handed to one worker; ``answers`` fills in as they come, in order."""

    raws: list[RawMail]
    offset: int  # where ``raws`` begins in its job
    handed_at: float
    answers: list[tuple[bool, Any]] = field(default_factory=list)


class _Worker:
    """One child process and the two threads that feed it and read its answers, in order."""

    def __init__(self, spawn: Callable[[], subprocess.Popen[bytes]]) -> None:
        self.process = spawn()
        self.cond = threading.Condition()
        self.gone = False
        self.killed = False
        # The batch and position of the mail it was killed for, past its deadline.
        self.overdue: tuple[_Batch, int] | None = None
        self.last_answer = 0.0  # time.monotonic() of the last answer frame
        self._batches: deque[_Batch] = deque()
        # Writing a batch blocks while the worker is busy with the one before: the
        # writer thread waits for it, not the intake. It pickles a mail at a time.
        self._outgoing: queue.SimpleQueue[tuple[list[RawMail], SizeLimits] | None] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._write, name="parse-feed", daemon=True).start()
        threading.Thread(target=self._read, name="parse-answers", daemon=True).start()

    def hand(self, raws: list[RawMail], limits: SizeLimits, offset: int) -> _Batch:
        batch = _Batch(raws, offset, time.monotonic())
        with self.cond:
            if self.gone:
                raise WorkerGone("the parse worker has ended")
            self._batches.append(batch)
        self._outgoing.put((raws, limits))
        return batch

    def began(self, batch: _Batch) -> float:
        """When the worker could begin ``batch``'s next mail (call with ``cond`` held)."""
        return max(batch.handed_at, self.last_answer)

    def kill(self) -> None:
        """SIGKILL: a parse is never waited for. The reader then marks the worker gone."""
        self.killed = True  # its end is no news to log
        with suppress(OSError):
            self.process.kill()

    def close(self, timeout: float = 5.0) -> None:
        self._outgoing.put(None)  # the writer closes stdin: the worker ends on end of file
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the parse worker %d did not end; killed", self.process.pid)
            self.kill()
            self.process.wait()

    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (batch := self._outgoing.get()) is not None:
                raws, limits = batch
                write_frame(stdin, pickled((len(raws), limits)))
                for raw in raws:
                    write_frame(stdin, pickled(raw))
                del batch, raws
        except OSError:  # the worker is gone; the reader marks it
            pass
        except Exception:  # a mail that cannot be pickled: end the worker, the pool goes on
            log.exception("a batch could not be handed to the parse worker")
            self.kill()
        finally:
            _close_quietly(stdin)

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while (frame := read_frame(stdout)) is not None:
                answer = pickle.loads(frame) if frame else None
                with self.cond:
                    self.last_answer = time.monotonic()
                    if answer is None:  # a batch's end
                        self._batches.popleft()
                    else:
                        self._batches[0].answers.append(answer)
                    self.cond.notify_all()
                del frame, answer
        except (OSError, EOFError, pickle.UnpicklingError, IndexError) as exc:
            if not self.killed:
                log.warning("the parse worker's answer could not be read (%r)", exc)
        finally:
            with self.cond:
                self.gone = True
                self.cond.notify_all()
            _close_quietly(stdout)
            self.process.wait()


@dataclass
class ParseJob:
    """A batch submitted to the pool; ``ParsePool.result`` gives its parsed mails."""

    raws: list[RawMail]
    limits: SizeLimits
    worker: _Worker | None = None
    batch: _Batch | None = None


class ParsePool:
    """``workers`` parsing processes, given batches in turn; 0 parses in the calling thread.

    ``deadline`` is a worker's time for one mail, in seconds; ``on_wait`` is called at
    least every second while ``result`` waits for a worker (the daemon feeds its
    watchdog with it: the wait is bounded by the deadline).
    """

    def __init__(
        self,
        workers: int,
        *,
        deadline: float = PARSE_DEADLINE,
        on_wait: Callable[[], None] = lambda: None,
    ) -> None:
        self.workers = workers
        self.deadline = deadline
        self._on_wait = on_wait
        self._started: list[_Worker] = []
        self._turn = 0
        self._aborted = threading.Event()
        # prctl(PR_SET_PDEATHSIG) in the worker fires when the *thread* that started it
        # ends: workers are started from this one thread, which lives as long as the pool.
        self._spawner: ThreadPoolExecutor | None = None

    @property
    def pids(self) -> list[int]:
        """The running workers' process ids (the tests kill them)."""
        return [worker.process.pid for worker in self._started]

    def submit(self, raws: list[RawMail], limits: SizeLimits) -> ParseJob:
        """Hand ``raws`` to the next worker now (or, without one, to ``result`` to parse)."""
        job = ParseJob(raws, limits)
        if raws:
            self._hand(job, 0)
        return job

    def result(self, job: ParseJob) -> list[Prepared]:
        """The job's parsed mails, in order; raises ``ParseAborted`` after ``abort``."""
        done: list[Prepared] = []
        deaths: dict[int, int] = {}  # mail index -> workers that died on it by themselves
        while len(done) < len(job.raws):
            if self._aborted.is_set():
                raise ParseAborted("parsing was aborted")
            if job.worker is None and not self._hand(job, len(done)):
                if self.workers > 0:  # configured to parse in place (0 workers): no news
                    log.warning(
                        "no parse worker; parsing %d mail(s) in place", len(job.raws) - len(done)
                    )
                done.extend(prepare_all(job.raws[len(done) :], job.limits))
                break
            answer = self._next_answer(job, len(done))
            if answer is not None:
                done.append(self._checked(answer, job.raws[len(done)], job.limits))
                continue
            self._worker_failed(job, len(done), deaths, done)
        return done

    def abort(self) -> None:
        """Kill every worker now, whatever it parses; ``result`` raises ``ParseAborted``.
        Safe from any thread (the daemon's signal handler)."""
        self._aborted.set()
        for worker in list(self._started):
            worker.kill()

    def warm_up(self) -> None:
        """Start the workers now (a Python start-up, a fraction of a second) rather than
        when the first mail waits for them."""
        if self.workers > 0:
            try:
                self._workers()
            except Exception as exc:  # the first batch will try again, or parse in place
                log.warning("parse workers did not start (%r)", exc)
                self._reset()

    def close(self) -> None:
        self._reset()
        if self._spawner is not None:
            self._spawner.shutdown(wait=False)
            self._spawner = None

    def _hand(self, job: ParseJob, start: int) -> bool:
        """Give ``job``'s mails from ``start`` on to the next worker; False without one."""
        job.worker = job.batch = None
        if self.workers <= 0 or self._aborted.is_set():
            return False
        try:
            workers = self._workers()
            worker = workers[self._turn % len(workers)]
            self._turn += 1
            job.batch = worker.hand(job.raws[start:], job.limits, start)
            job.worker = worker
        except (WorkerGone, OSError) as exc:
            log.warning("parse workers unavailable (%r)", exc)
            self._reset()
            return False
        return True

    def _next_answer(self, job: ParseJob, index: int) -> tuple[bool, Any] | None:
        """Mail ``index``'s answer; None when its worker is gone or past the deadline (then
        killed)."""
        worker, batch = job.worker, job.batch
        assert worker is not None and batch is not None
        position = index - batch.offset
        while True:
            with worker.cond:
                if len(batch.answers) > position:
                    return batch.answers[position]
                if worker.gone or self._aborted.is_set():
                    return None
                left = worker.began(batch) + self.deadline - time.monotonic()
                if left <= 0:
                    break
                worker.cond.wait(min(left, _WAIT_STEP))
            self._on_wait()
        log.warning(
            "parse deadline of %g s exceeded by mail %d of a batch; worker %d killed and replaced",
            self.deadline, index + 1, worker.process.pid,
        )  # fmt: skip
        worker.overdue = (batch, position)
        worker.kill()
        return None

    def _worker_failed(
        self, job: ParseJob, index: int, deaths: dict[int, int], done: list[Prepared]
    ) -> None:
        """Mail ``index`` got no answer: the fallback reader reads it when it ran out of time
        or when a second worker died on it; the rest goes to a new worker (``result``)."""
        worker, batch = job.worker, job.batch
        assert worker is not None and batch is not None
        job.worker = job.batch = None
        if worker in self._started:
            self._started.remove(worker)  # the next hand-over starts a new one in its place
        if self._aborted.is_set():
            return  # result() raises
        raw = job.raws[index]
        if worker.overdue is not None:  # killed past a deadline: this mail's, or an earlier one's
            if worker.overdue == (batch, index - batch.offset):
                done.append(prepare_unparsed(raw, job.limits, self._deadline_reason()))
            return
        deaths[index] = deaths.get(index, 0) + 1
        log.warning("the parse worker %d ended (%s)", worker.process.pid, worker.process.poll())
        if deaths[index] >= 2:
            reason = "the parse worker ended twice while reading this mail"
            done.append(prepare_unparsed(raw, job.limits, reason))

    def _deadline_reason(self) -> str:
        return f"parse deadline of {self.deadline:g} s exceeded"

    def _checked(self, answer: tuple[bool, Any], raw: RawMail, limits: SizeLimits) -> Prepared:
        ok, value = answer
        if ok and isinstance(value, Prepared):
            return value
        # A frame the worker could not read (it never fails a mail it could read): the
        # full parse in place is bounded by mailbot.core.parse_bounds.
        log.warning("the parse worker failed a mail (%s); parsed in place", value)
        return prepare(raw, limits)

    def _workers(self) -> list[_Worker]:
        """The running workers, started up to ``workers`` (one killed is replaced here)."""
        if self._spawner is None:
            self._spawner = ThreadPoolExecutor(1, thread_name_prefix="parse-spawner")
        spawner = self._spawner
        while len(self._started) < self.workers:
            self._started.append(_Worker(lambda: spawner.submit(_start_process).result()))
        return self._started

    def _reset(self) -> None:
        started, self._started = self._started, []
        for worker in started:
            if self._aborted.is_set():
                worker.kill()
            worker.close()


def _start_process() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailbot.runtime.parse_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def _close_quietly(stream: IO[bytes]) -> None:
    with suppress(OSError):
        stream.close()
