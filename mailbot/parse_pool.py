"""Parsing beside the main process: the intake's costliest step on a core of its own.

The main process fetches, stores and sends; ``ParsePool`` hands each batch of
raw mails to a worker process and gives back a future, so the next batch is
parsed while the current one is stored. A worker is a plain child process,
``python -m mailbot.parse_worker``, that imports only the pure core and talks
over its stdin and stdout: no fork server and no resource tracker beside it
(multiprocessing's way cost two more processes, ~17 MB), and it ends by
itself when the daemon is gone, however the daemon ended, because its stdin
then reads end of file. A worker that dies, or a batch that cannot cross the
process boundary, is parsed in the main process instead: the pool is a
speed-up, never a new way to fail.
"""

from __future__ import annotations

import itertools
import logging
import pickle
import queue
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import Future
from contextlib import suppress
from typing import IO, Any

from mailbot.core.limits import SizeLimits
from mailbot.core.prepare import Prepared, RawMail, prepare_all
from mailbot.parse_worker import pickled, read_frame, write_frame

log = logging.getLogger("mailbot.ingest")


class WorkerGone(RuntimeError):
    """The worker process ended (killed, out of memory) before it answered."""


class _Worker:
    """One child process and the two threads that feed it and read its answers, in order."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailbot.parse_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._waiting: deque[Future[list[Prepared]]] = deque()
        self._lock = threading.Lock()
        self._gone = False
        # Writing a batch blocks while the worker is busy with the one before: the
        # writer thread waits for it, not the intake. It pickles a mail at a time.
        self._outgoing: queue.SimpleQueue[tuple[list[RawMail], SizeLimits] | None] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._write, name="parse-feed", daemon=True).start()
        threading.Thread(target=self._read, name="parse-answers", daemon=True).start()

    def submit(self, raws: list[RawMail], limits: SizeLimits) -> Future[list[Prepared]]:
        future: Future[list[Prepared]] = Future()
        with self._lock:
            if self._gone:
                raise WorkerGone("the parse worker has ended")
            self._waiting.append(future)
        self._outgoing.put((raws, limits))
        return future

    def close(self, timeout: float = 5.0) -> None:
        self._outgoing.put(None)  # the writer closes stdin: the worker ends on end of file
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the parse worker %d did not end; killed", self.process.pid)
            self.process.kill()
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
        except OSError:  # the worker is gone; the reader fails the waiting futures
            pass
        except Exception:  # a mail that cannot be pickled: end the worker, parse in place
            log.exception("a batch could not be handed to the parse worker")
        finally:
            _close_quietly(stdin)

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while (answers := _read_batch(stdout)) is not None:
                with self._lock:
                    future = self._waiting.popleft()
                failed = [value for ok, value in answers if not ok]
                if failed:
                    future.set_exception(RuntimeError(f"the parse worker failed: {failed[0]}"))
                else:
                    future.set_result([value for _, value in answers])
                del answers
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            log.warning("the parse worker's answer could not be read (%r)", exc)
        finally:
            self._end()
            _close_quietly(stdout)
            self.process.wait()

    def _end(self) -> None:
        with self._lock:
            self._gone = True
            waiting, self._waiting = list(self._waiting), deque()
        for future in waiting:
            future.set_exception(WorkerGone(f"the parse worker ended ({self.process.poll()})"))


# How long the intake waits for a worker's answer before it parses the batch itself. A
# batch takes a fraction of a second; a worker that has not answered by then is stuck (a
# stopped process, a pipe that lost a frame), and a hung intake would log nothing.
ANSWER_TIMEOUT = 120.0


class ParsePool:
    """``workers`` parsing processes, given batches in turn; 0 parses in the calling thread."""

    def __init__(self, workers: int, *, answer_timeout: float = ANSWER_TIMEOUT) -> None:
        self.workers = workers
        self.answer_timeout = answer_timeout
        self._started: list[_Worker] = []
        self._turn = itertools.count()

    @property
    def pids(self) -> list[int]:
        """The running workers' process ids (the tests kill them)."""
        return [worker.process.pid for worker in self._started]

    def submit(self, raws: list[RawMail], limits: SizeLimits) -> Future[list[Prepared]]:
        if self.workers > 0:
            try:
                workers = self._workers()
                return workers[next(self._turn) % len(workers)].submit(raws, limits)
            except (WorkerGone, OSError, pickle.PicklingError) as exc:
                log.warning("parse workers unavailable (%r); parsing in the main process", exc)
                self._reset()
        done: Future[list[Prepared]] = Future()
        done.set_result(prepare_all(raws, limits))
        return done

    def result(
        self, future: Future[list[Prepared]], raws: list[RawMail], limits: SizeLimits
    ) -> list[Prepared]:
        """The batch's parsed mails; parsed here when the worker failed them or did not answer
        within ``answer_timeout`` seconds (the worker is then replaced)."""
        try:
            return future.result(timeout=self.answer_timeout)
        except Exception as exc:  # a dead or stuck worker, a pickling error: parse here, go on
            if isinstance(exc, TimeoutError):
                exc = WorkerGone(f"no answer within {self.answer_timeout:g} s; replaced")
            log.warning("a parse worker failed (%r); parsing the batch in the main process", exc)
            self._reset()
            return prepare_all(raws, limits)

    def warm_up(self) -> None:
        """Start the workers now (a Python start-up, a fraction of a second) rather than
        when the first mail waits for them."""
        if self.workers > 0:
            try:
                for worker in self._workers():
                    worker.submit([], SizeLimits(1, 1)).result()
            except Exception as exc:  # the first batch will try again, or parse in place
                log.warning("parse workers did not start (%r)", exc)
                self._reset()

    def close(self) -> None:
        self._reset()

    def _workers(self) -> list[_Worker]:
        if not self._started:
            self._started = [_Worker() for _ in range(self.workers)]
        return self._started

    def _reset(self) -> None:
        started, self._started = self._started, []
        for worker in started:
            worker.close()


INLINE = ParsePool(0)


def _read_batch(stream: IO[bytes]) -> list[tuple[bool, Any]] | None:
    """One batch's answers, up to its empty frame; None when the stream ended between batches."""
    answers: list[tuple[bool, Any]] = []
    while (frame := read_frame(stream)) != b"":
        if frame is None:
            if answers:
                raise EOFError("the parse worker's answer ended inside a batch")
            return None
        answers.append(pickle.loads(frame))
    return answers


def _close_quietly(stream: IO[bytes]) -> None:
    with suppress(OSError):
        stream.close()
