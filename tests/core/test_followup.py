"""The follow-up decision, from plain values: every outcome a mail joining a ticket has."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbot.core.calendar import ALWAYS, WorkingDuration
from mailbot.core.contracts import Contract
from mailbot.core.decide import DeskPolicy
from mailbot.core.followup import (
    AddTime,
    ConfirmContract,
    FollowupDecision,
    FollowupDesk,
    FollowupFacts,
    Note,
    SetFlag,
    SetStatus,
    TicketChange,
    TicketSnapshot,
    ToCustomer,
    ToStaff,
    UpdateField,
    decide_followup,
)
from mailbot.core.mail import Attachment, InboundMail
from mailbot.core.notices import (
    Due,
    Met,
    NoText,
    Relay,
    StaffConfirmed,
    StaffError,
    StaffFollowup,
    StaffTier,
    StaffUnverified,
    StatusName,
    StatusReopened,
    StatusReply,
    StatusResolved,
)
from mailbot.core.quoting import NOTIFICATION_MARKER
from mailbot.core.sla import TierPolicy
from mailbot.core.tickets import TicketStatus
from mailbot.core.tiers import Tier
from mailbot.core.tokens import CUSTOMER, STAFF, signed_message_id

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
KEY = b"k" * 32
WARSAW = ZoneInfo("Europe/Warsaw")
_TIER = TierPolicy(ALWAYS, WorkingDuration(1), WorkingDuration(5))
POLICY = DeskPolicy(
    ticket_prefix="SOL",
    own_addresses=frozenset({"support@desk.pl"}),
    staff_addresses=frozenset({"boss@desk.pl", "tech@desk.pl"}),
    staff_domains=frozenset({"desk.pl"}),
    tiers=dict.fromkeys(Tier, _TIER),
    tz=WARSAW,
    authserv_id="mx.desk.pl",
)
DESK = FollowupDesk(POLICY, KEY, ("boss@desk.pl", "tech@desk.pl"), "Serwis Desk")
NOBODY = replace(DESK, staff_addresses=())
ACME = Contract(
    "acme", "ACME sp. z o.o.", Tier.VIP, ("szef@gmail.com",), ("acme.pl",),
    date(2025, 1, 1), procedures="Dzwonić do Jana.",
)  # fmt: skip
TICKET = TicketSnapshot(
    number="SOL-7",
    status="open",
    tier="vip",
    language="pl",
    customer_address="jan@acme.pl",
    reaction_due=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
    resolution_due=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
    contract_id="acme",
)
FACTS = FollowupFacts(now=NOW, contract=ACME)
STAFF_ID = signed_message_id(
    KEY, number="SOL-7", kind="staff_followup", audience=STAFF, nonce="ab12", domain="desk.pl"
)
ACK_ID = signed_message_id(
    KEY, number="SOL-7", kind="ack", audience=CUSTOMER, nonce="cd34", domain="desk.pl"
)
# Our staff_followup mail went to tech@desk.pl: an answer to it from there is the proof.
PROVEN = replace(FACTS, sent_to={STAFF_ID: frozenset({"tech@desk.pl"})})


def customer(body: str, **fields: object) -> InboundMail:
    values: dict[str, object] = {
        "message_id": "<c1@acme.pl>",
        "from_address": "jan@acme.pl",
        "from_name": "Jan Kowalski",
        "subject": "Re: [SOL-7] Drukarka",
        "date": NOW,
        "to": ("support@desk.pl",),
        "body_text": body,
    }
    return InboundMail(**{**values, **fields})  # type: ignore[arg-type]


def staff(body: str, *, sender: str = "tech@desk.pl", **fields: object) -> InboundMail:
    """A staff member's answer to our notification (the proof, with ``PROVEN``)."""
    values = {"from_name": "Tomasz Technik", "in_reply_to": STAFF_ID, **fields}
    return customer(body, message_id="<s1@desk.pl>", from_address=sender, **values)


def decide(
    mail: InboundMail,
    ticket: TicketSnapshot = TICKET,
    facts: FollowupFacts = FACTS,
    desk: FollowupDesk = DESK,
) -> FollowupDecision:
    return decide_followup(mail, ticket=ticket, desk=desk, facts=facts)


