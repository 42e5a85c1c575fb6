"""The parse worker's process: ``python -m mailbot.parse_worker``, started by ``ParsePool``.

It reads batches from stdin and writes the parsed mails to stdout until stdin
ends: when the daemon closes it, or when the daemon is gone, however it ended.
A frame is an 8-byte length, then a pickle. A batch comes as one frame of
``(count, limits)`` and a frame per mail; the answer is a frame per mail,
``(True, Prepared)`` or ``(False, what went wrong)``, then an empty frame. A
mail at a time each way, so that neither process holds a whole batch twice
(its mails, and a pickle of them all). It imports only the pure core, so it
costs a small Python process, not a second daemon.
"""

from __future__ import annotations

import pickle
import signal
import struct
import sys
from contextlib import suppress
from typing import IO

from mailbot.core.limits import SizeLimits
from mailbot.core.prepare import prepare
from mailbot.memory import release_free_memory

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
        answer: tuple[bool, object] = (True, prepare(pickle.loads(frame), limits))
    except Exception as exc:  # prepare never raises; this is a broken frame
        answer = (False, repr(exc))
    return pickled(answer)


def main() -> None:
    # The daemon decides when its worker ends (by closing stdin): Ctrl-C in a terminal
    # and systemd's SIGTERM reach the whole process group, and the batch being parsed
    # should still be answered while the daemon finishes it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout is the channel: a stray print must not corrupt it
    with suppress(BrokenPipeError):  # the daemon went while a batch was parsed: nobody to answer
        serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
