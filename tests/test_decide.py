"""The pure decision: open a ticket, join one, ignore, quarantine; and no answers to robots."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from mailbot.core.automation import robot_reason
from mailbot.core.calendar import ALWAYS, WorkingDuration
from mailbot.core.contracts import Contract
from mailbot.core.decide import (
    AppendToTicket,
    DeskPolicy,
    Ignore,
    OpenTicket,
    Quarantine,
    TicketRef,
    decide,
)
from mailbot.core.mail import InboundMail
from mailbot.core.sla import TierPolicy
from mailbot.core.tiers import Tier

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
POLICY = DeskPolicy(
    ticket_prefix="SOL",
    own_addresses=frozenset({"support@desk.pl"}),
    staff_addresses=frozenset({"boss@elsewhere.pl"}),
    staff_domains=frozenset({"desk.pl"}),
    tiers={
        # 24/7 here: the calendars have tests of their own.
        Tier.VIP: TierPolicy(ALWAYS, WorkingDuration(time=timedelta(hours=1)), WorkingDuration(2)),
        Tier.WARRANTY: TierPolicy(ALWAYS, WorkingDuration(1), WorkingDuration(5)),
        Tier.POST_WARRANTY: TierPolicy(ALWAYS, WorkingDuration(1), WorkingDuration(14)),
    },
)
ACME = Contract("acme", "ACME", Tier.VIP, frozenset(), frozenset({"acme.pl"}), date(2025, 1, 1))
TICKET = TicketRef("SOL-7", "jan@acme.pl", "acme")
MAIL = InboundMail(
    message_id="<m1@acme.pl>",
    from_address="jan@acme.pl",
    from_name="Jan",
    subject="Pomocy",
    date=NOW,
)


def run(
    mail: InboundMail, *, known: dict[str, TicketRef] | None = None, tagged: TicketRef | None = None
) -> object:
    return decide(
        mail, now=NOW, contracts=[ACME], by_message_id=known or {}, tagged=tagged, policy=POLICY
    )


def test_new_mail_opens_a_ticket_with_tier_and_deadlines() -> None:
    decision = run(MAIL)
    assert isinstance(decision, OpenTicket)
    assert decision.match.tier is Tier.VIP and decision.match.contract == ACME
    assert decision.deadlines.reaction_due == NOW + timedelta(hours=1)
    assert decision.deadlines.resolution_due == NOW + timedelta(days=2)
    assert decision.no_ack_reason is None


def test_unknown_sender_gets_post_warranty() -> None:
    decision = run(replace(MAIL, from_address="x@gmail.com"))
    assert isinstance(decision, OpenTicket) and decision.match.tier is Tier.POST_WARRANTY
    assert decision.deadlines.resolution_due == NOW + timedelta(days=14)


def test_no_sender_is_quarantined() -> None:
    assert isinstance(run(replace(MAIL, from_address=None)), Quarantine)


def test_own_address_is_ignored() -> None:
    assert isinstance(run(replace(MAIL, from_address="support@desk.pl")), Ignore)


@pytest.mark.parametrize("header", ["in_reply_to", "references"])
def test_reply_to_a_known_message_joins_its_ticket(header: str) -> None:
    value: object = "<ack@desk.pl>" if header == "in_reply_to" else ("<x@y>", "<ack@desk.pl>")
    decision = run(replace(MAIL, **{header: value}), known={"<ack@desk.pl>": TICKET})
    assert decision == AppendToTicket("SOL-7", "replies to <ack@desk.pl>")


@pytest.mark.parametrize(
    "sender", ["jan@acme.pl", "ewa@acme.pl", "tech@desk.pl", "boss@elsewhere.pl"]
)
def test_tag_joins_for_customer_contract_or_staff(sender: str) -> None:
    decision = run(replace(MAIL, from_address=sender, subject="Re: [SOL-7] Pomocy"), tagged=TICKET)
    assert isinstance(decision, AppendToTicket) and decision.number == "SOL-7"


def test_tag_from_a_stranger_opens_a_new_ticket_and_says_why() -> None:
    decision = run(
        replace(MAIL, from_address="evil@example.com", subject="[SOL-7] x"), tagged=TICKET
    )
    assert isinstance(decision, OpenTicket)
    assert "neither its customer nor staff" in decision.note


ROBOT_CASES = [
    ({"auto_submitted": "auto-replied"}, "Auto-Submitted"),
    ({"auto_submitted": "auto-generated; foo"}, "Auto-Submitted"),
    ({"precedence": "bulk"}, "Precedence"),
    ({"precedence": "List"}, "Precedence"),
    ({"list_id": "<news.acme.pl>"}, "List-Id"),
    ({"return_path": "<>"}, "bounce"),
    ({"from_address": "mailer-daemon@acme.pl"}, "robot sender"),
    ({"from_address": "noreply@acme.pl"}, "robot sender"),
]


@pytest.mark.parametrize(("change", "reason"), ROBOT_CASES)
def test_robots_get_a_ticket_but_no_acknowledgement(change: dict[str, str], reason: str) -> None:
    decision = run(replace(MAIL, **change))
    assert isinstance(decision, OpenTicket)
    assert decision.no_ack_reason is not None and reason in decision.no_ack_reason


def test_a_person_is_not_a_robot() -> None:
    mail = replace(MAIL, auto_submitted="no", precedence=None, return_path="<jan@acme.pl>")
    assert robot_reason(mail, own_addresses=POLICY.own_addresses) is None
