"""The staff board's pure parts: the per-client sign-in limiter and the running deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbot.adapters.db import TicketRow
from mailbot.usecases import recent_requests
from mailbot.usecases.web_staff import next_deadline, signin_limiter

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)


def test_the_limiter_allows_ten_an_hour_per_client() -> None:
    limiter = signin_limiter()
    assert all(limiter.verdict("192.0.2.1", NOW).allowed for _ in range(10))
    refused = limiter.verdict("192.0.2.1", NOW + timedelta(minutes=30))
    assert not refused.allowed and refused.retry_after == 30 * 60
    assert limiter.verdict("192.0.2.2", NOW).allowed
    assert limiter.verdict("192.0.2.1", NOW + timedelta(hours=1)).allowed


def test_the_limiter_forgets_quiet_clients_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent_requests, "MAX_CLIENTS", 3)
    limiter = signin_limiter()
    for n in range(3):
        limiter.verdict(f"192.0.2.{n}", NOW)
    limiter.verdict("192.0.2.9", NOW + timedelta(minutes=5))
    limiter.verdict("192.0.2.8", NOW + timedelta(hours=2))
    assert set(limiter.times) == {"192.0.2.8"}


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
