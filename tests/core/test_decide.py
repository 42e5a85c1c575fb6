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
ACME = Contract("acme", "ACME", Tier.VIP, (), ("acme.pl",), date(2025, 1, 1))
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


# --- contracts that require an authenticated sender (issue 5) ---------------------------------

MX = "mx.desk.pl"
GUARDED = replace(POLICY, authserv_id=MX)
VIP_DEFAULT = Contract("vip", "ACME", Tier.VIP, ("jan@acme.pl",), (), date(2025, 1, 1))
VIP_OFF = replace(VIP_DEFAULT, id="vip-off", require_authentication=False)
WARRANTY_ON = replace(VIP_DEFAULT, id="gw-on", tier=Tier.WARRANTY, require_authentication=True)
WARRANTY_DEFAULT = replace(VIP_DEFAULT, id="gw", tier=Tier.WARRANTY)
# What the receiving servers wrote: ours vouching, ours refusing, a stranger vouching, nothing.
TRUSTED_PASS = (f"{MX}; dmarc=pass header.from=acme.pl",)
TRUSTED_FAIL = (f"{MX}; dmarc=fail header.from=acme.pl; dkim=fail; spf=fail",)
UNTRUSTED_PASS = ("mx.spammer.example; dmarc=pass header.from=acme.pl",)
NO_RESULTS: tuple[str, ...] = ()


def opened(contract: Contract, results: tuple[str, ...], policy: DeskPolicy) -> OpenTicket:
    mail = replace(MAIL, authentication_results=results)
    decision = decide(
        mail, now=NOW, contracts=[contract], by_message_id={}, tagged=None, policy=policy
    )
    assert isinstance(decision, OpenTicket)
    return decision


@pytest.mark.parametrize("contract", [VIP_DEFAULT, WARRANTY_ON], ids=["vip-default", "gw-on"])
@pytest.mark.parametrize(
    ("results", "verified"),
    [(TRUSTED_PASS, True), (TRUSTED_FAIL, False), (UNTRUSTED_PASS, False), (NO_RESULTS, False)],
    ids=["trusted-pass", "trusted-fail", "untrusted", "none"],
)
def test_a_contract_requiring_authentication_needs_the_trusted_server(
    contract: Contract, results: tuple[str, ...], verified: bool
) -> None:
    decision = opened(contract, results, GUARDED)
    if verified:
        assert decision.match.contract == contract and decision.match.tier is contract.tier
        assert decision.unverified is None
    else:
        assert decision.match.contract is None and decision.match.tier is Tier.POST_WARRANTY
        assert decision.unverified == contract
        assert decision.deadlines.resolution_due == NOW + timedelta(days=14)


@pytest.mark.parametrize("contract", [VIP_OFF, WARRANTY_DEFAULT], ids=["vip-off", "gw-default"])
@pytest.mark.parametrize(
    "results",
    [TRUSTED_PASS, TRUSTED_FAIL, UNTRUSTED_PASS, NO_RESULTS],
    ids=["trusted-pass", "trusted-fail", "untrusted", "none"],
)
def test_a_contract_not_requiring_authentication_trusts_from(
    contract: Contract, results: tuple[str, ...]
) -> None:
    decision = opened(contract, results, GUARDED)
    assert decision.match.contract == contract and decision.match.tier is contract.tier
    assert decision.unverified is None


@pytest.mark.parametrize("contract", [VIP_DEFAULT, VIP_OFF, WARRANTY_ON, WARRANTY_DEFAULT])
def test_without_a_trusted_server_every_contract_trusts_from(contract: Contract) -> None:
    # No authserv_id: no header can be believed, so none is asked for (today's behaviour).
    decision = opened(contract, TRUSTED_FAIL, replace(GUARDED, authserv_id=""))
    assert decision.match.tier is contract.tier and decision.unverified is None


def test_vip_requires_authentication_off_is_only_the_default() -> None:
    lenient = replace(GUARDED, vip_requires_authentication=False)
    assert opened(VIP_DEFAULT, NO_RESULTS, lenient).match.tier is Tier.VIP
    vip_on = replace(VIP_DEFAULT, require_authentication=True)
    assert opened(vip_on, NO_RESULTS, lenient).unverified == vip_on
    assert opened(WARRANTY_ON, NO_RESULTS, lenient).unverified == WARRANTY_ON


@pytest.mark.parametrize("contract", [VIP_DEFAULT, WARRANTY_ON], ids=["vip-default", "gw-on"])
@pytest.mark.parametrize(("vouched_by", "verified"), [("IP allow-list of vip", True), ("", False)])
def test_an_ip_allow_list_vouches_like_the_trusted_server(
    contract: Contract, vouched_by: str, verified: bool
) -> None:
    # A web submission from an address on the contract's IP allow-list (issue 15).
    mail = replace(MAIL, vouched_by=vouched_by)
    decision = decide(
        mail, now=NOW, contracts=[contract], by_message_id={}, tagged=None, policy=GUARDED
    )
    assert isinstance(decision, OpenTicket)
    assert (decision.match.tier is contract.tier) is verified
    assert (decision.unverified is None) is verified


def test_an_unverified_sender_cannot_join_the_contracts_tickets_by_tag() -> None:
    # Same contract is how a colleague joins a tagged ticket; an unproven sender is no colleague.
    tagged = TicketRef("SOL-7", "ola@acme.pl", WARRANTY_ON.id)
    mail = replace(MAIL, subject="[SOL-7] x", authentication_results=NO_RESULTS)
    decision = decide(
        mail, now=NOW, contracts=[WARRANTY_ON], by_message_id={}, tagged=tagged, policy=GUARDED
    )
    assert isinstance(decision, OpenTicket) and decision.unverified == WARRANTY_ON
