"""What a mail joining an existing ticket does: one pure decision, applied by the shell.

The e-mail thread is the interface (issue 4):

- A customer's answer is kept on the ticket and staff are told. On a waiting
  ticket it resumes the SLA clock; on a resolved one (within the reopen
  window, see ``mailbot.core.decide``) it reopens the ticket and the customer
  is told.
- A customer asking ``status`` (the whole text, or a subject ``STATUS
  [SOL-1]``) gets the ticket's status back, if the ticket is theirs.
- A staff reply (from ``staff_addresses``/``staff_domains``, with proof: an
  answer to our mail to staff, or DMARC/DKIM from ``authserv_id``; see
  ``mailbot.core.identity``) counts as the reaction, runs its ``#commands``
  and is relayed to the customer from the desk's address with the quoted
  history cut. ``#internal`` or a reply of commands only relays nothing. A
  command error relays nothing, changes nothing, keeps the mail as an internal
  note and tells the staff member. A staff-looking mail without proof is a
  note, and the address it claims is told once per ticket.
- A customer whose contract needs an authenticated sender, and whose mail had
  none, confirms by answering the acknowledgement with ``potwierdzam``: the
  ticket gets the contract's tier.
- Robots (out-of-office replies and the like, staff's also by their wording)
  are kept as notes and change nothing.

``decide_followup`` takes plain values (the mail, a snapshot of the ticket, the
desk's policy and what the shell looked up) and returns a ``FollowupDecision``:
the note to store, the ticket changes in the order they are applied, the mails
to queue after them, and the summary for the log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from mailbot.core.automation import autoreply_wording, robot_reason
from mailbot.core.commands import Command, ParsedReply, parse_reply, work_minutes
from mailbot.core.contracts import Contract
from mailbot.core.decide import DeskPolicy
from mailbot.core.identity import confirms_address, staff_proof
from mailbot.core.mail import InboundMail
from mailbot.core.notices import (
    STATUS_NOTICES,
    Due,
    Met,
    NoText,
    Notice,
    Relay,
    StaffAnnouncement,
    StaffConfirmed,
    StaffError,
    StaffFollowup,
    StaffTier,
    StaffUnverified,
    StatusName,
    StatusReopened,
    StatusReply,
)
from mailbot.core.quoting import NOTIFICATION_MARKER, strip_quoted
from mailbot.core.tickets import TicketStatus
from mailbot.core.tiers import Tier

# --- what the decision reads -------------------------------------------------


@dataclass(frozen=True)
class TicketSnapshot:
    """The fields of a ticket the decision reads, as they were before the mail."""

    number: str
    status: str
    tier: str
    language: str
    customer_address: str
    reaction_due: datetime
    resolution_due: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    assignee: str = ""
    contract_id: str | None = None
    unverified_contract_id: str | None = None
    follows: str | None = None


@dataclass(frozen=True)
class FollowupDesk:
    """The desk as the decision needs it: its policy, the key that signs our Message-IDs,
    the staff list in its configured order (whom notices go to, in that order), its name."""

    policy: DeskPolicy
    token_key: bytes
    staff_addresses: tuple[str, ...]
    support_name: str


@dataclass(frozen=True)
class FollowupFacts:
    """What the shell looks up before deciding.

    ``sent_to``: whom each of our mails named by the answer's signed ids went to
    (``mailbot.core.identity.signed_references``); ``contract``: the ticket's contract, if
    it has one; ``unverified_told``: whether ``unverified_recipients`` were already sent a
    ``staff_unverified`` mail about this ticket; ``confirm_tier``: the tier the ticket's
    unverified contract gives ("" when it has none or the contract is gone).
    """

    now: datetime
    sent_to: Mapping[str, frozenset[str]] = field(default_factory=dict)
    contract: Contract | None = None
    unverified_told: bool = False
    confirm_tier: str = ""


# --- what the decision says --------------------------------------------------


@dataclass(frozen=True)
class Note:
    """How the mail is kept on the ticket."""

    author: str  # "customer" or "staff"
    internal: bool
    text: str


@dataclass(frozen=True)
class SetStatus:
    status: TicketStatus
    by: str
    by_staff: bool


@dataclass(frozen=True)
class UpdateField:
    """``#status``, ``#tier`` or ``#assign``, as ``mailbot tickets set`` changes them."""

    name: str  # status, tier, assignee
    value: str
    by: str


