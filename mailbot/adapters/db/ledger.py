"""The mailbox ledger (every mail taken and what became of it) and the highest UID seen.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import LedgerRow, MailboxStateRow


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


def ledger_by_message_ids(
    mailbox: str, message_ids: Iterable[str], *, session: Session
) -> dict[str, EarlierMail]:
    """``ledger_by_message_id`` for many Message-IDs in one query, by Message-ID."""
    ledger = LedgerRow.__table__  # type: ignore[attr-defined]
    found: dict[str, EarlierMail] = {}
    wanted = sorted(set(message_ids))
    for start in range(0, len(wanted), _CHUNK):
        rows = session.connection().execute(
            sa.select(ledger.c.message_id, ledger.c.uid, ledger.c.fingerprint).where(
                ledger.c.mailbox == mailbox,
                ledger.c.message_id.in_(wanted[start : start + _CHUNK]),
                ledger.c.outcome.in_(["ticket", "followup"]),
            )
        )
        for message_id, uid, fingerprint in rows:
            found.setdefault(message_id, EarlierMail(uid, fingerprint))
    return found


# Message-IDs in one IN (...) list: well under SQLite's and PostgreSQL's limits.
_CHUNK = 500


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
