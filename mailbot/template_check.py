"""Render every template once with sample data, so a broken one stops mailbot at start.

Without this, a typo in a custom template would surface only when the first
mail that needs it arrives, and that mail would end in quarantine.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jinja2

from mailbot.adapters.db import TicketRow
from mailbot.adapters.templates import LANGUAGES
from mailbot.core.calendar import WorkingDuration
from mailbot.core.quoting import NOTIFICATION_MARKER
from mailbot.core.sla import Alert, DeadlineKind
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError
from mailbot.usecases.apply import ack_context
from mailbot.usecases.desk import Desk
from mailbot.usecases.mail_queue import base_context
from mailbot.usecases.reminders import alert_context


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
        ("ack_post_warranty", ack_context(desk, ticket, contract_customer="", confirm_tier="vip")),
        ("reminder", alert_context(desk, ticket, reminder, now, contract_customer="ACME")),
        ("escalation", alert_context(desk, ticket, escalation, now, contract_customer="ACME")),
        *_conversation_jobs(base_context(desk, ticket)),
    ]
    for language in LANGUAGES:
        for name, context in jobs:
            try:
                desk.renderer.render(name, language, context)
            except (jinja2.TemplateError, ValueError, OSError) as exc:
                where = desk.renderer.directory / language / f"{name}.txt.j2"
                raise ConfigError(f"template {where}: {type(exc).__name__}: {exc}") from exc
    return len(jobs) * len(LANGUAGES)


def _conversation_jobs(base: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Staff notifications, relayed replies and status mails, with what they are given."""
    staff = {"marker": NOTIFICATION_MARKER, "tier_label": "VIP", "contract_customer": "ACME",
             "procedures": "Dzwonić do kierownika.", "attachments": ["skan.pdf"], "text": "Tekst",
             "follows": "SOL-0", "unparsed": "parse deadline of 10 s exceeded"}  # fmt: skip
    statuses = ("open", "waiting", "resolved", "closed", "reopened")
    return [
        ("staff_new", {**base, **staff}),
        ("staff_followup", {**base, **staff}),
        ("staff_error", {**base, "errors": ["#x: unknown command"]}),
        ("staff_unverified", {**base, "sender": "anna@example.pl", "authserv_id": "mx.example.pl"}),
        ("staff_held", {**base, "cap": 10}),
        ("staff_confirmed", {**base, "contract": "acme-vip", "tier_label": "VIP"}),
        ("staff_bounce", {**base, "recipients": "jan@example.com", "kind": "ack",
                          "diagnosis": "smtp; 550 5.1.1 user unknown",
                          "bounced_message_id": "<1@example.com>"}),
        ("staff_unverified_sender", {**base, "sender": "jan@example.com", "contract": "acme-vip",
                                     "tier": "vip", "tier_label": "VIP",
                                     "authserv_id": "mx.example.pl"}),
        ("relay", {**base, "text": "Tekst", "staff_name": "Anna", "status_line": "rozwiązane"}),
        *((f"status_{status}", base) for status in statuses),
        ("status_reply", {**base, "status_label": "w realizacji", "reaction_state": "-",
                          "resolution_state": "-", "last_activity": "-"}),
    ]  # fmt: skip
