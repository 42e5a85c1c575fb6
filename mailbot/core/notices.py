"""The mails mailbot writes, declared: one frozen value per template, with what it shows.

A notice's type names its template (``<language>/<template>.txt.j2``); its fields
are the variables that template is given besides the ticket's own
(``TicketFields``, which every ticket template may use). Wording that depends on
the language (a tier's or a status's name, "met" or "due", the stand-in for an
empty text) is a ``Label``: the templates folder says it, in the macro of the
same name in ``<language>/_labels.txt.j2``, so a translation or a custom
wording is a template edit, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar

# The outbox kinds of mails to staff: the staff_* notices, reminders and escalations. A
# refusal of one is not reported to staff (its report could be refused too), and in a
# backlog they leave after the customers' mails (``usecases.outbox``).
STAFF_KIND_PREFIX = "staff_"
STAFF_KINDS = frozenset({"reminder", "escalation"})


def goes_to_staff(kind: str) -> bool:
    """Whether an outbox mail of ``kind`` is for staff rather than for a customer."""
    return kind.startswith(STAFF_KIND_PREFIX) or kind in STAFF_KINDS


# --- labels: worded by the templates ------------------------------------------


@dataclass(frozen=True)
class Label:
    """Wording the templates own: their labels macro ``macro`` called with the fields."""

    macro: ClassVar[str]

    def args(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class StaffTier(Label):
    """A tier as staff mail names it ("gwarancja")."""

    macro: ClassVar[str] = "staff_tier"
    tier: str


@dataclass(frozen=True)
class CustomerTier(Label):
    """A tier as a customer's acknowledgement names it ("gwarancyjnej"); "" for none."""

    macro: ClassVar[str] = "customer_tier"
    tier: str


@dataclass(frozen=True)
class StatusName(Label):
    macro: ClassVar[str] = "status"
    status: str


@dataclass(frozen=True)
class Met(Label):
    """A deadline met at ``at`` (local time)."""

    macro: ClassVar[str] = "met"
    at: str


@dataclass(frozen=True)
class Due(Label):
    """A deadline still to meet, at ``at`` (local time)."""

    macro: ClassVar[str] = "due"
    at: str


@dataclass(frozen=True)
class NoText(Label):
    """What staff see for a mail without text."""

    macro: ClassVar[str] = "no_text"


# --- what every ticket template may use ---------------------------------------


@dataclass(frozen=True)
class TicketFields:
    """The ticket's own variables, as ``mailbot.usecases.mail_queue.base_context`` fills them
    when the mail is queued (after the changes that caused it)."""

    number: str
    tag: str
    subject: str
    customer: str
    customer_name: str
    reaction_due: str
    resolution_due: str
    status: str
    reopen_days: int
    support_name: str
    support_address: str


@dataclass(frozen=True)
class Notice:
    """A mail of template ``template``; the subclasses add what that template shows."""

    template: ClassVar[str]

    def variables(self) -> dict[str, Any]:
        """The fields by name, labels not yet worded (the renderer does that)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- to customers -------------------------------------------------------------


@dataclass(frozen=True)
class Ack(Notice):
    """A new ticket's acknowledgement; ``confirm_tier_label`` names the tier an unverified
    sender's contract gives when they confirm (``CustomerTier("")`` when there is none)."""

    contract_customer: str
    confirm_tier_label: CustomerTier
    tier: str
    hourly_rate: Decimal
    vat_percent: Decimal
    # The customer's status page ({base_url}/t/{token}); "" when [web] base_url is unset.
    status_link: str = ""
    # Express service (post-warranty): its resolution deadline is the express one.
    express: bool = False


@dataclass(frozen=True)
class AckVip(Ack):
    template: ClassVar[str] = "ack_vip"


@dataclass(frozen=True)
class AckWarranty(Ack):
    template: ClassVar[str] = "ack_warranty"


@dataclass(frozen=True)
class AckPostWarranty(Ack):
    template: ClassVar[str] = "ack_post_warranty"


ACKS: dict[str, type[Ack]] = {
    "vip": AckVip,
    "warranty": AckWarranty,
    "post_warranty": AckPostWarranty,
}


@dataclass(frozen=True)
class Relay(Notice):
    """A staff member's reply, sent on; ``status_line`` names the status they set, or ""."""

    template: ClassVar[str] = "relay"
    text: str
    staff_name: str
    status_line: StatusName | str


@dataclass(frozen=True)
class StatusOpen(Notice):
    template: ClassVar[str] = "status_open"
    status_link: str = ""


@dataclass(frozen=True)
class StatusWaiting(Notice):
    template: ClassVar[str] = "status_waiting"
    status_link: str = ""


@dataclass(frozen=True)
class StatusResolved(Notice):
    template: ClassVar[str] = "status_resolved"
    status_link: str = ""


