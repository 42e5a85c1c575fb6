"""The parse worker's process: ``python -m mailbot.parse_worker``, started by ``ParsePool``.

It reads batches from stdin and writes the parsed mails to stdout, one frame
each way per batch (an 8-byte length, then a pickle), until stdin ends: when
the daemon closes it, or when the daemon is gone, however it ended. It
imports only the pure core, so it costs a small Python process, not a second
daemon.
"""

from __future__ import annotations

import pickle
import signal
import struct
import sys
from contextlib import suppress
from typing import IO

from mailbot.core.prepare import prepare_all
from mailbot.memory import release_free_memory

_LENGTH = struct.Struct(">Q")


def write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame; None at a clean end of the stream."""
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
        try:
            raws, limits = pickle.loads(frame)
            answer: tuple[bool, object] = (True, prepare_all(raws, limits))
        except Exception as exc:  # prepare never raises; this is a broken frame
            answer = (False, repr(exc))
        write_frame(answers, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
        del answer
        release_free_memory()


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
