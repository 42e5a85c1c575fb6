"""Queries and writes over the tables, mapping rows to core values.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, SQLModel, col, select

from mailbot.adapters.db import (
    ContractAddressRow,
    ContractRow,
    CounterRow,
    CustomerRow,
    LedgerRow,
    MailboxStateRow,
    MessageRow,
    OutboxRow,
    SecretRow,
    TicketRow,
)
from mailbot.core.contracts import Contract
from mailbot.core.decide import TicketRef
from mailbot.core.tiers import Tier

TICKET_COUNTER = "ticket"


# --- contracts -------------------------------------------------------------


# Where a session keeps the contracts it loaded (``Session.info``).
_CONTRACTS = "mailbot.contracts"


def load_contracts(*, session: Session) -> list[Contract]:
    """Every contract, read once per session: a batch of mails matches them all against
    one reading (they change only by ``import_contracts``, which forgets the reading)."""
    cached: list[Contract] | None = session.info.get(_CONTRACTS)
    if cached is None:
        rows = session.exec(select(ContractRow, CustomerRow).join(CustomerRow)).all()
        addresses = session.exec(select(ContractAddressRow)).all()
        cached = [_contract(row, customer.name, addresses) for row, customer in rows]
        session.info[_CONTRACTS] = cached
    return list(cached)


def _contract(row: ContractRow, customer: str, addresses: Sequence[ContractAddressRow]) -> Contract:
    own = [a for a in addresses if a.contract_id == row.id]
    return Contract(
        id=row.id,
        customer=customer,
        tier=Tier(row.tier),
        addresses=frozenset(a.value for a in own if not a.is_domain),
        domains=frozenset(a.value for a in own if a.is_domain),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        language=row.language,
        nip=row.nip,
        monthly_fee=Decimal(row.monthly_fee) if row.monthly_fee else None,
        package_hours=Decimal(row.package_hours),
        free_unjustified=row.free_unjustified,
        hourly_rate=Decimal(row.hourly_rate) if row.hourly_rate else None,
        ip_allowlist=tuple(row.ip_allowlist.split()),
        procedures=row.procedures,
        phone=row.phone,
        billing_email=row.billing_email,
        require_authentication=row.require_authentication,
    )


@dataclass(frozen=True)
class ImportReport:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]


def import_contracts(contracts: Iterable[Contract], *, session: Session) -> ImportReport:
    """Insert or update contracts by id; the same input twice changes nothing."""
    current = {c.id: c for c in load_contracts(session=session)}
    session.info.pop(_CONTRACTS, None)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    for contract in contracts:
        before = current.get(contract.id)
        if before == contract:
            unchanged.append(contract.id)
            continue
        _write_contract(contract, session=session)
        (updated if before else added).append(contract.id)
    return ImportReport(tuple(added), tuple(updated), tuple(unchanged))


def _customer_id(name: str, *, session: Session) -> int:
    customer = session.exec(select(CustomerRow).where(CustomerRow.name == name)).first()
    if customer is None:
        customer = CustomerRow(name=name)
        session.add(customer)
        session.flush()
    assert customer.id is not None
    return customer.id


def _write_contract(contract: Contract, *, session: Session) -> None:
    row = session.get(ContractRow, contract.id) or ContractRow(
        id=contract.id, customer_id=0, tier="", valid_from=contract.valid_from
    )
    row.customer_id = _customer_id(contract.customer, session=session)
    row.tier = contract.tier.value
    row.valid_from = contract.valid_from
    row.valid_until = contract.valid_until
    row.language = contract.language
    row.require_authentication = contract.require_authentication
    _write_billing(row, contract)
    session.add(row)
    session.flush()
    session.execute(
        sa.delete(ContractAddressRow).where(col(ContractAddressRow.contract_id) == contract.id)
    )
    for value in sorted(contract.addresses):
        session.add(ContractAddressRow(contract_id=contract.id, value=value, is_domain=False))
    for value in sorted(contract.domains):
        session.add(ContractAddressRow(contract_id=contract.id, value=value, is_domain=True))
    session.flush()


def _write_billing(row: ContractRow, contract: Contract) -> None:
    def text(amount: Decimal | None) -> str:
        return "" if amount is None else str(amount)

    row.nip = contract.nip
    row.monthly_fee = text(contract.monthly_fee)
    row.package_hours = text(contract.package_hours)
    row.free_unjustified = contract.free_unjustified
    row.hourly_rate = text(contract.hourly_rate)
    row.ip_allowlist = " ".join(contract.ip_allowlist)
    row.procedures = contract.procedures
    row.phone = contract.phone
    row.billing_email = contract.billing_email


# --- rows written and not read back as objects ------------------------------


def insert_row(table: type[SQLModel], *, session: Session, **values: Any) -> int:
    """INSERT one row of ``table`` in the session's transaction, now; returns its id.

    For the rows a mail adds and nothing reads back as an object in the same
    transaction (messages, outbox mails, ledger entries, SLA events): an ORM
    object costs its constructor and a unit-of-work flush, about half of what
    storing a new ticket cost. Queries still see the row at once.

    Like the other per-mail statements here, it is built once and runs on the session's
    connection: building a statement and the ORM's execute path cost more than SQLite
    spends running it.
    """
    return int(session.connection().execute(_insert_returning_id(table), values).scalar_one())


def insert_new(row: SQLModel, *, session: Session) -> int:
    """INSERT a new ORM object's row now, as ``insert_row`` does, and make the object
    persistent in ``session`` as if it had been loaded: later changes to it are flushed as
    UPDATEs. A unit-of-work flush of a new ticket cost several times the INSERT itself."""
    table = type(row).__table__  # type: ignore[attr-defined]
    values = {column.key: getattr(row, column.key) for column in table.columns}
    del values["id"]
    row_id = insert_row(type(row), session=session, **values)
    row.id = row_id
    make_transient_to_detached(row)
    session.add(row)
    return row_id


@functools.cache
def _insert_returning_id(table: type[SQLModel]) -> sa.Insert:
    core = table.__table__  # type: ignore[attr-defined]
    return sa.insert(core).returning(core.c.id)


# --- tickets ---------------------------------------------------------------


def next_ticket_seq(*, session: Session) -> int:
    """The next ticket sequence number; never reused, even after a rollback elsewhere commits."""
    bumped = session.connection().execute(_bump_counter(), {"counter": TICKET_COUNTER}).scalar()
    if bumped is not None:
        return int(bumped)
    session.add(CounterRow(name=TICKET_COUNTER, value=1))
    session.flush()
    return 1


@functools.cache
def _bump_counter() -> sa.Update:
    counter = CounterRow.__table__  # type: ignore[attr-defined]
    return (
        sa.update(counter)
        .where(counter.c.name == sa.bindparam("counter"))
        .values(value=counter.c.value + 1)
        .returning(counter.c.value)
    )


def _ref(row: TicketRow) -> TicketRef:
    return TicketRef(row.number, row.customer_address, row.contract_id, row.status, row.resolved_at)


def ticket_by_number(number: str, *, session: Session) -> TicketRow | None:
    return session.exec(select(TicketRow).where(TicketRow.number == number)).first()


def ticket_number_of(ticket_id: int, *, session: Session) -> str:
    row = session.get(TicketRow, ticket_id)
    assert row is not None, f"no ticket with id {ticket_id}"
    return row.number


def ticket_by_id(ticket_id: int, *, session: Session) -> TicketRow | None:
    return session.get(TicketRow, ticket_id)


def ticket_ref(number: str | None, *, session: Session) -> TicketRef | None:
    row = ticket_by_number(number, session=session) if number else None
    return _ref(row) if row else None


def tickets_by_message_ids(ids: Iterable[str], *, session: Session) -> dict[str, TicketRef]:
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    rows = session.exec(
        select(MessageRow.message_id, TicketRow)
        .join(TicketRow, col(TicketRow.id) == col(MessageRow.ticket_id))
        .where(col(MessageRow.message_id).in_(wanted))
    ).all()
    return {mid: _ref(ticket) for mid, ticket in rows if mid}


def list_tickets(
    *, session: Session, limit: int = 100, due_before: datetime | None = None
) -> Sequence[TicketRow]:
    """The newest tickets; with ``due_before``, only those with a deadline still unmet by then."""
    query = select(TicketRow)
    if due_before is not None:
        query = query.where(unmet_by(due_before))
    return session.exec(query.order_by(col(TicketRow.seq).desc()).limit(limit)).all()


def unmet_by(moment: datetime) -> sa.ColumnElement[bool]:
    """Tickets with a deadline due by ``moment`` and still unmet (``moment`` = now: overdue)."""
    reaction_open = sa.and_(
        col(TicketRow.first_response_at).is_(None), col(TicketRow.reaction_due) <= moment
    )
    resolution_open = sa.and_(
        col(TicketRow.resolved_at).is_(None),
        col(TicketRow.paused_since).is_(None),  # waiting: its deadline is not running
        col(TicketRow.resolution_due) <= moment,
    )
    return sa.or_(reaction_open, resolution_open)


def ticket_messages(ticket_id: int, *, session: Session) -> Sequence[MessageRow]:
    return session.exec(
        select(MessageRow).where(MessageRow.ticket_id == ticket_id).order_by(col(MessageRow.id))
    ).all()


def contract_customer_id(contract_id: str, *, session: Session) -> int | None:
    row = session.get(ContractRow, contract_id)
    return row.customer_id if row else None


def contract_tier(contract_id: str, *, session: Session) -> str:
    """The tier contract ``contract_id`` gives ("" when there is no such contract)."""
    row = session.get(ContractRow, contract_id)
    return row.tier if row is not None else ""


def contract_customer(contract_id: str | None, *, session: Session) -> str:
    if contract_id is None:
        return ""
    row = session.exec(
        select(CustomerRow.name).join(ContractRow).where(ContractRow.id == contract_id)
    ).first()
    return row or ""


# --- mailbox ledger --------------------------------------------------------


def ledger_entry(mailbox: str, uidvalidity: int, uid: str, *, session: Session) -> LedgerRow | None:
    return session.exec(
        select(LedgerRow).where(
            LedgerRow.mailbox == mailbox, LedgerRow.uidvalidity == uidvalidity, LedgerRow.uid == uid
        )
    ).first()


def ledger_entries(
    mailbox: str, uidvalidity: int, uids: list[str], *, session: Session
) -> dict[str, LedgerRow]:
    """``ledger_entry`` for many uids in one query, by uid."""
    rows = session.exec(
        select(LedgerRow).where(
            LedgerRow.mailbox == mailbox,
            LedgerRow.uidvalidity == uidvalidity,
            col(LedgerRow.uid).in_(uids),
        )
    ).all()
    return {row.uid: row for row in rows}


@dataclass(frozen=True)
class EarlierMail:
    """What the duplicate check needs of an earlier mail's ledger entry."""

    uid: str
    fingerprint: str


