"""The parse worker's process: ``python -m mailbot.runtime.parse_worker``, started by ``ParsePool``.

It reads batches from stdin and writes the parsed mails to stdout until stdin
ends: when the daemon closes it, or when the daemon is gone, however it ended.
A frame is an 8-byte length, then a pickle. A batch comes as one frame of
``(count, limits)`` and a frame per mail; the answer is a frame per mail,
``(True, Prepared)`` or ``(False, what went wrong)``, then an empty frame. A
mail at a time each way, so that neither process holds a whole batch twice
(its mails, and a pickle of them all). It imports only the pure core, so it
costs a small Python process, not a second daemon.

It never outlives the daemon by more than a fraction of a second, even in the
middle of a parse that would take minutes (``_end_with_the_daemon``). The daemon
kills it when a mail runs past its deadline or when the daemon stops.

Test seam: with ``MAILBOT_TEST_PARSE_HANG`` set to a text, a mail that contains it
is "parsed" forever, holding the interpreter's lock as a runaway regular
expression would (tests/runtime/test_parse_deadline.py). Only this process reads it.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import re
import signal
import struct
import sys
import threading
from contextlib import suppress
from typing import IO

from mailbot.core.limits import SizeLimits
from mailbot.core.prepare import prepare
from mailbot.runtime.memory import release_free_memory

_LENGTH = struct.Struct(">Q")


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def pickled(value: object) -> bytes:
    """A frame's payload for ``value``."""
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame (b"" for an empty one); None at a clean end of the stream."""
    header = stream.read(_LENGTH.size)
    if not header:
        return None
    if len(header) < _LENGTH.size:
        raise EOFError("the stream ended inside a frame's length")
    (length,) = _LENGTH.unpack(header)
    payload = stream.read(length)
    if len(payload) < length:
        raise EOFError(f"the stream ended after {len(payload)} of {length} bytes")
    return payload


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    while (frame := read_frame(requests)) is not None:
        # Only the daemon writes these: a broken batch frame ends the worker (and the daemon
        # parses in place), since the mail frames after it could not be told apart.
        count, limits = pickle.loads(frame)
        for _ in range(count):
            mail = read_frame(requests)
            if mail is None:
                raise EOFError("the stream ended inside a batch")
            write_frame(answers, _answer(mail, limits))
        write_frame(answers, b"")
        release_free_memory()


def _answer(frame: bytes, limits: SizeLimits) -> bytes:
    try:
        raw = pickle.loads(frame)
        _hang_if_asked(raw.raw)
        answer: tuple[bool, object] = (True, prepare(raw, limits))
    except Exception as exc:  # prepare never raises; this is a broken frame
        answer = (False, repr(exc))
    return pickled(answer)


_HANG_MARKER = os.environ.get("MAILBOT_TEST_PARSE_HANG", "").encode()


def _hang_if_asked(raw: bytes) -> None:
    """The test seam (module docstring): a backtracking match that never ends in test time
    and, like a real one, never lets another thread of this process run."""
    if _HANG_MARKER and _HANG_MARKER in raw:
        while True:
            re.match(r"(?:a+)+b", "a" * 64)


# prctl(2): the signal the kernel sends this process when its parent ends.
_PR_SET_PDEATHSIG = 1
_PARENT_CHECK = 0.2  # seconds


def _end_with_the_daemon() -> None:
    """End this process as soon as the daemon ends, whatever this process is doing.

    Two ways, because each has a gap. PR_SET_PDEATHSIG (Linux): the kernel sends
    SIGKILL when the parent ends, even while a parse holds the interpreter's lock in
    C code (a runaway regular expression), where no thread of ours could run; but it
    fires when the parent *thread* that started us ends (the pool starts workers from a
    thread that lives as long as it), a seccomp filter may refuse prctl, and it is
    Linux only. So also a thread that checks every 0.2 s whether the parent is still
    ours (a dead parent's children are given to init or a subreaper). Reading stdin
    for its end would not do: the parse loop reads it, between mails only.
    """
    parent = os.getppid()
    if sys.platform == "linux":
        with suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the daemon ended before prctl took hold
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(_PARENT_CHECK)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    # The daemon decides when its worker ends (by closing stdin, or killing it): Ctrl-C
    # in a terminal and systemd's SIGTERM reach the whole process group, and the daemon
    # kills its worker itself when it stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _end_with_the_daemon()
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout is the channel: a stray print must not corrupt it
    with suppress(BrokenPipeError):  # the daemon went while a batch was parsed: nobody to answer
        serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
