"""Which contract, and so which tier, a sender belongs to.

The rules (issue 2, SERVICE_TERMS.md):

1. Only contracts valid on the day of ``now`` count (``valid_from`` to
   ``valid_until`` inclusive, in the company's time zone). A warranty past its
   end date no longer matches.
2. An exact address match beats a domain match.
3. Among matches at the same level, VIP beats warranty beats post-warranty;
   ties go to the contract with the smallest id, so the answer is stable.
4. No match: the post-warranty tier with no contract.

Whether a contract's tier needs the trusted mail server to vouch for the sender
(issue 5) is the contract's own ``require_authentication``; a contract that
does not say follows its tier: VIP per ``[support] vip_requires_authentication``,
every other tier not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from mailbot.core.tiers import TIER_PRECEDENCE, Tier

WARSAW = ZoneInfo("Europe/Warsaw")


@dataclass(frozen=True)
class Contract:
    """A customer's contract, as the matcher needs it. Addresses and domains are lower-case."""

    id: str
    customer: str
    tier: Tier
    addresses: frozenset[str]
    domains: frozenset[str]
    valid_from: date
    valid_until: date | None = None
    language: str = "pl"
    # Billing (issue 6). None for an amount means the [billing] setting applies.
    nip: str = ""
    monthly_fee: Decimal | None = None
    package_hours: Decimal = Decimal(2)
    free_unjustified: int = 4
    hourly_rate: Decimal | None = None
    ip_allowlist: tuple[str, ...] = ()
    procedures: str = ""
    phone: str = ""
    billing_email: str = ""
    # None: the tier's default (see requires_authentication).
    require_authentication: bool | None = None

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def requires_authentication(self, *, vip_default: bool) -> bool:
        """Whether this contract's tier goes only to a sender the trusted server vouches for.

        ``vip_default`` is ``[support] vip_requires_authentication``: it decides for a
        VIP contract that does not say; other tiers that do not say need no proof.
        """
        if self.require_authentication is not None:
            return self.require_authentication
        return vip_default and self.tier is Tier.VIP


@dataclass(frozen=True)
class Match:
    """The outcome of matching: the contract (None for an unknown sender) and the tier."""

    contract: Contract | None
    tier: Tier


def sender_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def match_contract(
    sender: str | None,
    contracts: Iterable[Contract],
    now: datetime,
    *,
    tz: ZoneInfo = WARSAW,
) -> Match:
    """Return the contract and tier for ``sender`` at the moment ``now`` (aware)."""
    if not sender:
        return Match(None, Tier.POST_WARRANTY)
    address = sender.lower()
    domain = sender_domain(address)
    today = now.astimezone(tz).date()
    valid = [c for c in contracts if c.valid_on(today)]
    for level in (
        [c for c in valid if address in c.addresses],
        [c for c in valid if domain in c.domains],
    ):
        if level:
            best = min(level, key=lambda c: (TIER_PRECEDENCE.index(c.tier), c.id))
            return Match(best, best.tier)
    return Match(None, Tier.POST_WARRANTY)