def followup_notice(text: str | NoText, **extra: object) -> ToStaff:
    values: dict[str, object] = {
        "marker": NOTIFICATION_MARKER, "tier_label": StaffTier("vip"),
        "contract_customer": "ACME sp. z o.o.", "procedures": "Dzwonić do Jana.",
        "attachments": (), "text": text, "follows": "", "unparsed": "", **extra,
    }  # fmt: skip
    notice = StaffFollowup(**values)  # type: ignore[arg-type]
    return ToStaff(notice, ("boss@desk.pl", "tech@desk.pl"))


# --- robots ------------------------------------------------------------------


def test_a_customers_robot_is_a_note_and_nothing_else() -> None:
    decision = decide(customer("Jestem na urlopie.", auto_submitted="auto-replied"))
    assert decision == FollowupDecision(
        Note("customer", True, "automatic mail: Auto-Submitted: auto-replied"),
        "automatic mail kept as a note (Auto-Submitted: auto-replied)",
    )


def test_a_staff_robot_is_known_by_its_wording_even_with_proof() -> None:
    decision = decide(staff("Dzień dobry", subject="Automatyczna odpowiedź: [SOL-7]"), facts=PROVEN)
    reason = "automatic answer by its subject 'Automatyczna odpowiedź: [SOL-7]'"
    assert decision == FollowupDecision(
        Note("staff", True, f"automatic mail: {reason}"),
        f"automatic mail kept as a note ({reason})",
    )


def test_a_customers_wording_alone_is_no_robot() -> None:
    decision = decide(customer("Dzień dobry", subject="Automatyczna odpowiedź: [SOL-7]"))
    assert decision.summary == "customer follow-up; staff notified"


# --- staff without proof -----------------------------------------------------

UNPROVEN_NOTE = Note("staff", True, "unverified staff mail: no proof of its sender")


def _warning(sender: str) -> str:
    return (
        f"SOL-7: a mail claiming to be from staff {sender} has no proof (not an answer to our"
        " mail to staff, no DMARC/DKIM pass from mx.desk.pl); kept as a note, nothing relayed"
        " or changed"
    )


@pytest.mark.parametrize(
    ("sender", "desk", "told_before", "told"),
    [
        ("tech@desk.pl", DESK, False, ("tech@desk.pl",)),  # a listed address hears of it
        ("x@desk.pl", DESK, False, ("boss@desk.pl", "tech@desk.pl")),  # else the staff list
        ("tech@desk.pl", DESK, True, ()),  # once per ticket
        ("x@desk.pl", NOBODY, False, ()),  # nobody to tell
    ],
)
def test_staff_mail_without_proof_is_a_note_and_the_claimed_address_is_told_once(
    sender: str, desk: FollowupDesk, told_before: bool, told: tuple[str, ...]
) -> None:
    facts = replace(FACTS, unverified_told=told_before)
    decision = decide(staff("#status closed\nZamykam.", sender=sender), facts=facts, desk=desk)
    summary = f"unverified staff mail from {sender} kept as an internal note"
    notice = StaffUnverified(sender=sender, authserv_id="mx.desk.pl")
    assert decision == FollowupDecision(
        UNPROVEN_NOTE,
        f"{summary}; {', '.join(told)} told" if told else summary,
        notices=(ToStaff(notice, told),) if told else (),
        warning=_warning(sender),
    )


def test_a_token_that_went_to_someone_else_proves_nothing() -> None:
    facts = replace(FACTS, sent_to={STAFF_ID: frozenset({"boss@desk.pl"})})
    assert decide(staff("Gotowe."), facts=facts).note == UNPROVEN_NOTE


def test_without_authserv_id_the_warning_names_no_dmarc() -> None:
    desk = replace(DESK, policy=replace(POLICY, authserv_id=""))
    assert decide(staff("Gotowe."), desk=desk).warning == (
        "SOL-7: a mail claiming to be from staff tech@desk.pl has no proof (not an answer to"
        " our mail to staff); kept as a note, nothing relayed or changed"
    )