@dataclass(frozen=True)
class AddTime:
    minutes: int
    by: str
    note: str


@dataclass(frozen=True)
class SetFlag:
    flag: str  # express, unjustified
    by: str


@dataclass(frozen=True)
class ConfirmContract:
    """The ticket becomes its unverified contract's, at that contract's tier."""

    contract_id: str
    tier: Tier
    by: str


TicketChange = SetStatus | UpdateField | AddTime | SetFlag | ConfirmContract


@dataclass(frozen=True)
class ToCustomer:
    """``notice``, to the ticket's customer."""

    notice: Notice
    kind: str | None = None  # the outbox kind, when it is not the template's name
    auto: bool = True  # written by a program on its own (RFC 3834), under the hourly cap
    sender_name: str = ""


@dataclass(frozen=True)
class ToStaff:
    notice: Notice
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class FollowupDecision:
    """Store ``note``, apply ``changes`` in order, then queue ``notices`` in order: a
    relay's status line and a ``status_*`` mail tell the status the commands set."""

    note: Note
    summary: str
    changes: tuple[TicketChange, ...] = ()
    notices: tuple[ToCustomer | ToStaff, ...] = ()
    warning: str = ""  # for the log, when the mail deserves an administrator's look


# --- the decision ------------------------------------------------------------


def decide_followup(
    mail: InboundMail, *, ticket: TicketSnapshot, desk: FollowupDesk, facts: FollowupFacts
) -> FollowupDecision:
    """What ``mail``, which ``mailbot.core.decide`` joined to ``ticket``, does."""
    sender = mail.from_address or ""
    text = strip_quoted(mail.body_text)
    staff = desk.policy.is_staff(sender)
    # Robots first, staff's too: a technician's out-of-office answering our
    # notification must not be relayed to the customer, count as the reaction,
    # or start a loop with the customer's own autoresponder. Staff's robots are
    # recognised by their wording too: many send none of RFC 3834's headers.
    robot = robot_reason(mail, own_addresses=desk.policy.own_addresses)
    if robot is None and staff:
        robot = autoreply_wording(mail.subject, text)
    if robot:
        author = "staff" if staff else "customer"
        return FollowupDecision(
            Note(author, True, f"automatic mail: {robot}"),
            f"automatic mail kept as a note ({robot})",
        )
    if staff:
        proof = staff_proof(
            mail,
            number=ticket.number,
            policy=desk.policy,
            key=desk.token_key,
            sent_to=facts.sent_to,
        )
        if proof is None:
            return _unproven_staff_mail(ticket, desk, sender, told_before=facts.unverified_told)
        return _staff_mail(ticket, desk, mail, text)
    if ticket.unverified_contract_id and confirms_address(
        mail, text, number=ticket.number, key=desk.token_key
    ):
        return _confirm_address(ticket, desk, facts.confirm_tier)
    return _customer_mail(ticket, desk, mail, text, facts)


def unverified_recipients(sender: str, staff_addresses: Sequence[str]) -> tuple[str, ...]:
    """Who hears of a staff-looking mail without proof: a listed address itself; for any
    other address of a staff domain the listed staff: our notice must never go where a
    forger chose."""
    return (sender,) if sender in staff_addresses else tuple(staff_addresses)


def staff_recipients(assignee: str, staff_addresses: Sequence[str]) -> tuple[str, ...]:
    """The ticket's assignee, else the staff list."""
    return (assignee,) if assignee else tuple(staff_addresses)


def _unproven_staff_mail(
    ticket: TicketSnapshot, desk: FollowupDesk, sender: str, *, told_before: bool
) -> FollowupDecision:
    """A mail from a staff address with no proof: kept as a note, nothing else. The address
    it claims is told once per ticket, so that a real staff member who wrote a fresh mail
    learns to answer the notification (our mail to them is the proof they lack)."""
    authserv = desk.policy.authserv_id
    note = Note("staff", True, "unverified staff mail: no proof of its sender")
    warning = (
        f"{ticket.number}: a mail claiming to be from staff {sender} has no proof (not an"
        f" answer to our mail to staff"
        f"{f', no DMARC/DKIM pass from {authserv}' if authserv else ''});"
        " kept as a note, nothing relayed or changed"
    )
    summary = f"unverified staff mail from {sender} kept as an internal note"
    told = unverified_recipients(sender, desk.staff_addresses)
    if not told or told_before:
        return FollowupDecision(note, summary, warning=warning)
    notice = ToStaff(StaffUnverified(sender=sender, authserv_id=authserv), told)
    return FollowupDecision(
        note, f"{summary}; {', '.join(told)} told", notices=(notice,), warning=warning
    )