def ledger_by_message_id(mailbox: str, message_id: str, *, session: Session) -> EarlierMail | None:
    """The entry of an earlier mail with this Message-ID that opened or joined a ticket."""
    row = (
        session.connection()
        .execute(_ledger_by_message_id(), {"mailbox": mailbox, "message_id": message_id})
        .first()
    )
    return EarlierMail(row.uid, row.fingerprint) if row else None


@functools.cache
def _ledger_by_message_id() -> sa.Select[tuple[str, str]]:
    ledger = LedgerRow.__table__  # type: ignore[attr-defined]
    return (
        sa.select(ledger.c.uid, ledger.c.fingerprint)
        .where(
            ledger.c.mailbox == sa.bindparam("mailbox"),
            ledger.c.message_id == sa.bindparam("message_id"),
            ledger.c.outcome.in_(["ticket", "followup"]),
        )
        .limit(1)
    )


def ledger_by_fingerprint(
    mailbox: str, fingerprint: str, *, session: Session
) -> EarlierMail | None:
    """An earlier mail without a Message-ID and with the same content."""
    row = session.exec(
        select(LedgerRow).where(
            LedgerRow.mailbox == mailbox,
            col(LedgerRow.message_id).is_(None),
            LedgerRow.fingerprint == fingerprint,
            col(LedgerRow.outcome).in_(["ticket", "followup"]),
        )
    ).first()
    return EarlierMail(row.uid, row.fingerprint) if row else None


