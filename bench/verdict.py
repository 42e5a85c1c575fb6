"""How the report judges a target that compares two configurations ("20,000 contracts:
at least 90 % of the rate with 10", "PostgreSQL at least 60 % of SQLite"): from the
medians of repeated runs of each, not from one run of each. One short run's figure
varied by a fifth between invocations on the 2-core benchmark machine, enough to flip
such a verdict; the median of three interleaved runs ignores one disturbed run.

Pure: figures in, a share and a verdict out.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

# Fewer runs of a configuration than this, and its median is one run's figure or the
# mean of two: the report calls such a verdict provisional.
STEADY_RUNS = 3


def median(values: Sequence[float]) -> float | None:
    """The median of ``values``, None when there are none."""
    return statistics.median(values) if values else None


def median_share(ours: Sequence[float], theirs: Sequence[float]) -> float | None:
    """``ours``' median as a share of ``theirs``' median; None when either has no
    figure, or theirs' median is not above zero (nothing to compare with)."""
    mine, base = median(ours), median(theirs)
    if mine is None or base is None or base <= 0:
        return None
    return mine / base


def at_least(share: float | None, fraction: float) -> bool | None:
    """The verdict on "at least ``fraction``": None (not measured) without a share."""
    return None if share is None else share >= fraction


def figures(values: Sequence[float], spec: str = ".0f") -> str:
    """Every run's figure in the order of the runs: ``"205, 211, 230"``."""
    return ", ".join(format(value, spec) for value in values)


def provisional(*groups: Sequence[float]) -> bool:
    """Whether any group has too few runs for its median to ignore a disturbed one."""
    return any(len(group) < STEADY_RUNS for group in groups)
