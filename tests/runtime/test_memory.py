"""Giving memory back to the system (mailbot.runtime.memory), on this machine's glibc.

In a child process: a malloc setting holds for the whole process, the test runner's too."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import sys
import mailbot.runtime.parse_worker
from mailbot.runtime.memory import limit_heaps, release_free_memory
print(limit_heaps(2))
release_free_memory()
big = [bytes(1000) for _ in range(100_000)]
del big
release_free_memory()
print(sorted(m for m in ("subprocess", "tempfile", "shutil", "charset_normalizer") if m in sys.modules))
"""


def test_the_worker_loads_neither_subprocess_nor_the_detector_and_glibc_takes_the_limit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    # The parse worker imports memory: it must not pull in what ctypes.util imports; and
    # charset-normalizer comes only with the first mail of undeclared 8-bit text.
    assert done.stdout.split("\n")[:2] == ["True", "[]"]
