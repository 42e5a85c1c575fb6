"""Everything mailbot keeps in its database: tables, queries, engine and migrations.

No module outside this package imports SQLAlchemy, SQLModel or Alembic (an import-linter
contract in pyproject.toml): use cases call the named queries here, with plain values
and rows in and out, and pass ``Session`` and ``Engine`` around under these names.

- ``tables``: the SQLModel rows; ``engine``: the engine and the session type;
  ``schema`` and ``migrations/``: the schema's Alembic revisions;
- queries by what they hold: ``contracts``, ``tickets``, ``ledger``, ``outbox``,
  ``sla``, ``timesheet``, ``health``, ``state``; ``rows`` inserts rows fast;
- ``claims`` (who holds an outbox claim) and ``lease`` (the intake lease): locks;
- ``errors``: the library's exceptions, under the names callers catch.

Every query takes the session as a keyword argument and never commits: the use case
that calls it owns the transaction (the few that take an engine say so).
"""

from __future__ import annotations

from mailbot.adapters.db.contracts import (
    ImportReport,
    contract_by_id,
    contract_customer,
    contract_customer_id,
    contract_tier,
    import_contracts,
    load_contracts,
)
from mailbot.adapters.db.engine import (
    Engine,
    Session,
    check_connection,
    make_engine,
    open_database,
    plain_engine,
    small_page_cache,
)
from mailbot.adapters.db.errors import DatabaseError, DataError, DBAPIError, IntegrityError
from mailbot.adapters.db.health import (
    mails_taken_since,
    outbox_with_status,
    overdue_tickets,
    tickets_with_alert_due_by,
    unsent_mails,
)
from mailbot.adapters.db.ledger import (
    EarlierMail,
    last_uid,
    ledger_by_fingerprint,
    ledger_by_message_id,
    ledger_entries,
    ledger_entry,
    set_last_uid,
)
from mailbot.adapters.db.metrics import (
    ResponseTimes,
    first_response_times,
    mails_taken_by_outcome,
    outbox_by_status,
    tickets_by_tier_and_status,
)
from mailbot.adapters.db.nonces import nonce_spent, spend_nonce
from mailbot.adapters.db.outbox import (
    ClaimedMail,
    automatic_mails_since,
    claim,
    claim_owners,
    due_mails,
    mark_sent,
    outbox_by_message_ids,
    outbox_counts,
    outbox_recipients,
    release_held,
    requeue_claims,
    requeue_stale,
    ticket_mail_sent,
    ticket_mails_since,
    update_sending,
)
from mailbot.adapters.db.rows import insert_new, insert_row
from mailbot.adapters.db.sla import alert_keys, alerts_of, events_of
from mailbot.adapters.db.state import daemon_state, secret
from mailbot.adapters.db.tables import (
    AlertRow,
    AttachmentRow,
    ContractAddressRow,
    ContractRow,
    CounterRow,
    CustomerRow,
    DaemonStateRow,
    LedgerRow,
    MailboxStateRow,
    MessageRow,
    OutboxRow,
    SecretRow,
    SlaEventRow,
    StaffSessionRow,
    TicketRow,
    TimeEntryRow,
    UsedNonceRow,
    UTCDateTime,
    WebRequestRow,
    WebSubmissionRow,
)
from mailbot.adapters.db.tickets import (
    TICKET_COUNTER,
    alert_due_ids,
    list_tickets,
    message_attachments,
    next_ticket_seq,
    received_between,
    ticket_by_id,
    ticket_by_number,
    ticket_messages,
    ticket_number_of,
    ticket_ref,
    ticket_to_sweep,
    tickets_by_message_ids,
    unmet_by,
)
from mailbot.adapters.db.timesheet import time_entries, work_between, worked_or_unjustified
from mailbot.adapters.db.web_requests import add_request, prune_requests, request_times
from mailbot.adapters.db.web_staff import (
    add_staff_session,
    drop_expired_staff_sessions,
    end_staff_session,
    live_staff_session,
    open_tickets,
    signin_mails_since,
)
from mailbot.adapters.db.web_status import (
    customer_visible_messages,
    last_customer_facing_message_id,
    status_events,
)
from mailbot.adapters.db.web_submissions import (
    expire_pending,
    submission_by_id,
    submission_times,
)

__all__ = [
    "TICKET_COUNTER",
    "AlertRow",
    "AttachmentRow",
    "ClaimedMail",
    "ContractAddressRow",
    "ContractRow",
    "CounterRow",
    "CustomerRow",
    "DBAPIError",
    "DaemonStateRow",
    "DataError",
    "DatabaseError",
    "EarlierMail",
    "Engine",
    "ImportReport",
    "IntegrityError",
    "LedgerRow",
    "MailboxStateRow",
    "MessageRow",
    "OutboxRow",
    "ResponseTimes",
    "SecretRow",
    "Session",
    "SlaEventRow",
    "StaffSessionRow",
    "TicketRow",
    "TimeEntryRow",
    "UTCDateTime",
    "UsedNonceRow",
    "WebRequestRow",
    "WebSubmissionRow",
    "add_request",
    "add_staff_session",
    "alert_due_ids",
    "alert_keys",
    "alerts_of",
    "automatic_mails_since",
    "check_connection",
    "claim",
    "claim_owners",
    "contract_by_id",
    "contract_customer",
    "contract_customer_id",
    "contract_tier",
    "customer_visible_messages",
    "daemon_state",
    "drop_expired_staff_sessions",
    "due_mails",
    "end_staff_session",
    "events_of",
    "expire_pending",
    "first_response_times",
    "import_contracts",
    "insert_new",
    "insert_row",
    "last_customer_facing_message_id",
    "last_uid",
    "ledger_by_fingerprint",
    "ledger_by_message_id",
    "ledger_entries",
    "ledger_entry",
    "list_tickets",
    "live_staff_session",
    "load_contracts",
    "mails_taken_by_outcome",
    "mails_taken_since",
    "make_engine",
    "mark_sent",
    "message_attachments",
    "next_ticket_seq",
    "nonce_spent",
    "open_database",
    "open_tickets",
    "outbox_by_message_ids",
    "outbox_by_status",
    "outbox_counts",
    "outbox_recipients",
    "outbox_with_status",
    "overdue_tickets",
    "plain_engine",
    "prune_requests",
    "received_between",
    "release_held",
    "request_times",
    "requeue_claims",
    "requeue_stale",
    "secret",
    "set_last_uid",
    "signin_mails_since",
    "small_page_cache",
    "spend_nonce",
    "status_events",
    "submission_by_id",
    "submission_times",
    "ticket_by_id",
    "ticket_by_number",
    "ticket_mail_sent",
    "ticket_mails_since",
    "ticket_messages",
    "ticket_number_of",
    "ticket_ref",
    "ticket_to_sweep",
    "tickets_by_message_ids",
    "tickets_by_tier_and_status",
    "tickets_with_alert_due_by",
    "time_entries",
    "unmet_by",
    "unsent_mails",
    "update_sending",
    "work_between",
    "worked_or_unjustified",
]
