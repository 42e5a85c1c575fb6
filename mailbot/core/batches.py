"""Cutting a stream into batches bounded by count and by bytes (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def bounded_batches(
    items: Iterable[T], size_of: Callable[[T], int], *, max_count: int, max_bytes: int
) -> Iterator[list[T]]:
    """Consecutive runs of ``items``, each within both bounds; an item bigger than
    ``max_bytes`` makes a batch alone. Lazy: reads ``items`` only as batches are taken."""
    batch: list[T] = []
    total = 0
    for item in items:
        size = size_of(item)
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(item)
        total += size
    if batch:
        yield batch