def last_uid(mailbox: str, uidvalidity: int, *, session: Session) -> int:
    row = session.get(MailboxStateRow, (mailbox, uidvalidity))
    return row.last_uid if row else 0


def set_last_uid(mailbox: str, uidvalidity: int, uid: int, *, session: Session) -> None:
    row = session.get(MailboxStateRow, (mailbox, uidvalidity)) or MailboxStateRow(
        mailbox=mailbox, uidvalidity=uidvalidity
    )
    row.last_uid = max(row.last_uid, uid)
    session.add(row)


# --- outbox ----------------------------------------------------------------


def outbox_counts(*, session: Session) -> dict[str, int]:
    rows = session.exec(select(OutboxRow.status, sa.func.count()).group_by(OutboxRow.status)).all()
    return {status: int(n) for status, n in rows}


def outbox_by_message_ids(ids: Iterable[str], *, session: Session) -> Sequence[OutboxRow]:
    """Our outgoing mails with any of these Message-IDs (a bounce names the one it returns)."""
    wanted = [i for i in ids if i]
    if not wanted:
        return []
    return session.exec(select(OutboxRow).where(col(OutboxRow.message_id).in_(wanted))).all()


def automatic_mails_since(address: str, since: datetime, *, session: Session) -> int:
    """How many automatic mails (by ``capped_address``) went to ``address`` since ``since``."""
    values = {"address": address.lower(), "since": since}
    count: int = session.connection().execute(_automatic_mails_since(), values).scalar_one()
    return count


