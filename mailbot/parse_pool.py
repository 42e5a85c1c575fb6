"""Parsing beside the main process: the intake's costliest step on a core of its own.

The main process fetches, stores and sends; ``ParsePool`` hands each batch of
raw mails to a worker process and gives back a future, so the next batch is
parsed while the current one is stored. Workers start from a fork server (no
copy of the daemon's threads or connections) and import only the pure core.
A worker that dies or a batch that cannot cross the process boundary is parsed
in the main process instead: the pool is a speed-up, never a new way to fail.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from mailbot.core.limits import SizeLimits
from mailbot.core.prepare import Prepared, RawMail, prepare_all

log = logging.getLogger("mailbot.ingest")


class ParsePool:
    """``workers`` parsing processes; 0 parses in the calling thread."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, raws: list[RawMail], limits: SizeLimits) -> Future[list[Prepared]]:
        if self.workers > 0:
            try:
                return self._pool().submit(prepare_all, raws, limits)
            except (BrokenProcessPool, RuntimeError, OSError) as exc:
                log.warning("parse workers unavailable (%s); parsing in the main process", exc)
                self._reset()
        done: Future[list[Prepared]] = Future()
        done.set_result(prepare_all(raws, limits))
        return done

    def result(
        self, future: Future[list[Prepared]], raws: list[RawMail], limits: SizeLimits
    ) -> list[Prepared]:
        """The batch's parsed mails; parsed here when the worker failed them."""
        try:
            return future.result()
        except Exception as exc:  # a dead worker, a pickling error: parse here, go on
            log.warning("a parse worker failed (%r); parsing the batch in the main process", exc)
            self._reset()
            return prepare_all(raws, limits)

    def warm_up(self) -> None:
        """Start the workers now (a fork server and a process: a fraction of a second) rather
        than when the first mail waits for them."""
        if self.workers > 0:
            try:
                self._pool().submit(prepare_all, [], SizeLimits(1, 1)).result()
            except Exception as exc:  # the first batch will try again, or parse in place
                log.warning("parse workers did not start (%r)", exc)
                self._reset()

    def close(self) -> None:
        self._reset()

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            # The fork server preloads the parser alone, not the daemon's main module
            # (its default): each worker then holds the pure core (~20 MB), not the whole
            # daemon with SQLAlchemy and the scheduler (~65 MB).
            context.set_forkserver_preload(["mailbot.core.prepare"])
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=exit_with,
                initargs=(os.getpid(),),
            )
        return self._executor

    def _reset(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


INLINE = ParsePool(0)

# How often a worker looks whether the daemon that started it is still there.
_PARENT_CHECK = 1.0


def exit_with(daemon_pid: int) -> None:
    """A worker's initializer: exit when the daemon is gone.

    A daemon killed with SIGKILL tells nobody; its worker would wait for work
    forever (its task queue holds both ends of its pipe), and keep the fork
    server and the resource tracker alive with it.
    """

    def watch() -> None:
        while True:
            time.sleep(_PARENT_CHECK)
            try:
                os.kill(daemon_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, under another user: not ours to judge
                pass

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
