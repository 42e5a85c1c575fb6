"""The staff board's pure part: the running deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbot.adapters.db import TicketRow
from mailbot.usecases.web_staff import next_deadline

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)


def ticket(
    *,
    first_response_at: datetime | None = None,
    paused_since: datetime | None = None,
    resolved_at: datetime | None = None,
) -> TicketRow:
    return TicketRow(
        number="SOL-1", seq=1, tier="vip", status="open", subject="x", customer_address="a@b.pl",
        received_at=NOW, reaction_due=NOW + timedelta(hours=1),
        resolution_due=NOW + timedelta(days=2), first_response_at=first_response_at,
        paused_since=paused_since, resolved_at=resolved_at,
    )  # fmt: skip


def test_the_running_deadline() -> None:
    assert next_deadline(ticket()) == NOW + timedelta(hours=1)
    assert next_deadline(ticket(first_response_at=NOW)) == NOW + timedelta(days=2)
    assert next_deadline(ticket(first_response_at=NOW, paused_since=NOW)) is None
    assert next_deadline(ticket(first_response_at=NOW, resolved_at=NOW)) is None
