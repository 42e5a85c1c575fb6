"""Which contract, and so which tier, a sender belongs to.

The rules (issue 2, SERVICE_TERMS.md):

1. Only contracts valid on the day of ``now`` count (``valid_from`` to
   ``valid_until`` inclusive, in the company's time zone). A warranty past its
   end date no longer matches.
2. An exact address match beats a domain match.
3. Among matches at the same level, VIP beats warranty beats post-warranty;
   ties go to the contract with the smallest id, so the answer is stable.
4. No match: the post-warranty tier with no contract.

A ``ContractIndex`` holds the contracts by address and by domain, so that matching
a sender looks up two keys, however many contracts there are (issue 17).

Whether a contract's tier needs the trusted mail server to vouch for the sender
(issue 5) is the contract's own ``require_authentication``; a contract that
does not say follows its tier: VIP per ``[support] vip_requires_authentication``,
every other tier not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from mailbot.core.tiers import TIER_PRECEDENCE, Tier

WARSAW = ZoneInfo("Europe/Warsaw")


@dataclass(frozen=True, slots=True)
class Contract:
    """A customer's contract, as the matcher needs it. Addresses and domains are lower-case,
    each once, sorted (``__post_init__`` makes them so, whatever order they come in).

    Slots: the daemon keeps every contract in memory (its index), and a ``__dict__`` each
    was about a quarter of 20,000 contracts' size. Tuples, not frozensets: a frozenset of
    one or two strings is 216 bytes, a tuple 56 to 64 (about 6 MiB of 20,000 contracts);
    the matcher looks senders up in the index's dictionaries, never in these."""

    id: str
    customer: str
    tier: Tier
    addresses: tuple[str, ...]
    domains: tuple[str, ...]
    valid_from: date
    valid_until: date | None = None
    # "pl" or "en"; "" for the language the customer writes in (core.language).
    language: str = ""
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

    def __post_init__(self) -> None:
        # Sorted and each once: two contracts with the same addresses in another order are
        # equal (the import compares the file's contracts with the database's by ==).
        for name in ("addresses", "domains"):
            values = getattr(self, name)
            if not _sorted_unique(values):
                object.__setattr__(self, name, tuple(sorted(set(values))))

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


def _sorted_unique(values: object) -> bool:
    """Whether ``values`` is a tuple already sorted with no value twice."""
    return isinstance(values, tuple) and all(a < b for a, b in pairwise(values))


@dataclass(frozen=True)
class Match:
    """The outcome of matching: the contract (None for an unknown sender) and the tier."""

    contract: Contract | None
    tier: Tier


def sender_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


@dataclass(frozen=True)
class ContractIndex:
    """Contracts by each of their addresses and domains (as the contracts hold them: lower
    case), in the order given."""

    contracts: tuple[Contract, ...]
    by_address: Mapping[str, tuple[Contract, ...]]
    by_domain: Mapping[str, tuple[Contract, ...]]

    @classmethod
    def of(cls, contracts: Iterable[Contract]) -> ContractIndex:
        given = tuple(contracts)
        by_address: dict[str, list[Contract]] = defaultdict(list)
        by_domain: dict[str, list[Contract]] = defaultdict(list)
        for contract in given:
            for address in contract.addresses:
                by_address[address].append(contract)
            for domain in contract.domains:
                by_domain[domain].append(contract)
        # A key of one contract (most are) maps to that contract's own 1-tuple, one for
        # all its keys: a tuple a key was about 3 MB of 20,000 contracts' index.
        alone = {id(contract): (contract,) for contract in given}

        def frozen(found: list[Contract]) -> tuple[Contract, ...]:
            return alone[id(found[0])] if len(found) == 1 else tuple(found)

        return cls(
            given,
            {key: frozen(found) for key, found in by_address.items()},
            {key: frozen(found) for key, found in by_domain.items()},
        )


def preferred(level: Iterable[Contract]) -> Contract:
    """The contract that wins among matches at one level (rule 3: the best tier, then the
    smallest id)."""
    return min(level, key=lambda c: (TIER_PRECEDENCE.index(c.tier), c.id))


def match_contract(
    sender: str | None,
    contracts: ContractIndex | Iterable[Contract],
    now: datetime,
    *,
    tz: ZoneInfo = WARSAW,
) -> Match:
    """Return the contract and tier for ``sender`` at the moment ``now`` (aware). Give an
    index when matching many senders: a plain list is indexed at every call."""
    if not sender:
        return Match(None, Tier.POST_WARRANTY)
    index = contracts if isinstance(contracts, ContractIndex) else ContractIndex.of(contracts)
    address = sender.lower()
    today = now.astimezone(tz).date()
    for level in (
        index.by_address.get(address, ()),
        index.by_domain.get(sender_domain(address), ()),
    ):
        valid = [c for c in level if c.valid_on(today)]
        if valid:
            best = preferred(valid)
            return Match(best, best.tier)
    return Match(None, Tier.POST_WARRANTY)
