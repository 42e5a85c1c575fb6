"""How a month's tickets kept their deadlines, per tier (``mailbot report sla``).

A deadline is *met* when the reaction (first staff response) or resolution
came by it, *missed* when it came later or has not come and the deadline has
passed, and *open* otherwise (still running, or waiting for the customer).
Percentages are of the decided ones (met + missed). Reaction times are wall
time from receipt to the first staff response, over the tickets that had one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import median_low

from mailbot.core.tiers import Tier


@dataclass(frozen=True)
class SlaTicket:
    tier: Tier
    received_at: datetime
    reaction_due: datetime
    first_response_at: datetime | None
    resolution_due: datetime
    resolved_at: datetime | None
    waiting: bool = False


@dataclass(frozen=True)
class Outcome:
    met: int = 0
    missed: int = 0
    open: int = 0

    @property
    def percent_met(self) -> Decimal | None:
        decided = self.met + self.missed
        if not decided:
            return None
        return (Decimal(100 * self.met) / decided).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class TierSla:
    tier: Tier
    opened: int
    reaction: Outcome
    resolution: Outcome
    median_reaction: timedelta | None
    worst_reaction: timedelta | None


def _state(due: datetime, done: datetime | None, now: datetime, *, waiting: bool) -> str:
    if done is not None:
        return "met" if done <= due else "missed"
    if waiting or now <= due:
        return "open"
    return "missed"


def _outcome(states: Iterable[str]) -> Outcome:
    listed = list(states)
    return Outcome(listed.count("met"), listed.count("missed"), listed.count("open"))


def tier_sla(tier: Tier, tickets: Sequence[SlaTicket], now: datetime) -> TierSla:
    reactions = sorted(
        t.first_response_at - t.received_at for t in tickets if t.first_response_at is not None
    )
    return TierSla(
        tier=tier,
        opened=len(tickets),
        reaction=_outcome(
            _state(t.reaction_due, t.first_response_at, now, waiting=False) for t in tickets
        ),
        resolution=_outcome(
            _state(t.resolution_due, t.resolved_at, now, waiting=t.waiting) for t in tickets
        ),
        median_reaction=median_low(reactions) if reactions else None,
        worst_reaction=reactions[-1] if reactions else None,
    )


def sla_by_tier(tickets: Iterable[SlaTicket], now: datetime) -> list[TierSla]:
    """One row per tier (all three, in the usual order), for the tickets given."""
    listed = list(tickets)
    return [tier_sla(tier, [t for t in listed if t.tier is tier], now) for tier in Tier]