@functools.cache
def _automatic_mails_since() -> sa.Select[int]:
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    return sa.select(sa.func.count()).where(
        outbox.c.capped_address == sa.bindparam("address"),
        outbox.c.created_at >= sa.bindparam("since"),
    )


def ticket_mails_since(
    ticket_id: int, kinds: Sequence[str], since: datetime, *, session: Session
) -> int:
    """How many mails of ``kinds`` were queued about ticket ``ticket_id`` since ``since``
    (held ones too)."""
    return int(
        session.exec(
            select(sa.func.count()).where(
                col(OutboxRow.ticket_id) == ticket_id,
                col(OutboxRow.kind).in_(kinds),
                col(OutboxRow.created_at) >= since,
            )
        ).one()
    )


def release_held(ticket_id: int, now: datetime, *, session: Session) -> int:
    """Queue the ticket's held mails for sending now; how many."""
    result = session.execute(
        sa.update(OutboxRow)
        .where(col(OutboxRow.ticket_id) == ticket_id, col(OutboxRow.status) == "held")
        .values(status="queued", next_attempt_at=now)
    )
    assert isinstance(result, CursorResult)  # an UPDATE's result; the session types it loosely
    return int(result.rowcount)


def outbox_recipients(message_ids: Sequence[str], *, session: Session) -> dict[str, frozenset[str]]:
    """Whom each of our mails with these Message-IDs went to (lower case)."""
    if not message_ids:
        return {}
    rows = session.exec(
        select(OutboxRow.message_id, OutboxRow.recipients).where(
            col(OutboxRow.message_id).in_(list(message_ids)[:100])
        )
    ).all()
    return {mid: frozenset(r.strip().lower() for r in rcpts.split(",")) for mid, rcpts in rows}


def ticket_mail_sent(ticket_id: int, kind: str, recipient: str, *, session: Session) -> bool:
    """Whether a mail of ``kind`` to ``recipient`` was ever queued about ticket ``ticket_id``."""
    found = session.exec(
        select(OutboxRow.id).where(
            col(OutboxRow.ticket_id) == ticket_id,
            col(OutboxRow.kind) == kind,
            col(OutboxRow.recipients) == recipient,
        )
    ).first()
    return found is not None


# --- the desk's own secrets ------------------------------------------------


def secret(name: str, *, candidate: str, session: Session) -> str:
    """The secret ``name``; ``candidate`` becomes it when there is none yet. Two instances
    starting at once both end up with whichever was committed first."""
    found = session.get(SecretRow, name)
    if found is not None:
        return found.value
    # ON CONFLICT DO NOTHING: SQLite (3.24 and later) and PostgreSQL alike.
    session.connection().execute(
        sa.text("INSERT INTO secret (name, value) VALUES (:name, :value) ON CONFLICT DO NOTHING"),
        {"name": name, "value": candidate},
    )
    value = session.exec(select(SecretRow.value).where(col(SecretRow.name) == name)).one()
    return str(value)
