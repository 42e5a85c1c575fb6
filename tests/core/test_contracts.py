"""Matching a sender to a contract and tier: a table of cases."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailbot.core.contracts import Contract, ContractIndex, Match, match_contract, sender_domain
from mailbot.core.tiers import TIER_PRECEDENCE, Tier

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def contract(
    cid: str,
    tier: Tier,
    *,
    addresses: tuple[str, ...] = (),
    domains: tuple[str, ...] = (),
    valid_from: date = date(2025, 1, 1),
    valid_until: date | None = None,
) -> Contract:
    return Contract(
        cid,
        f"Customer {cid}",
        tier,
        addresses,
        domains,
        valid_from,
        valid_until,
    )


VIP_ADDRESS = contract("vip-jan", Tier.VIP, addresses=("jan@acme.pl",))
WARRANTY_DOMAIN = contract("gw-acme", Tier.WARRANTY, domains=("acme.pl",))
VIP_DOMAIN = contract("vip-acme", Tier.VIP, domains=("acme.pl",))
WARRANTY_ADDRESS = contract("gw-ola", Tier.WARRANTY, addresses=("ola@acme.pl",))
EXPIRED = contract("gw-old", Tier.WARRANTY, domains=("old.pl",), valid_until=date(2026, 11, 24))
ENDS_TODAY = contract(
    "gw-today", Tier.WARRANTY, domains=("today.pl",), valid_until=date(2026, 11, 25)
)
FUTURE = contract("vip-next", Tier.VIP, domains=("next.pl",), valid_from=date(2026, 12, 1))


@pytest.mark.parametrize(
    ("sender", "contracts", "expected_id", "expected_tier"),
    [
        ("jan@acme.pl", [VIP_ADDRESS], "vip-jan", Tier.VIP),
        ("JAN@ACME.PL", [VIP_ADDRESS], "vip-jan", Tier.VIP),
        ("ewa@acme.pl", [WARRANTY_DOMAIN], "gw-acme", Tier.WARRANTY),
        # exact address beats domain, even when the domain contract is a better tier
        ("ola@acme.pl", [VIP_DOMAIN, WARRANTY_ADDRESS], "gw-ola", Tier.WARRANTY),
        # VIP beats warranty at the same level
        ("ewa@acme.pl", [WARRANTY_DOMAIN, VIP_DOMAIN], "vip-acme", Tier.VIP),
        ("ewa@acme.pl", [VIP_DOMAIN, WARRANTY_DOMAIN], "vip-acme", Tier.VIP),
        # expired warranty no longer matches; ending today still does
        ("x@old.pl", [EXPIRED], None, Tier.POST_WARRANTY),
        ("x@today.pl", [ENDS_TODAY], "gw-today", Tier.WARRANTY),
        # not yet valid
        ("x@next.pl", [FUTURE], None, Tier.POST_WARRANTY),
        # unknown sender, subdomain is not the domain, no sender at all
        ("stranger@example.com", [VIP_ADDRESS, WARRANTY_DOMAIN], None, Tier.POST_WARRANTY),
        ("ewa@mail.acme.pl", [WARRANTY_DOMAIN], None, Tier.POST_WARRANTY),
        (None, [WARRANTY_DOMAIN], None, Tier.POST_WARRANTY),
    ],
)
def test_match_contract(
    sender: str | None, contracts: list[Contract], expected_id: str | None, expected_tier: Tier
) -> None:
    match = match_contract(sender, contracts, NOW)
    assert (match.contract.id if match.contract else None) == expected_id
    assert match.tier is expected_tier


def test_an_index_matches_as_the_list_does() -> None:
    contracts = [VIP_ADDRESS, WARRANTY_DOMAIN, VIP_DOMAIN, WARRANTY_ADDRESS, EXPIRED, FUTURE]
    index = ContractIndex.of(contracts)
    for sender in ("jan@acme.pl", "ola@acme.pl", "ewa@acme.pl", "x@old.pl", "x@next.pl", "a@b.pl"):
        assert match_contract(sender, index, NOW) == match_contract(sender, contracts, NOW)


def scan(sender: str, contracts: Sequence[Contract], today: date) -> Match:
    """The rules read straight: every valid contract looked at (as before the index)."""
    address = sender.lower()
    valid = [c for c in contracts if c.valid_on(today)]
    for level in (
        [c for c in valid if address in c.addresses],
        [c for c in valid if sender_domain(address) in c.domains],
    ):
        if level:
            best = min(level, key=lambda c: (TIER_PRECEDENCE.index(c.tier), c.id))
            return Match(best, best.tier)
    return Match(None, Tier.POST_WARRANTY)


NAMES = st.sampled_from(["a", "b", "c"])
DOMAINS = st.sampled_from(["x.pl", "y.pl"])
CONTRACTS = st.lists(
    st.builds(
        contract,
        st.sampled_from(["k1", "k2", "k3", "k4"]),
        st.sampled_from(list(Tier)),
        addresses=st.lists(st.builds("{}@{}".format, NAMES, DOMAINS), max_size=2).map(tuple),
        domains=st.lists(DOMAINS, max_size=1).map(tuple),
        valid_from=st.dates(date(2026, 11, 20), date(2026, 11, 30)),
        valid_until=st.none() | st.dates(date(2026, 11, 20), date(2026, 11, 30)),
    ),
    max_size=6,
)


@given(CONTRACTS, st.builds("{}@{}".format, NAMES, DOMAINS), st.integers(0, 3))
def test_the_index_follows_the_rules_for_any_contracts(
    contracts: list[Contract], sender: str, days: int
) -> None:
    now = NOW + timedelta(days=days)
    expected = scan(sender, contracts, now.date())
    assert match_contract(sender, ContractIndex.of(contracts), now) == expected


def test_validity_uses_the_warsaw_date_not_utc() -> None:
    # 23:30 UTC on 24 November is already 25 November in Warsaw: the contract ended on the 24th.
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert match_contract("x@old.pl", [EXPIRED], late).contract is None
    assert match_contract("x@old.pl", [EXPIRED], late.replace(hour=22)).contract == EXPIRED


@pytest.mark.parametrize(
    ("tier", "setting", "vip_default", "required"),
    [
        (Tier.VIP, None, True, True),  # VIP follows [support] vip_requires_authentication
        (Tier.VIP, None, False, False),
        (Tier.VIP, False, True, False),  # the contract's own word wins
        (Tier.VIP, True, False, True),
        (Tier.WARRANTY, None, True, False),  # other tiers need no proof unless they say
        (Tier.WARRANTY, True, False, True),
        (Tier.WARRANTY, False, True, False),
        (Tier.POST_WARRANTY, None, True, False),
        (Tier.POST_WARRANTY, True, True, True),
    ],
)
def test_which_contracts_require_authentication(
    tier: Tier, setting: bool | None, vip_default: bool, required: bool
) -> None:
    subject = replace(contract("c", tier), require_authentication=setting)
    assert subject.requires_authentication(vip_default=vip_default) is required
