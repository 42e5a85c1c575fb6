"""``mailbot sla explain``: the deadlines of a ticket received at a given moment, step by step."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailbot.config import Settings
from mailbot.core.calendar import explain_add
from mailbot.core.sla import deadlines
from mailbot.core.tiers import Tier
from mailbot.usecases.desk import tier_policies


def local_moment(moment: datetime, tz: ZoneInfo) -> datetime:
    """``moment`` as given (``mailbot.cli.args.moment``): without an offset, in ``tz``."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def explain(settings: Settings, tier: Tier, received: datetime) -> dict[str, Any]:
    """Both deadlines in local time with their UTC offset, and the calendar steps to each."""
    tz = ZoneInfo(settings.support.timezone)
    policy = tier_policies(settings)[tier]
    due = deadlines(received, policy)

    def steps(window: Any) -> list[str]:
        return [step.note for step in explain_add(policy.calendar, received, window)]

    return {
        "tier": tier.value,
        "calendar": policy.calendar.name,
        "received_at": received.astimezone(tz).isoformat(),
        "reaction_window": str(policy.reaction),
        "resolution_window": str(policy.resolution),
        "reaction_due": due.reaction_due.astimezone(tz).isoformat(),
        "resolution_due": due.resolution_due.astimezone(tz).isoformat(),
        "steps": {"reaction": steps(policy.reaction), "resolution": steps(policy.resolution)},
    }
