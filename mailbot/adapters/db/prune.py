"""The queries of ``mailbot db prune`` (issue 17): old ledger rows and old attachments.

Each step is a small batch in its own short transaction (the functions that take an
engine say so), so a long history never holds one long write that blocks ``mailbot run``
or ``mailbot web``: on SQLite (WAL) they wait at most one batch for the write lock, on
PostgreSQL they do not wait at all (rows are deleted by id, and readers see either side).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.engine import Engine
from mailbot.adapters.db.tables import (
    AttachmentRow,
    LedgerRow,
    MessageRow,
    TicketRow,
    WebSubmissionRow,
)
from mailbot.core.tickets import TicketStatus

# Only the attachments of tickets that are done: never of a new, open or waiting one.
DONE_STATUSES = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)


def old_ledger_rows(cutoff: datetime, *, session: Session) -> int:
    """How many ledger rows were processed before ``cutoff``."""
    found = session.exec(
        select(sa.func.count()).select_from(LedgerRow).where(col(LedgerRow.processed_at) < cutoff)
    ).one()
    return int(found)


def delete_old_ledger_rows(cutoff: datetime, *, engine: Engine, batch: int) -> int:
    """Delete the ledger rows processed before ``cutoff``, ``batch`` rows per transaction
    (takes the engine: it commits); return how many went."""
    deleted = 0
    while True:
        with Session(engine) as session:
            ids = session.exec(
                select(LedgerRow.id)
                .where(col(LedgerRow.processed_at) < cutoff)
                .order_by(col(LedgerRow.id))
                .limit(batch)
            ).all()
            if not ids:
                return deleted
            session.connection().execute(sa.delete(_ledger()).where(_ledger().c.id.in_(ids)))
            session.commit()
            deleted += len(ids)


def _ledger() -> sa.Table:
    return LedgerRow.__table__  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class OldAttachment:
    """An attachment whose bytes prune may remove: its row, file and size."""

    id: int
    sha256: str
    size: int


def old_attachments(
    cutoff: datetime, *, after_id: int, batch: int, session: Session
) -> list[OldAttachment]:
    """The next ``batch`` attachments (by id, past ``after_id``) not pruned yet, of messages
    received before ``cutoff`` on tickets resolved or closed and unchanged since then."""
    rows = session.exec(
        select(AttachmentRow.id, AttachmentRow.sha256, AttachmentRow.size)
        .join(MessageRow, col(MessageRow.id) == col(AttachmentRow.message_id))
        .join(TicketRow, col(TicketRow.id) == col(MessageRow.ticket_id))
        .where(
            col(AttachmentRow.id) > after_id,
            col(AttachmentRow.pruned_at).is_(None),
            col(MessageRow.received_at) < cutoff,
            col(TicketRow.status).in_(DONE_STATUSES),
            col(TicketRow.updated_at) < cutoff,
        )
        .order_by(col(AttachmentRow.id))
        .limit(batch)
    ).all()
    return [OldAttachment(int(i or 0), sha, size) for i, sha, size in rows]


def shas_still_used(shas: Iterable[str], cutoff: datetime, *, session: Session) -> set[str]:
    """Those of ``shas`` that some attachment prune keeps still names (newer than
    ``cutoff``, or on a ticket not done)."""
    wanted = sorted(set(shas))
    if not wanted:
        return set()
    kept = (
        select(AttachmentRow.sha256)
        .join(MessageRow, col(MessageRow.id) == col(AttachmentRow.message_id))
        .join(TicketRow, col(TicketRow.id) == col(MessageRow.ticket_id))
        .where(
            col(AttachmentRow.sha256).in_(wanted),
            col(AttachmentRow.pruned_at).is_(None),
            sa.or_(
                col(MessageRow.received_at) >= cutoff,
                col(TicketRow.status).not_in(DONE_STATUSES),
                col(TicketRow.updated_at) >= cutoff,
            ),
        )
        .distinct()
    )
    return set(session.exec(kept).all())


def pending_submission_shas(*, session: Session) -> set[str]:
    """The files web submissions waiting for their confirmation will read (a day's worth;
    read once per prune: a submission made since touched its file, which keeps it)."""
    rows = session.exec(
        select(WebSubmissionRow.attachments).where(col(WebSubmissionRow.state) == "pending")
    ).all()
    return {str(entry["path"]).rsplit("/", 1)[-1] for files in rows for entry in files or ()}


def mark_pruned(ids: Sequence[int], at: datetime, *, session: Session) -> None:
    """Say of these attachments that their bytes were removed ``at``."""
    if ids:
        table = AttachmentRow.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            sa.update(table)
            .where(table.c.id.in_(list(ids)), table.c.pruned_at.is_(None))
            .values(pruned_at=at)
        )
