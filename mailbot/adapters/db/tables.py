"""Database tables (SQLModel rows); SQLite by default, PostgreSQL too.

All times are stored in UTC and come back timezone-aware, whatever the
database does with time zones (SQLite has none).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime, stored as naive UTC, returned as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class CustomerRow(SQLModel, table=True):
    __tablename__ = "customer"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)


class ContractRow(SQLModel, table=True):
    __tablename__ = "contract"
    id: str = Field(primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    tier: str
    valid_from: date
    valid_until: date | None = None
    language: str = ""  # "" for the language the customer writes in (core.language)
    # Billing (issue 6). Amounts are decimal text ("290.00"), so neither database
    # turns them into binary floats; "" means the [billing] setting applies.
    nip: str = ""
    monthly_fee: str = ""
    package_hours: str = "2"
    free_unjustified: int = 4
    hourly_rate: str = ""
    ip_allowlist: str = ""  # space-separated networks
    procedures: str = Field(default="", sa_type=sa.Text)
    phone: str = ""
    billing_email: str = ""
    # Issue 5: NULL means the contract does not say, so its tier's default applies
    # when a mail arrives ([support] vip_requires_authentication for VIP).
    require_authentication: bool | None = None


class ContractAddressRow(SQLModel, table=True):
    """An e-mail address (``is_domain`` False) or a whole domain that belongs to a contract."""

    __tablename__ = "contract_address"
    __table_args__ = (sa.UniqueConstraint("contract_id", "value", "is_domain"),)
    id: int | None = Field(default=None, primary_key=True)
    contract_id: str = Field(foreign_key="contract.id", index=True)
    value: str = Field(index=True)
    is_domain: bool = False


class CounterRow(SQLModel, table=True):
    """Monotonic counters (ticket numbers): incremented in the ticket's transaction."""

    __tablename__ = "counter"
    name: str = Field(primary_key=True)
    value: int = 0


class TicketRow(SQLModel, table=True):
    __tablename__ = "ticket"
    # For the history's size (issue 17; query plans of bench/query_plans.py): the staff board
    # reads tickets by status and /metrics counts them by status and tier; /healthz and
    # `mailbot status` count the overdue ones, a NULL first response or resolution with its
    # deadline passed (one index for each side of that OR).
    __table_args__ = (
        sa.Index("ix_ticket_status_tier", "status", "tier"),
        sa.Index("ix_ticket_reaction_open", "first_response_at", "reaction_due"),
        sa.Index("ix_ticket_resolution_open", "resolved_at", "paused_since", "resolution_due"),
    )
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True)
    seq: int = Field(unique=True)
    customer_id: int | None = Field(default=None, foreign_key="customer.id", index=True)
    contract_id: str | None = Field(default=None, foreign_key="contract.id", index=True)
    tier: str
    status: str
    subject: str
    customer_address: str = Field(index=True)
    customer_name: str = ""
    language: str = "pl"
    received_at: datetime = _utc()
    reaction_due: datetime = _utc()
    resolution_due: datetime = _utc()
    first_response_at: datetime | None = _utc(default=None)
    resolved_at: datetime | None = _utc(default=None)
    # Waiting for the customer since (None: not waiting); and the working time
    # of the waits that ended, which pushes the resolution deadline out.
    paused_since: datetime | None = _utc(default=None)
    paused_seconds: float = 0.0
    assignee: str = ""
    follows: str | None = None  # the earlier ticket a late answer was about
    # The contract the sender's address names when that contract requires an authenticated
    # sender and the mail showed none: the ticket runs at post-warranty until the customer
    # confirms by answering the acknowledgement (mailbot.usecases.followup), then gets its tier.
    unverified_contract_id: str | None = None
    # Binds the ticket's status links (mailbot.core.web_tokens): None until its first link is
    # made; a new nonce revokes every link made before (issue 15).
    link_nonce: str | None = None
    # The earliest reminder or escalation still to come: the sweep reads only
    # tickets whose moment has come, through this index, however many are open.
    next_alert_at: datetime | None = _utc(default=None, index=True)
    updated_at: datetime = _utc()
    # Billing marks set by staff (#express, #unjustified, tickets set): see core/billing.py.
    express: bool = False
    unjustified: bool = Field(default=False, index=True)  # billing reads every one of them
    warranty: bool = False


