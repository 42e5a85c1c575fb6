"""How mail names a ticket's status and tier, for the templates that show them."""

from __future__ import annotations

STATUS_LABELS = {
    "pl": {"new": "przyjęte", "open": "w realizacji", "waiting": "czekamy na Państwa odpowiedź",
           "resolved": "rozwiązane", "closed": "zamknięte"},
    "en": {"new": "received", "open": "in progress", "waiting": "waiting for your answer",
           "resolved": "resolved", "closed": "closed"},
}  # fmt: skip

# The tiers as staff mail names them.
TIER_LABELS = {"vip": "VIP", "warranty": "gwarancja", "post_warranty": "pogwarancyjne"}


def status_label(status: str, language: str) -> str:
    return STATUS_LABELS.get(language, STATUS_LABELS["pl"]).get(status, status)


def tier_label(tier: str) -> str:
    return TIER_LABELS.get(tier, tier)