def _confirm_address(ticket: TicketSnapshot, desk: FollowupDesk, tier: str) -> FollowupDecision:
    """The customer answered our acknowledgement with "potwierdzam": the address is theirs,
    so the ticket gets its contract's tier, deadlines from its receipt, and staff are told."""
    contract_id = ticket.unverified_contract_id
    assert contract_id is not None
    note = Note("customer", False, f"address confirmed for contract {contract_id}")
    if not tier:  # the contract was removed meanwhile: nothing to give
        return FollowupDecision(
            note, f"confirmation for contract {contract_id}, which no longer exists"
        )
    change = ConfirmContract(contract_id, Tier(tier), by=ticket.customer_address)
    to = staff_recipients(ticket.assignee, desk.staff_addresses)
    confirmed = StaffConfirmed(contract=contract_id, tier_label=StaffTier(tier))
    return FollowupDecision(
        note,
        f"{ticket.customer_address} confirmed the address: contract {contract_id}, tier {tier}",
        changes=(change,),
        notices=(ToStaff(confirmed, to),) if to else (),
    )


# "STATUS [SOL-12]" (after any Re:), not "Status of my printer".
_STATUS_SUBJECT = re.compile(r"^\s*((re|odp|aw)\s*:\s*)*status\s*\[[^\]]+\]\s*$", re.IGNORECASE)


def is_status_query(mail: InboundMail, text: str) -> bool:
    """The customer asks where their ticket stands: "status" alone, or a STATUS subject."""
    words = text.strip().strip(".?!").lower()
    if _STATUS_SUBJECT.match(mail.subject) is not None:
        return words in ("", "status", "stan")  # a real answer under that subject is an answer
    return words in ("status", "stan")


def belongs(ticket: TicketSnapshot, contract: Contract | None, sender: str) -> bool:
    """Whether ``sender`` may hear about ``ticket``: its customer, or an address of its
    contract (``contract``, the ticket's)."""
    if sender == ticket.customer_address:
        return True
    return contract is not None and (
        sender in contract.addresses or sender.rpartition("@")[2] in contract.domains
    )


def _customer_mail(
    ticket: TicketSnapshot,
    desk: FollowupDesk,
    mail: InboundMail,
    text: str,
    facts: FollowupFacts,
) -> FollowupDecision:
    sender = mail.from_address or ""
    if is_status_query(mail, text) and belongs(ticket, facts.contract, sender):
        reply = status_reply(ticket, tz=desk.policy.tz, now=facts.now)
        return FollowupDecision(
            Note("customer", False, "status question"),
            "status question answered",
            notices=(ToCustomer(reply),),
        )
    summary = "customer follow-up"
    changes: tuple[TicketChange, ...] = ()
    notices: tuple[ToCustomer | ToStaff, ...] = ()
    reopening = ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    if ticket.status in (TicketStatus.WAITING, TicketStatus.RESOLVED, TicketStatus.CLOSED):
        changes = (SetStatus(TicketStatus.OPEN, by=sender, by_staff=False),)
        summary += "; reopened" if reopening else "; back to open, SLA clock running"
    if reopening:
        notices = (ToCustomer(StatusReopened()),)
    to = staff_recipients(ticket.assignee, desk.staff_addresses)
    if to:
        followup = staff_announcement(StaffFollowup, ticket, facts.contract, mail, text)
        notices += (ToStaff(followup, to),)
    return FollowupDecision(
        Note("customer", False, ""),
        summary + ("; staff notified" if to else "; no staff address to notify"),
        changes=changes,
        notices=notices,
    )


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as the company's clock shows it, e.g. 2026-11-25 11:30 CET."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def status_reply(ticket: TicketSnapshot, *, tz: ZoneInfo, now: datetime) -> StatusReply:
    """The answer to "status": the status, each deadline met or due, the last activity (the
    question itself, kept on the ticket just before the answer is queued)."""
    return StatusReply(
        status_label=StatusName(ticket.status),
        reaction_state=_state(ticket.first_response_at, ticket.reaction_due, tz),
        resolution_state=_state(ticket.resolved_at, ticket.resolution_due, tz),
        last_activity=local_time(now, tz),
    )


