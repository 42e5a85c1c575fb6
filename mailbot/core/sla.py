"""Deadlines of a ticket.

This is the wall-clock version of issue 2: received + the tier's window. The
business calendar (days off, working hours) replaces it in the SLA engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class TierPolicy:
    reaction: timedelta
    resolution: timedelta


@dataclass(frozen=True)
class Deadlines:
    reaction_due: datetime
    resolution_due: datetime


def deadlines(received_at: datetime, policy: TierPolicy) -> Deadlines:
    """Both deadlines of a ticket received at ``received_at`` (aware)."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return Deadlines(received_at + policy.reaction, received_at + policy.resolution)