# --- the unverified sender's confirmation ------------------------------------

UNVERIFIED = replace(TICKET, contract_id=None, tier="post_warranty", unverified_contract_id="acme")


def test_a_confirmation_gives_the_ticket_its_contract_and_tells_staff() -> None:
    mail = customer("Potwierdzam\n\n> Prosimy o potwierdzenie", in_reply_to=ACK_ID)
    decision = decide(mail, UNVERIFIED, replace(FACTS, contract=None, confirm_tier="vip"))
    assert decision == FollowupDecision(
        Note("customer", False, "address confirmed for contract acme"),
        "jan@acme.pl confirmed the address: contract acme, tier vip",
        changes=(ConfirmContract("acme", Tier.VIP, by="jan@acme.pl"),),
        notices=(
            ToStaff(
                StaffConfirmed(contract="acme", tier_label=StaffTier("vip")),
                ("boss@desk.pl", "tech@desk.pl"),
            ),
        ),
    )


def test_a_confirmation_for_a_removed_contract_changes_nothing() -> None:
    mail = customer("potwierdzam", in_reply_to=ACK_ID)
    decision = decide(mail, UNVERIFIED, replace(FACTS, contract=None, confirm_tier=""))
    assert decision == FollowupDecision(
        Note("customer", False, "address confirmed for contract acme"),
        "confirmation for contract acme, which no longer exists",
    )


def test_a_confirmation_not_answering_our_mail_is_a_follow_up() -> None:
    decision = decide(customer("potwierdzam"), UNVERIFIED, replace(FACTS, confirm_tier="vip"))
    assert decision.summary == "customer follow-up; staff notified"
    assert decision.changes == ()


# --- status questions --------------------------------------------------------

STATUS_REPLY = StatusReply(
    status_label=StatusName("open"),
    reaction_state=Due("2026-11-25 11:00 CET"),
    resolution_state=Due("2026-11-27 10:00 CET"),
    last_activity="2026-11-25 10:00 CET",  # the question itself
)


@pytest.mark.parametrize(
    ("sender", "subject", "body"),
    [
        ("jan@acme.pl", "Re: [SOL-7] Drukarka", "status"),  # the customer
        ("ewa@acme.pl", "STATUS [SOL-7]", ""),  # the contract's domain
        ("szef@gmail.com", "Re: STATUS [SOL-7]", "Stan?"),  # the contract's address
    ],
)
def test_a_status_question_from_the_tickets_people_is_answered(
    sender: str, subject: str, body: str
) -> None:
    decision = decide(customer(body, from_address=sender, subject=subject))
    assert decision == FollowupDecision(
        Note("customer", False, "status question"),
        "status question answered",
        notices=(ToCustomer(STATUS_REPLY),),
    )


def test_the_status_answer_tells_met_deadlines() -> None:
    ticket = replace(
        TICKET,
        status="resolved",
        language="en",
        first_response_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
        resolved_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )
    (notice,) = decide(customer("status"), ticket).notices
    assert notice == ToCustomer(
        StatusReply(
            status_label=StatusName("resolved"),
            reaction_state=Met("2026-11-25 10:30 CET"),
            resolution_state=Met("2026-11-26 13:00 CET"),
            last_activity="2026-11-25 10:00 CET",
        )
    )


def test_a_status_question_from_a_stranger_is_a_plain_follow_up() -> None:
    decision = decide(customer("status", from_address="obcy@gmail.com"))
    assert decision == FollowupDecision(
        Note("customer", False, ""),
        "customer follow-up; staff notified",
        notices=(followup_notice("status"),),
    )