class SlaEventRow(SQLModel, table=True):
    """What moved a ticket's deadlines, and when: ``tickets show`` explains them from these."""

    __tablename__ = "sla_event"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = _utc()
    kind: (
        str  # received, first_response, paused, resumed, tier_changed, resolved, reopened, express
    )
    detail: str = ""


class TimeEntryRow(SQLModel, table=True):
    """Work recorded on a ticket (``#time`` or ``mailbot time add``): billed by its month."""

    __tablename__ = "time_entry"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    seconds: int
    at: datetime = _utc(index=True)  # when the work was done
    by: str = ""
    note: str = ""
    created_at: datetime = _utc()


class AlertRow(SQLModel, table=True):
    """A reminder or escalation of a ticket, sent or skipped: each key at most once."""

    __tablename__ = "alert"
    __table_args__ = (sa.UniqueConstraint("ticket_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    key: str
    kind: str  # reaction or resolution
    escalation: bool = False
    due_at: datetime = _utc()
    planned_at: datetime = _utc()
    status: str  # queued (in the outbox), skipped, no_recipient
    late: bool = False
    created_at: datetime = _utc()


class MessageRow(SQLModel, table=True):
    """One mail of a ticket, incoming (``in``) or outgoing (``out``)."""

    __tablename__ = "message"
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    direction: str
    message_id: str | None = Field(default=None, index=True)
    in_reply_to: str | None = None
    references: str = ""  # space-separated Message-IDs
    sender: str
    recipients: str = ""  # comma-separated addresses
    subject: str = ""
    body_text: str = Field(default="", sa_type=sa.Text)
    body_html: str | None = Field(default=None, sa_type=sa.Text)
    received_at: datetime = _utc()
    note: str = ""
    author: str = ""  # customer, staff or mailbot
    internal: bool = False  # staff-only: never shown or relayed to the customer


class AttachmentRow(SQLModel, table=True):
    """An attachment's metadata; the bytes live on disk under the state dir by SHA-256."""

    __tablename__ = "attachment"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str
    content_type: str
    size: int
    sha256: str = Field(index=True)
    inline: bool = False
    # When ``mailbot db prune`` removed the stored bytes (issue 17); NULL: the file is kept.
    # The metadata stays, so the ticket still says what was attached.
    pruned_at: datetime | None = _utc(default=None)


class OutboxRow(SQLModel, table=True):
    """A rendered mail waiting to be sent. ``status``: queued, held (for a person: the
    ticket's hourly cap), sending, sent or failed."""

    __tablename__ = "outbox"
    # The per-sender cap counts an address's automatic mails of the last hour by it.
    __table_args__ = (
        sa.Index("ix_outbox_capped_address_created_at", "capped_address", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    kind: str  # "ack", ... (what produced it, for the log)
    message_id: str = Field(unique=True)
    mail_from: str
    recipients: str  # comma-separated envelope recipients
    # The lower-cased recipient of an automatic mail to one address ("" for others): the
    # per-sender cap counts by it, through its index, in a burst of thousands of mails.
    capped_address: str = Field(default="")
    raw: bytes = Field(sa_type=sa.LargeBinary)
    status: str = Field(default="queued", index=True)
    attempts: int = 0
    last_error: str = ""
    created_at: datetime = _utc()
    next_attempt_at: datetime = _utc(index=True)
    sent_at: datetime | None = _utc(default=None)
    # Who claimed it (``sending``), for taking back a dead process's claims at once
    # (mailbot.adapters.db.claims): the instance, the process (pid and its start, in clock
    # ticks since boot) and that process's random token. NULL: never claimed.
    claimed_by: str | None = None
    claimed_pid: int | None = None
    claimed_started: int | None = Field(default=None, sa_type=sa.BigInteger)
    claim_token: str | None = None


class LedgerRow(SQLModel, table=True):
    """Every mail taken from a mailbox and what became of it; the guard against doing it twice."""

    __tablename__ = "ledger"
    __table_args__ = (sa.UniqueConstraint("mailbox", "uidvalidity", "uid"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox: str
    # RFC 3501: UIDVALIDITY and UIDs are unsigned 32-bit, past PostgreSQL's INTEGER.
    uidvalidity: int = Field(sa_type=sa.BigInteger)
    uid: str
    message_id: str | None = Field(default=None, index=True)
    # mailbot.core.fingerprint of the content; "" for rows from before it existed.
    fingerprint: str = Field(default="", index=True)
    outcome: str = Field(index=True)  # ticket, followup, ignored, duplicate, quarantined
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id")
    reason: str = ""
    processed_at: datetime = _utc(index=True)  # the mails taken in the last hour (health)


class MailboxStateRow(SQLModel, table=True):
    """The highest UID handled per mailbox and UIDVALIDITY (RFC 3501 section 2.3.1.1)."""

    __tablename__ = "mailbox_state"
    mailbox: str = Field(primary_key=True)
    uidvalidity: int = Field(primary_key=True, sa_type=sa.BigInteger)
    last_uid: int = Field(default=0, sa_type=sa.BigInteger)


class SecretRow(SQLModel, table=True):
    """Keys the desk creates for itself at first start, shared by every instance: ``token``
    signs Message-IDs (mailbot.core.tokens). Never in the TOML file, never logged."""

    __tablename__ = "secret"
    name: str = Field(primary_key=True)
    value: str  # hex


class DaemonStateRow(SQLModel, table=True):
    """What the daemon last did, for ``mailbot status``: one row per job (``poll``), and
    ``oauth2``: ``error`` the token endpoint's refusal for good ("" when none), since
    ``attempted_at``; ``succeeded_at`` the renewal that ended the last one."""

    __tablename__ = "daemon_state"
    name: str = Field(primary_key=True)
    succeeded_at: datetime | None = _utc(default=None)
    attempted_at: datetime | None = _utc(default=None)
    error: str = ""


class WebSubmissionRow(SQLModel, table=True):
    """A form sent on the web side (issue 15): kept from the moment it arrives, so the
    submission limits count it, until it becomes a ticket, expires or is refused.

    ``form``: warranty, vip or post_warranty. ``state``: pending (waiting for the address to
    be confirmed), confirmed (its ticket is ``ticket_number``), expired (not confirmed in
    24 h), refused (confirmed, but its mail opened no ticket) or vip_refused (a VIP form from
    an address no allow-list names: only ``created_at`` and ``ip`` kept, for the limits).
    ``attachments``: a JSON list of {filename, content_type, path, size},
    the files stored by mailbot.adapters.attachments.
    """

    __tablename__ = "web_submission"
    __table_args__ = (
        # The per-address windows (mailbot.core.submission_limits) read by address and time,
        # the global window and the expiry sweep by time alone.
        sa.Index("ix_web_submission_ip_created_at", "ip", "created_at"),
        sa.Index("ix_web_submission_created_at", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _utc()
    ip: str
    form: str
    name: str = ""
    address: str
    phone: str = ""
    subject: str = ""
    body: str = ""
    express: bool = False
    attachments: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON)
    # The page's language (pl or en): the ticket's when its contract sets none.
    language: str = "pl"
    state: str = "pending"
    confirmed_at: datetime | None = _utc(default=None)
    ticket_number: str | None = None


class WebRequestRow(SQLModel, table=True):
    """A counted request of the web side (issue 15) other than a submission: ``kind``
    lost_link (a status link mailed again) or staff_signin (a sign-in link asked for), from
    ``client`` (the client's IP address, or "unknown"), at ``at``. Kept in the database so
    every web process counts the same requests and a restart forgets none; rows older than
    their kind's longest window are deleted as new ones are written."""

    __tablename__ = "web_request"
    __table_args__ = (
        # The per-client windows read by kind, client and time; the global ones and the
        # pruning by kind and time.
        sa.Index("ix_web_request_kind_client_at", "kind", "client", "at"),
        sa.Index("ix_web_request_kind_at", "kind", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    client: str
    at: datetime = _utc()


class StaffSessionRow(SQLModel, table=True):
    """A staff member signed in on /staff: the cookie's value is never stored, its SHA-256
    (hex) is, so a copy of the database opens no session."""

    __tablename__ = "staff_session"
    id_hash: str = Field(primary_key=True)
    address: str
    created_at: datetime = _utc()
    expires_at: datetime = _utc()


class UsedNonceRow(SQLModel, table=True):
    """Nonces of one-time links already used (staff sign-in, address confirmation): a link
    whose nonce is here is refused, so each works once."""

    __tablename__ = "used_nonce"
    nonce: str = Field(primary_key=True)
    used_at: datetime = _utc()