def _state(met: datetime | None, due: datetime, tz: ZoneInfo) -> Met | Due:
    return Met(local_time(met, tz)) if met else Due(local_time(due, tz))


def staff_announcement(
    notice: type[StaffAnnouncement],
    ticket: TicketSnapshot,
    contract: Contract | None,
    mail: InboundMail,
    text: str,
) -> StaffAnnouncement:
    """``staff_new`` or ``staff_followup``: the customer's mail, shown to staff."""
    return notice(
        marker=NOTIFICATION_MARKER,
        tier_label=StaffTier(ticket.tier),
        contract_customer=contract.customer if contract else "",
        procedures=contract.procedures if contract and ticket.tier == "vip" else "",
        attachments=tuple(a.filename for a in mail.attachments),
        text=text or NoText(),
        follows=ticket.follows or "",
        unparsed=mail.unparsed,
        lenient_from=mail.lenient_from,
    )


def _staff_mail(
    ticket: TicketSnapshot, desk: FollowupDesk, mail: InboundMail, text: str
) -> FollowupDecision:
    sender = mail.from_address or ""
    parsed = parse_reply(text, is_staff=desk.policy.is_staff)
    if parsed.errors:
        notice = ToStaff(StaffError(errors=parsed.errors), (sender,))
        return FollowupDecision(
            Note("staff", True, "command errors: " + "; ".join(parsed.errors)),
            f"staff reply with command errors, kept as a note; {sender} told",
            notices=(notice,),
        )
    internal = parsed.internal or not parsed.body.strip()
    note = Note("staff", internal, " ".join(f"#{c.name} {c.arg}".strip() for c in parsed.commands))
    changes, status_set = _command_changes(ticket, parsed, sender=sender)
    status_note = f"; status {status_set}" if status_set else ""
    if internal:
        # A status set by commands alone is news for the customer; an #internal one is not.
        told = status_set and not parsed.internal
        return FollowupDecision(
            note,
            f"staff reply by {sender}, not relayed{status_note}",
            changes=changes,
            notices=(ToCustomer(STATUS_NOTICES[status_set]()),) if told else (),
        )
    return FollowupDecision(
        note,
        f"staff reply by {sender} relayed to {ticket.customer_address}{status_note}",
        changes=changes,
        notices=(_relay(ticket, desk, mail, parsed, status_set),),
    )


def _relay(
    ticket: TicketSnapshot, desk: FollowupDesk, mail: InboundMail, parsed: ParsedReply, status: str
) -> ToCustomer:
    """The staff member's words to the customer, from the desk, with the status they set.
    Signed with the staff member's name; a From without one signs as the desk, since the
    staff address is not the customer's to know (the desk is where they answer)."""
    staff_name = mail.from_name or desk.support_name
    relay = Relay(
        text=parsed.body.strip(),
        staff_name=staff_name,
        status_line=StatusName(status) if status else "",
    )
    return ToCustomer(
        relay,
        kind="relay",
        auto=False,
        sender_name=f"{staff_name} ({desk.support_name})" if mail.from_name else staff_name,
    )


def _command_changes(
    ticket: TicketSnapshot, parsed: ParsedReply, *, sender: str
) -> tuple[tuple[TicketChange, ...], str]:
    """The commands' changes, and the status the last ``#status`` set (or ""). The reply
    itself is a staff action: it meets the reaction deadline and a new ticket becomes open."""
    changes = tuple(
        change for command in parsed.commands if (change := _change(command, sender)) is not None
    )
    status_set = next((c.arg for c in reversed(parsed.commands) if c.name == "status"), "")
    if not status_set:
        target = (
            TicketStatus.OPEN if ticket.status == TicketStatus.NEW else TicketStatus(ticket.status)
        )
        changes += (SetStatus(target, by=sender, by_staff=True),)
    return changes, status_set


def _change(command: Command, sender: str) -> TicketChange | None:
    if command.name in ("status", "tier"):
        return UpdateField(command.name, command.arg, by=sender)
    if command.name == "assign":
        return UpdateField("assignee", command.arg, by=sender)
    if command.name == "time":
        return AddTime(work_minutes(command.arg), by=sender, note="#time in a reply")
    if command.name in ("express", "unjustified"):
        return SetFlag(command.name, by=sender)
    return None  # #internal changes nothing on the ticket