# --- customer follow-ups -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "changes", "summary", "reopened"),
    [
        ("new", (), "customer follow-up", False),
        ("open", (), "customer follow-up", False),
        ("waiting", (TicketStatus.OPEN,), "customer follow-up; back to open, SLA clock running",
         False),
        ("resolved", (TicketStatus.OPEN,), "customer follow-up; reopened", True),
        ("closed", (TicketStatus.OPEN,), "customer follow-up; reopened", True),
    ],
)  # fmt: skip
def test_a_customers_answer_resumes_or_reopens_and_staff_hear_of_it(
    status: str, changes: tuple[TicketStatus, ...], summary: str, reopened: bool
) -> None:
    decision = decide(
        customer("Nadal nie działa.\n\n> stary tekst"), replace(TICKET, status=status)
    )
    reopen = (ToCustomer(StatusReopened()),) if reopened else ()
    assert decision == FollowupDecision(
        Note("customer", False, ""),
        f"{summary}; staff notified",
        changes=tuple(SetStatus(s, by="jan@acme.pl", by_staff=False) for s in changes),
        notices=(*reopen, followup_notice("Nadal nie działa.")),
    )


def test_the_assignee_alone_hears_of_a_follow_up() -> None:
    ticket = replace(TICKET, assignee="boss@desk.pl", tier="warranty", follows="SOL-3")
    (notice,) = decide(customer(""), ticket, replace(FACTS, contract=None)).notices
    assert notice == ToStaff(
        StaffFollowup(
            marker=NOTIFICATION_MARKER, tier_label=StaffTier("warranty"), contract_customer="",
            procedures="", attachments=(), text=NoText(), follows="SOL-3", unparsed="",
        ),
        ("boss@desk.pl",),
    )  # fmt: skip


def test_the_follow_up_notice_names_attachments_and_why_the_mail_was_unparsed() -> None:
    attachment = Attachment("log.txt", "text/plain", b"x")
    mail = customer("Log w załączniku.", attachments=(attachment,), unparsed="parse deadline")
    (notice,) = decide(mail).notices
    assert notice == followup_notice(
        "Log w załączniku.", attachments=("log.txt",), unparsed="parse deadline"
    )


def test_a_follow_up_with_nobody_to_tell() -> None:
    decision = decide(customer("Halo?"), replace(TICKET, status="waiting"), desk=NOBODY)
    assert decision == FollowupDecision(
        Note("customer", False, ""),
        "customer follow-up; back to open, SLA clock running; no staff address to notify",
        changes=(SetStatus(TicketStatus.OPEN, by="jan@acme.pl", by_staff=False),),
    )


# --- staff replies -----------------------------------------------------------

BY = "tech@desk.pl"


def test_a_staff_reply_with_command_errors_changes_nothing_and_tells_the_sender() -> None:
    decision = decide(staff("#status later\n#time 90h\nGotowe."), facts=PROVEN)
    errors = (
        "#status: expected one of open, waiting, resolved, closed",
        '#time: expected a duration from 1 minute to 24 hours, like "1h30m", "90m" or "1.5h",'
        " got '90h'",
    )
    assert decision == FollowupDecision(
        Note("staff", True, "command errors: " + "; ".join(errors)),
        f"staff reply with command errors, kept as a note; {BY} told",
        notices=(ToStaff(StaffError(errors), (BY,)),),
    )


def test_assigning_a_stranger_is_a_command_error() -> None:
    decision = decide(staff("#assign obcy@gmail.com\nPrzekazuję."), facts=PROVEN)
    assert decision.notices == (
        ToStaff(StaffError(("#assign: obcy@gmail.com is not a staff address",)), (BY,)),
    )


def relay(text: str, status: str = "") -> ToCustomer:
    notice = Relay(text, "Tomasz Technik", StatusName(status) if status else "")
    return ToCustomer(notice, kind="relay", auto=False, sender_name="Tomasz Technik (Serwis Desk)")


