"""The support tiers of the service terms (see SERVICE_TERMS.md)."""

from enum import StrEnum


class Tier(StrEnum):
    WARRANTY = "warranty"
    VIP = "vip"
    POST_WARRANTY = "post_warranty"


# When one sender matches contracts of several tiers at the same level
# (exact address, or domain), the better service wins.
TIER_PRECEDENCE: tuple[Tier, ...] = (Tier.VIP, Tier.WARRANTY, Tier.POST_WARRANTY)