@dataclass(frozen=True)
class StatusClosed(Notice):
    template: ClassVar[str] = "status_closed"
    status_link: str = ""


@dataclass(frozen=True)
class StatusReopened(Notice):
    template: ClassVar[str] = "status_reopened"
    status_link: str = ""


STATUS_NOTICES: dict[str, type[Notice]] = {
    "open": StatusOpen,
    "waiting": StatusWaiting,
    "resolved": StatusResolved,
    "closed": StatusClosed,
}


@dataclass(frozen=True)
class StatusReply(Notice):
    """The answer to a customer's "status"."""

    template: ClassVar[str] = "status_reply"
    status_label: StatusName
    reaction_state: Met | Due
    resolution_state: Met | Due
    last_activity: str
    status_link: str = ""


@dataclass(frozen=True)
class StatusLink(Notice):
    """A lost status link, sent again to the ticket's customer who asked for it on the web."""

    template: ClassVar[str] = "status_link"
    status_link: str


# --- to staff -----------------------------------------------------------------


@dataclass(frozen=True)
class StaffAnnouncement(Notice):
    """A customer's mail, shown to staff: a new ticket's or a follow-up's."""

    marker: str
    tier_label: StaffTier
    contract_customer: str
    procedures: str
    attachments: tuple[str, ...]
    text: str | NoText
    follows: str
    unparsed: str  # why only the fallback reader read the mail, or ""
    lenient_from: str = ""  # From as written when the sender was read leniently, or ""


@dataclass(frozen=True)
class StaffNew(StaffAnnouncement):
    template: ClassVar[str] = "staff_new"


@dataclass(frozen=True)
class StaffFollowup(StaffAnnouncement):
    template: ClassVar[str] = "staff_followup"


@dataclass(frozen=True)
class Alert(Notice):
    """A deadline's reminder or escalation."""

    contract_customer: str
    tier_label: StaffTier
    kind: str  # reaction, resolution
    due: str
    planned_at: str
    left: str
    overdue: str
    late: bool


@dataclass(frozen=True)
class Reminder(Alert):
    template: ClassVar[str] = "reminder"


@dataclass(frozen=True)
class Escalation(Alert):
    template: ClassVar[str] = "escalation"


@dataclass(frozen=True)
class StaffError(Notice):
    template: ClassVar[str] = "staff_error"
    errors: tuple[str, ...]


@dataclass(frozen=True)
class StaffUnverified(Notice):
    """A staff-looking mail without proof."""

    template: ClassVar[str] = "staff_unverified"
    sender: str
    authserv_id: str


@dataclass(frozen=True)
class StaffHeld(Notice):
    """A mail to the customer held at the ticket's hourly cap."""

    template: ClassVar[str] = "staff_held"
    cap: int


@dataclass(frozen=True)
class StaffConfirmed(Notice):
    template: ClassVar[str] = "staff_confirmed"
    contract: str
    tier_label: StaffTier


@dataclass(frozen=True)
class StaffBounce(Notice):
    template: ClassVar[str] = "staff_bounce"
    recipients: str
    kind: str
    diagnosis: str
    bounced_message_id: str


@dataclass(frozen=True)
class StaffUnverifiedSender(Notice):
    """A new ticket from a contract's address that our mail server did not vouch for."""

    template: ClassVar[str] = "staff_unverified_sender"
    sender: str
    contract: str
    tier: str
    tier_label: StaffTier
    authserv_id: str
    # The sender was read leniently from a From RFC 5322 cannot read: nothing could confirm it.
    lenient: bool = False


@dataclass(frozen=True)
class StaffOAuth2Refused(Notice):
    """The OAuth2 token endpoint refused for good (issue 16): mailbot cannot log in to
    ``servers`` until an admin acts. ``reason``: the provider's own code and words;
    ``fix``: what to do (``core.oauth2.refusal_fix``)."""

    template: ClassVar[str] = "staff_oauth2_refused"
    servers: str
    code: str
    reason: str
    fix: str
    since: str


@dataclass(frozen=True)
class WebConfirm(Notice):
    """The link that confirms a web form's e-mail address (issue 15): the ticket opens when
    it is followed, within ``hours``."""

    template: ClassVar[str] = "web_confirm"
    link: str
    name: str
    hours: int


def every_notice() -> tuple[type[Notice], ...]:
    """Each template's notice type, once."""
    return (
        AckVip, AckWarranty, AckPostWarranty, Relay, StatusOpen, StatusWaiting, StatusResolved,
        StatusClosed, StatusReopened, StatusReply, StatusLink, StaffNew, StaffFollowup, Reminder,
        Escalation, StaffError, StaffUnverified, StaffHeld, StaffConfirmed, StaffBounce,
        StaffUnverifiedSender, StaffOAuth2Refused, WebConfirm,
    )  # fmt: skip