@pytest.mark.parametrize(
    ("status", "body", "note", "summary", "changes", "notices"),
    [
        # A reply meets the reaction deadline: a new ticket becomes open, an open one stays.
        ("new", "Sprawdzę to.", "", " relayed to jan@acme.pl",
         (SetStatus(TicketStatus.OPEN, BY, True),), (relay("Sprawdzę to."),)),
        ("waiting", "Sprawdzę to.", "", " relayed to jan@acme.pl",
         (SetStatus(TicketStatus.WAITING, BY, True),), (relay("Sprawdzę to."),)),
        ("open", "#status waiting\nProszę o numer seryjny.", "#status waiting",
         " relayed to jan@acme.pl; status waiting", (UpdateField("status", "waiting", BY),),
         (relay("Proszę o numer seryjny.", "waiting"),)),
        # Commands alone: the customer hears of a new status, not of anything else.
        ("open", "#status resolved", "#status resolved", ", not relayed; status resolved",
         (UpdateField("status", "resolved", BY),), (ToCustomer(StatusResolved()),)),
        ("new", "#time 1h30m\n\n", "#time 1h30m", ", not relayed",
         (AddTime(90, BY, "#time in a reply"), SetStatus(TicketStatus.OPEN, BY, True)), ()),
        # #internal: a note for staff, whatever it changes.
        ("open", "#internal\nKlient marudzi.", "#internal", ", not relayed",
         (SetStatus(TicketStatus.OPEN, BY, True),), ()),
        ("open", "#internal\n#status closed\nSpam.", "#internal #status closed",
         ", not relayed; status closed", (UpdateField("status", "closed", BY),), ()),
    ],
)  # fmt: skip
def test_a_staff_reply_runs_its_commands_and_is_relayed_unless_internal(
    status: str,
    body: str,
    note: str,
    summary: str,
    changes: tuple[TicketChange, ...],
    notices: tuple[ToCustomer | ToStaff, ...],
) -> None:
    decision = decide(staff(body), replace(TICKET, status=status), PROVEN)
    internal = "not relayed" in summary
    assert decision == FollowupDecision(
        Note("staff", internal, note),
        f"staff reply by {BY}{summary}",
        changes=changes,
        notices=notices,
    )


def test_every_command_becomes_a_change_in_its_order() -> None:
    body = (
        "#time 45m\n#express\n#unjustified\n#assign boss@desk.pl\n#tier warranty\n"
        "#status waiting\n#status resolved\n\nNaprawione.\n\n> Drukarka nie działa"
    )
    decision = decide(staff(body), facts=PROVEN)
    assert decision.changes == (
        AddTime(45, BY, "#time in a reply"),
        SetFlag("express", BY),
        SetFlag("unjustified", BY),
        UpdateField("assignee", "boss@desk.pl", BY),
        UpdateField("tier", "warranty", BY),
        UpdateField("status", "waiting", BY),
        UpdateField("status", "resolved", BY),
    )
    assert decision.note == Note(
        "staff",
        False,
        "#time 45m #express #unjustified #assign boss@desk.pl #tier warranty #status waiting"
        " #status resolved",
    )
    # The last #status is the ticket's when the relay is written.
    assert decision.notices == (relay("Naprawione.", "resolved"),)
    assert decision.summary == f"staff reply by {BY} relayed to jan@acme.pl; status resolved"


def test_dmarc_from_the_desks_authserv_is_proof_too() -> None:
    results = ("mx.desk.pl; dmarc=pass header.from=desk.pl",)
    mail = staff("Gotowe.", in_reply_to=None, authentication_results=results)
    decision = decide(mail, facts=FACTS)
    assert decision.summary == f"staff reply by {BY} relayed to jan@acme.pl"


def test_a_staff_member_without_a_name_signs_as_the_desk_not_with_the_address() -> None:
    # The staff address is not the customer's to know: it would show in the relayed mail
    # and on the status page, where issue 15 promises no staff address ever appears.
    (notice,) = decide(staff("Gotowe.", from_name=""), facts=PROVEN).notices
    assert isinstance(notice, ToCustomer) and isinstance(notice.notice, Relay)
    assert notice.notice.staff_name == "Serwis Desk" and notice.sender_name == "Serwis Desk"
    assert BY not in notice.notice.text


def test_times_are_shown_on_the_desks_clock() -> None:
    ticket = replace(TICKET, reaction_due=datetime(2026, 7, 1, 8, 0, tzinfo=UTC))
    (notice,) = decide(customer("status"), ticket, replace(FACTS, now=NOW + timedelta(1))).notices
    assert isinstance(notice, ToCustomer) and isinstance(notice.notice, StatusReply)
    assert notice.notice.reaction_state == Due("2026-07-01 10:00 CEST")
    assert notice.notice.last_activity == "2026-11-26 10:00 CET"
