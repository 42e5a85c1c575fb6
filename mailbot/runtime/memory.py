"""Giving freed memory back to the system between batches (glibc only; a no-op elsewhere)."""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    """The C library's functions, as the process already has them loaded (dlopen(NULL)).

    Not ``ctypes.util.find_library("c")``: that imports subprocess, tempfile and shutil
    and runs ldconfig, about 0.7 MB more in the parse worker, which imports little else."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (``malloc_trim``): after a batch of big
    mails, glibc would otherwise keep them, and the process's size stays at its peak."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


# mallopt(3)'s M_ARENA_MAX.
_M_ARENA_MAX = -8


def limit_heaps(count: int) -> bool:
    """Let glibc's malloc keep at most ``count`` heaps (arenas) for all threads; whether it
    took the setting (False elsewhere than glibc).

    By default every thread that allocates may get a heap of its own (up to eight a
    core), and each keeps its freed pages and its fragments; malloc_trim gives back only
    whole free pages. Call it before the first thread starts."""
    libc = _libc()
    return libc is not None and hasattr(libc, "mallopt") and libc.mallopt(_M_ARENA_MAX, count) == 1
