"""``core.billing.package_standing``: what a VIP customer's status page shows of the month,
by the same rules as the invoice (issue 15 item 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mailbot.core.billing import (
    BillableTicket,
    Month,
    PackageStanding,
    WorkEntry,
    package_standing,
)
from mailbot.core.tiers import Tier
from tests.core.test_billing import NOVEMBER, PRICES, VIP, WARSAW, at, ticket, work


def standing(tickets: list[BillableTicket], entries: list[WorkEntry]) -> PackageStanding:
    return package_standing(
        NOVEMBER, VIP, contracts=[VIP], tickets=tickets, entries=entries, prices=PRICES, tz=WARSAW
    )


@pytest.mark.parametrize(
    ("tickets", "entries", "used", "free_left"),
    [
        ([], [], Decimal(0), 4),
        # 61 minutes are two started hours: the whole package of 2.
        ([ticket("SOL-1", "acme-vip", Tier.VIP, 3)], [work("SOL-1", 61)], Decimal(2), 4),
        # Beyond the package, what is used is still the package.
        (
            [ticket("SOL-1", "acme-vip", Tier.VIP, 3), ticket("SOL-2", "acme-vip", Tier.VIP, 4)],
            [work("SOL-1", 30), work("SOL-2", 150)],
            Decimal(2),
            4,
        ),
        # Unjustified tickets use free ones, never package hours.
        (
            [ticket(f"SOL-{n}", "acme-vip", Tier.VIP, n, unjustified=True) for n in range(1, 6)],
            [work("SOL-1", 30)],
            Decimal(0),
            0,
        ),
        # Warranty work uses nothing; an unjustified ticket of October counts there, not here.
        (
            [
                ticket("SOL-1", "acme-vip", Tier.VIP, 3, warranty=True),
                BillableTicket("SOL-2", "acme-vip", Tier.VIP, at(20, month=10), "acme-vip",
                               unjustified=True),
            ],
            [work("SOL-1", 120), work("SOL-2", 10, at(2))],
            Decimal(0),
            4,
        ),
    ],
)  # fmt: skip
def test_package_standing(
    tickets: list[BillableTicket], entries: list[WorkEntry], used: Decimal, free_left: int
) -> None:
    found = standing(tickets, entries)
    assert (found.hours_used, found.free_unjustified_left) == (used, free_left)
    assert (found.package_hours, found.free_unjustified) == (Decimal(2), 4)


def test_a_month_the_contract_does_not_cover_has_no_package() -> None:
    found = package_standing(
        Month(2024, 12), VIP, contracts=[VIP], tickets=[], entries=[],
        prices=PRICES, tz=WARSAW,
    )  # fmt: skip
    assert found.package_hours == 0 and found.hours_used == 0
