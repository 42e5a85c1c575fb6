"""Render every template once with sample data, so a broken one stops mailbot at start.

Without this, a typo in a custom template would surface only when the first
mail that needs it arrives, and that mail would end in quarantine.
"""

from __future__ import annotations

from datetime import timedelta

import jinja2

from mailbot.adapters.db import TicketRow
from mailbot.adapters.templates import LANGUAGES
from mailbot.alerts import alert_context
from mailbot.core.calendar import WorkingDuration
from mailbot.core.sla import Alert, DeadlineKind
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError
from mailbot.service import Desk
from mailbot.ticketing import ack_context


def check_templates(desk: Desk) -> int:
    """Render each template in each language; how many. ConfigError on the first failure."""
    now = desk.clock()
    ticket = TicketRow(
        number=f"{desk.settings.support.ticket_prefix}-1", seq=1, tier=Tier.VIP.value, status="new",
        subject="Przykładowe zgłoszenie", customer_address="jan@example.com", customer_name="Jan",
        received_at=now, reaction_due=now + timedelta(hours=1),
        resolution_due=now + timedelta(days=2), updated_at=now,
    )  # fmt: skip
    reminder = Alert(
        DeadlineKind.REACTION, ticket.reaction_due, now, WorkingDuration(0, timedelta(hours=1))
    )
    escalation = Alert(DeadlineKind.REACTION, ticket.reaction_due, ticket.reaction_due)
    jobs = [
        *(
            (f"ack_{tier.value}", ack_context(desk, ticket, contract_customer="ACME"))
            for tier in Tier
        ),
        ("reminder", alert_context(desk, ticket, reminder, now, contract_customer="ACME")),
        ("escalation", alert_context(desk, ticket, escalation, now, contract_customer="ACME")),
    ]
    for language in LANGUAGES:
        for name, context in jobs:
            try:
                desk.renderer.render(name, language, context)
            except (jinja2.TemplateError, ValueError, OSError) as exc:
                where = desk.renderer.directory / language / f"{name}.txt.j2"
                raise ConfigError(f"template {where}: {type(exc).__name__}: {exc}") from exc
    return len(jobs) * len(LANGUAGES)
