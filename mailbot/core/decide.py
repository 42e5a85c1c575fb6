"""What one mail does: open a ticket, join one, be ignored, or go to quarantine.

The decision is pure: the service looks up the tickets the mail may belong to
and the contracts, passes them in with ``now``, and applies what comes back in
one transaction.

Threading rules (a subset of issue 4, enough to keep answers on their ticket):

- ``In-Reply-To`` or ``References`` naming a Message-ID of a ticket's mail
  joins that ticket;
- a ``[SOL-n]`` tag joins ticket n only when the sender is that ticket's
  customer (same address or same contract) or staff; a stranger quoting a tag
  gets a ticket of their own, so nobody can write into another customer's case.

A contract that requires authentication (``Contract.requires_authentication``)
gives its tier only when the trusted server's Authentication-Results vouch for
the sender, or a web submission came from an address on the contract's IP
allow-list (``InboundMail.vouched_by``); otherwise the ticket opens at
post-warranty without the contract and names it as ``unverified``. Without a
trusted server (``authserv_id`` "") nothing can be verified and the From address
is believed.

A sender read leniently (``InboundMail.lenient_from``: From had no address by RFC
5322) is at most an unverified From: never a contract's tier that requires
authentication, nor staff; it is acknowledged only when the address is valid once
repaired. A mail is quarantined for its sender only when no address could be read
at all; a bare ``MAILER-DAEMON`` that reports no mail of ours is quarantined as
the robot's mail it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.core.authres import sender_verified
from mailbot.core.automation import robot_reason
from mailbot.core.contracts import WARSAW, Contract, ContractIndex, Match, match_contract
from mailbot.core.lenient_sender import is_valid_address
from mailbot.core.mail import InboundMail
from mailbot.core.sla import Deadlines, TierPolicy, deadlines
from mailbot.core.tiers import Tier

# The local parts a staff domain's people have: letters, digits, dots, dashes, plus and
# underscore (RFC 5321's dot-string without the characters routers act on).
_PLAIN_LOCAL = re.compile(r"[a-z0-9][a-z0-9._+-]{0,63}", re.IGNORECASE)


@dataclass(frozen=True)
class TicketRef:
    """What threading needs to know about an existing ticket."""

    number: str
    customer_address: str
    contract_id: str | None
    status: str = "open"
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class DeskPolicy:
    """The parts of the settings that decisions depend on."""

    ticket_prefix: str
    own_addresses: frozenset[str]
    staff_addresses: frozenset[str]
    staff_domains: frozenset[str]
    tiers: Mapping[Tier, TierPolicy]
    tz: ZoneInfo = WARSAW  # the company's: contract dates are its calendar days
    # A customer's answer later than this after the resolution opens a new ticket.
    reopen_window: timedelta = timedelta(days=14)
    # The authserv-id of the receiving server whose Authentication-Results we trust;
    # "" means nothing can be verified, so the From address is believed.
    authserv_id: str = ""
    # Whether a VIP contract that does not say needs that server's word on the sender.
    vip_requires_authentication: bool = True

    def is_staff(self, address: str) -> bool:
        """A listed staff address, or a plain one in a staff domain. Not ``a%b@``, ``"x@y"@``
        or ``a!b@``: mail servers route those on to other hosts (Postfix's percent hack),
        so a notice to such an address would leave the company."""
        if address in self.staff_addresses:
            return True
        local, _, domain = address.rpartition("@")
        return domain in self.staff_domains and _PLAIN_LOCAL.fullmatch(local) is not None


@dataclass(frozen=True)
class OpenTicket:
    match: Match
    deadlines: Deadlines
    # None: acknowledge; otherwise why no acknowledgement goes out.
    no_ack_reason: str | None
    note: str = ""
    follows: str | None = None  # the earlier, long-resolved ticket this mail answered
    # The contract the sender's address names, when it requires authentication and the
    # sender could not be verified: the ticket then opens at post-warranty without a
    # contract, flagged, and staff are told.
    unverified: Contract | None = None


@dataclass(frozen=True)
class AppendToTicket:
    number: str
    reason: str


@dataclass(frozen=True)
class Ignore:
    reason: str


@dataclass(frozen=True)
class Quarantine:
    reason: str


Decision = OpenTicket | AppendToTicket | Ignore | Quarantine


def thread_ticket(
    mail: InboundMail,
    *,
    by_message_id: Mapping[str, TicketRef],
    tagged: TicketRef | None,
    sender_contract: Contract | None,
    policy: DeskPolicy,
) -> tuple[TicketRef | None, str]:
    """The ticket ``mail`` continues, and a reason for the log."""
    for ref_id in (mail.in_reply_to, *reversed(mail.references)):
        if ref_id and ref_id in by_message_id:
            return by_message_id[ref_id], f"replies to {ref_id}"
    if tagged is None:
        return None, "no known reference or tag"
    sender = mail.from_address or ""
    same_contract = sender_contract is not None and sender_contract.id == tagged.contract_id
    staff = policy.is_staff(sender) and not mail.lenient_from
    if sender == tagged.customer_address or same_contract or staff:
        return tagged, f"subject tag [{tagged.number}]"
    return None, f"tag [{tagged.number}] from {sender}, who is neither its customer nor staff"


def decide(
    mail: InboundMail,
    *,
    now: datetime,
    contracts: ContractIndex | Sequence[Contract],
    by_message_id: Mapping[str, TicketRef],
    tagged: TicketRef | None,
    policy: DeskPolicy,
) -> Decision:
    """Decide what ``mail``, received at ``now``, does to the desk."""
    if not mail.from_address:
        if mail.unparsed:  # say first what stopped the parse: the reader after it is a fallback
            return Quarantine(f"{mail.unparsed}; the fallback reader found no sender address")
        if mail.robot_sender:  # no bounce of ours (the service tried that first)
            return Quarantine(
                f"bounce or robot mail from {mail.robot_sender} without a domain: no address"
                " to answer, and no mail of ours it reports"
            )
        return Quarantine("no sender address (From) could be read")
    if mail.from_address in policy.own_addresses:
        return Ignore(f"sent from our own address {mail.from_address} (loop guard)")
    match = match_contract(mail.from_address, contracts, now, tz=policy.tz)
    unverified = _unverified_contract(mail, match, policy)
    if unverified is not None:
        match = Match(contract=None, tier=Tier.POST_WARRANTY)
    ticket, why = thread_ticket(
        mail,
        by_message_id=by_message_id,
        tagged=tagged,
        sender_contract=match.contract,
        policy=policy,
    )
    follows = None
    if ticket is not None:
        stale = _past_reopen_window(ticket, now, policy)
        if stale is None or (policy.is_staff(mail.from_address) and not mail.lenient_from):
            return AppendToTicket(ticket.number, why)
        follows, why = ticket.number, stale
    return OpenTicket(
        match=match,
        deadlines=deadlines(now, policy.tiers[match.tier]),
        no_ack_reason=_no_ack_reason(mail, policy),
        note=why if tagged is not None or follows else "",
        follows=follows,
        unverified=unverified,
    )


def _no_ack_reason(mail: InboundMail, policy: DeskPolicy) -> str | None:
    """Why no acknowledgement goes out: a robot wrote, or the sender was read leniently into
    something no mail can be sent to."""
    robot = robot_reason(mail, own_addresses=policy.own_addresses)
    if robot is None and mail.lenient_from and not is_valid_address(mail.from_address or ""):
        return f"sender read leniently as {mail.from_address}, not a valid address"
    return robot


def _unverified_contract(mail: InboundMail, match: Match, policy: DeskPolicy) -> Contract | None:
    """The contract ``match`` found, when it requires authentication and the mail has none.
    A sender read leniently never has it: the server's verdict was on a From it read
    differently, if at all."""
    contract = match.contract
    if contract is not None and mail.lenient_from:
        needs = contract.requires_authentication(vip_default=policy.vip_requires_authentication)
        return contract if needs else None
    if contract is None or not policy.authserv_id:
        # Without a trusted server no header can be believed, so From is all there is.
        return None
    if not contract.requires_authentication(vip_default=policy.vip_requires_authentication):
        return None
    if mail.vouched_by:  # the contract's IP allow-list: as good as the server's word
        return None
    verified = sender_verified(
        mail.authentication_results,
        authserv_id=policy.authserv_id,
        from_address=mail.from_address or "",
    )
    return None if verified else contract


def _past_reopen_window(ticket: TicketRef, now: datetime, policy: DeskPolicy) -> str | None:
    """Why an answer to ``ticket`` opens a new ticket instead of reopening it, or None."""
    if ticket.status not in ("resolved", "closed") or ticket.resolved_at is None:
        return None
    if now - ticket.resolved_at <= policy.reopen_window:
        return None
    days = policy.reopen_window.days
    return f"it answers {ticket.number}, resolved more than {days} days ago"
