"""Giving freed memory back to the system between batches (glibc only; a no-op elsewhere)."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache
from typing import Any


@cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (``malloc_trim``): after a batch of big
    mails, glibc would otherwise keep them, and the process's size stays at its peak."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


# mallopt(3)'s M_ARENA_MAX.
_M_ARENA_MAX = -8


def limit_heaps(count: int) -> None:
    """Let glibc's malloc keep at most ``count`` heaps (arenas) for all threads.

    By default every thread that allocates may get a heap of its own (up to eight a
    core), and each keeps its freed pages and its fragments; malloc_trim gives back only
    whole free pages. Call it before the first thread starts."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_ARENA_MAX, count)
