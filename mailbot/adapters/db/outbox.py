"""The outbox: counts, look-ups, caps, held mails, and claiming, sending and marking mails.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlmodel import Session, col, select

from mailbot.adapters.db import per_transaction
from mailbot.adapters.db.claims import Owner
from mailbot.adapters.db.deferred import COUNTS_WAITING, waiting_rows
from mailbot.adapters.db.rows import add_row
from mailbot.adapters.db.tables import OutboxRow, TicketRow
from mailbot.core.notices import STAFF_KIND_PREFIX, STAFF_KINDS


def outbox_counts(*, session: Session) -> dict[str, int]:
    rows = session.exec(select(OutboxRow.status, sa.func.count()).group_by(OutboxRow.status)).all()
    return {status: int(n) for status, n in rows}


def outbox_by_message_ids(ids: Iterable[str], *, session: Session) -> Sequence[OutboxRow]:
    """Our outgoing mails with any of these Message-IDs (a bounce names the one it returns)."""
    wanted = [i for i in ids if i]
    if not wanted:
        return []
    return session.exec(select(OutboxRow).where(col(OutboxRow.message_id).in_(wanted))).all()


def last_sent_to(address: str, since: datetime, *, session: Session) -> OutboxRow | None:
    """Our most recent mail sent to ``address`` (lower case) since ``since``, if any."""
    # LIKE narrows the rows down (recipients is a comma-separated list); the split decides.
    listed = sa.func.lower(col(OutboxRow.recipients)).contains(address, autoescape=True)
    candidates = session.exec(
        select(OutboxRow)
        .where(col(OutboxRow.sent_at) >= since, listed)
        .order_by(col(OutboxRow.sent_at).desc(), col(OutboxRow.id).desc())
        .limit(50)
    ).all()
    return next(
        (r for r in candidates if address in {a.strip().lower() for a in r.recipients.split(",")}),
        None,
    )


def automatic_mails_since(address: str, since: datetime, *, session: Session) -> int:
    """How many automatic mails (by ``capped_address``) went to ``address`` since ``since``.

    Counted from this transaction's ``read_automatic_mails`` when it covers ``address`` and
    ``since``; else asked of the database. The rows of this transaction still waiting
    (``deferred``) are counted here, not sent first: every acknowledgement of a batch asks,
    and sending them was a round trip each.
    """
    capped = address.lower()
    window = _window(session)
    if window is not None and capped in window.sent and since >= window.since:
        return sum(1 for at in window.sent[capped] if at >= since)
    connection = session.connection()
    values = {"address": capped, "since": since}
    count: int = connection.execute(_automatic_mails_since(), values).scalar_one()
    waiting = waiting_rows(connection, OutboxRow.__table__)  # type: ignore[attr-defined]
    return count + sum(
        1 for row in waiting if row["capped_address"] == capped and row["created_at"] >= since
    )


@functools.cache
def _automatic_mails_since() -> sa.Select[int]:
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    return (
        sa.select(sa.func.count())
        .where(
            outbox.c.capped_address == sa.bindparam("address"),
            outbox.c.created_at >= sa.bindparam("since"),
        )
        .execution_options(**{COUNTS_WAITING: True})
    )


_WINDOW = "mailbot.automatic_mails"


@dataclass
class _AutomaticMails:
    """The automatic mails to some addresses since ``since``, for one transaction: those
    stored before it (read once) and its own (``add_outbox_row``), by address."""

    since: datetime
    sent: dict[str, list[datetime]]


def read_automatic_mails(addresses: Iterable[str], since: datetime, *, session: Session) -> None:
    """Read the automatic mails to ``addresses`` since ``since`` in one statement, so that
    ``automatic_mails_since`` counts them for the rest of this transaction without asking
    the database again: a batch's acknowledgements asked once each, a round trip each on
    PostgreSQL. Another process's mails to them meanwhile are not seen until the commit;
    the cap is a guard against loops, which one batch cannot make."""
    wanted = sorted({a.lower() for a in addresses if a})
    connection = session.connection()
    window = _AutomaticMails(since, {a: [] for a in wanted})
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    for start in range(0, len(wanted), 500):  # a bounded IN list per statement
        rows = connection.execute(
            sa.select(outbox.c.capped_address, outbox.c.created_at).where(
                outbox.c.capped_address.in_(wanted[start : start + 500]),
                outbox.c.created_at >= since,
            )
        )
        for address, created_at in rows:
            window.sent[address].append(created_at)
    per_transaction.keep(session, _WINDOW, window)


def _window(session: Session) -> _AutomaticMails | None:
    window: _AutomaticMails | None = per_transaction.kept(session, _WINDOW)
    return window


def add_outbox_row(*, session: Session, **values: Any) -> None:
    """A mail into the outbox, in the session's transaction (``rows.add_row``); counted in
    this transaction's ``read_automatic_mails`` when that covers its address."""
    add_row(OutboxRow, session=session, **values)
    window = _window(session)
    if window is not None and values.get("capped_address") in window.sent:
        window.sent[values["capped_address"]].append(values["created_at"])


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


# --- claiming, sending and marking (mailbot.usecases.outbox) ---------------


def _rowcount(result: object) -> int:
    """Rows an UPDATE changed (its result is a CursorResult; the session types it loosely)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def claim_owners(engine: Engine, *, instance: str, token: str) -> list[Owner]:
    """The owners of the claims of ``instance`` still ``sending``, other than ``token``'s.

    Read on a connection of its own, and no transaction left open after: on
    PostgreSQL, asking whether an owner is gone may wait for the server.
    """
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        owners = connection.execute(
            sa.select(outbox.c.claimed_pid, outbox.c.claimed_started, outbox.c.claim_token)
            .where(
                outbox.c.status == "sending",
                outbox.c.claimed_by == instance,
                outbox.c.claim_token != token,
            )
            .distinct()
        ).all()
    return [Owner(instance, pid, started, token) for pid, started, token in owners]


def requeue_claims(tokens: Sequence[str], *, session: Session) -> int:
    """Queue again the mails still ``sending`` under the claims of ``tokens``; how many."""
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    return _rowcount(
        session.execute(
            sa.update(outbox)
            .where(outbox.c.status == "sending", outbox.c.claim_token.in_(list(tokens)))
            .values(status="queued")
        )
    )


def requeue_stale(claimed_before: datetime, *, session: Session) -> int:
    """Queue again the mails claimed (``sending``) before ``claimed_before``; how many."""
    return _rowcount(
        session.execute(
            sa.update(OutboxRow)
            .where(
                col(OutboxRow.status) == "sending",
                col(OutboxRow.next_attempt_at) <= claimed_before,
            )
            .values(status="queued")
        )
    )


def due_mails(
    now: datetime, limit: int, *, session: Session, to_staff: bool | None = None
) -> list[tuple[int, str, int | None]]:
    """Id, recipients and ticket id (None: a mail of no ticket) of up to ``limit`` mails
    queued and due by ``now``, in queue order; only those to staff (``to_staff`` True,
    ``core.notices.goes_to_staff``), only the others (False), or all (None)."""
    query = (
        sa.select(col(OutboxRow.id), col(OutboxRow.recipients), col(OutboxRow.ticket_id))
        .where(col(OutboxRow.status) == "queued", col(OutboxRow.next_attempt_at) <= now)
        .order_by(col(OutboxRow.id))
        .limit(limit)
    )
    if to_staff is not None:
        staff = sa.or_(
            col(OutboxRow.kind).startswith(STAFF_KIND_PREFIX, autoescape=True),
            col(OutboxRow.kind).in_(sorted(STAFF_KINDS)),
        )
        query = query.where(staff if to_staff else sa.not_(staff))
    rows = session.execute(query).all()
    return [(mail_id, recipients, ticket_id) for mail_id, recipients, ticket_id in rows]


@dataclass(frozen=True)
class ClaimedMail:
    """What a claim reads of its row: enough to send the mail and log it."""

    kind: str
    message_id: str
    mail_from: str
    recipients: str  # comma-separated
    raw: bytes
    attempts: int
    ticket_id: int | None
    ticket_number: str | None  # None: a mail of no ticket


def _connection(session: Session | Connection) -> Connection:
    """The connection of ``session``: the outbox's shared commits pass a connection itself
    (``HeldConnection``), others a session."""
    return session if isinstance(session, Connection) else session.connection()


def claim(
    mail_ids: Sequence[int], owner: Owner, *, now: datetime, session: Session | Connection
) -> dict[int, ClaimedMail]:
    """Take rows ``mail_ids`` (``queued`` -> ``sending``) in ``owner``'s name, at ``now``;
    those taken (one missing: another flusher took it first)."""
    # Plain columns, no ORM objects, one statement for the claims of a shared commit: a
    # flush of thousands of mails claims thousands of rows.
    values = {
        "mail_ids": list(mail_ids),
        "new_next_attempt_at": now,
        "new_claimed_by": owner.instance,
        "new_claimed_pid": owner.pid,
        "new_claimed_started": owner.started,
        "new_claim_token": owner.token,
    }
    if not mail_ids:
        return {}
    rows = _connection(session).execute(_claim_rows(), values)
    return {mail_id: ClaimedMail(*row) for mail_id, *row in rows}


def queued_mails(
    mail_ids: Sequence[int], *, session: Session | Connection
) -> dict[int, ClaimedMail]:
    """Rows ``mail_ids`` as ``claim`` would return them, those still ``queued``; nothing changes.

    Read ahead by the outbox, which starts a mail's envelope while the commit of
    its claim is under way, and compares the two before the server gets the data.
    """
    rows = _connection(session).execute(_queued_rows(), {"mail_ids": list(mail_ids)})
    return {mail_id: ClaimedMail(*row) for mail_id, *row in rows}


def _status_change(before: str, after: str, *bound: str) -> sa.Update:
    """UPDATE of the row ``:mail_id`` from status ``before`` to ``after``, setting each of
    the ``bound`` columns from the parameter ``new_<column>`` (SQLAlchemy keeps a column's
    own name for itself in SET)."""
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    return (
        sa.update(outbox)
        .where(outbox.c.id == sa.bindparam("mail_id"), outbox.c.status == before)
        .values(status=after, **{name: sa.bindparam(f"new_{name}") for name in bound})
    )


def _sending_columns() -> tuple[sa.ColumnElement[Any], ...]:
    """What a claim reads of its row, ``ClaimedMail``'s fields in order: the ticket's number
    in the same statement (one round trip a mail fewer on PostgreSQL)."""
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    ticket = TicketRow.__table__  # type: ignore[attr-defined]
    return (
        outbox.c.kind,
        outbox.c.message_id,
        outbox.c.mail_from,
        outbox.c.recipients,
        outbox.c.raw,
        outbox.c.attempts,
        outbox.c.ticket_id,
        sa.select(ticket.c.number).where(ticket.c.id == outbox.c.ticket_id).scalar_subquery(),
    )


@functools.cache
def _claim_rows() -> sa.Update:
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    claim = ("next_attempt_at", "claimed_by", "claimed_pid", "claimed_started", "claim_token")
    return (
        sa.update(outbox)
        .where(
            outbox.c.id.in_(sa.bindparam("mail_ids", expanding=True)),
            outbox.c.status == "queued",
        )
        .values(status="sending", **{name: sa.bindparam(f"new_{name}") for name in claim})
        .returning(outbox.c.id, *_sending_columns())
    )


@functools.cache
def _queued_rows() -> sa.Select[Any]:
    outbox = OutboxRow.__table__  # type: ignore[attr-defined]
    return sa.select(outbox.c.id, *_sending_columns()).where(
        outbox.c.id.in_(sa.bindparam("mail_ids", expanding=True)), outbox.c.status == "queued"
    )


def update_sending(mail_id: int, *, session: Session, **values: object) -> None:
    """Set ``values`` on mail ``mail_id`` if it is still ``sending`` (its outcome)."""
    session.execute(
        sa.update(OutboxRow)
        .where(col(OutboxRow.id) == mail_id, col(OutboxRow.status) == "sending")
        .values(**values)
    )


def mark_sent(
    sent: Sequence[tuple[int, int]], *, sent_at: datetime, session: Session | Connection
) -> None:
    """Mark the mails ``(id, attempts)`` of ``sent`` sent, each if it is still ``sending``.

    The outbox commits them with the claims of the workers' next mails (one disk
    flush for all, one statement for the marks): the mail after each is sent only
    once it is committed.
    """
    values = [
        {"mail_id": mail_id, "new_attempts": attempts, "new_sent_at": sent_at}
        for mail_id, attempts in sent
    ]
    if values:
        _connection(session).execute(_sent_row(), values)


@functools.cache
def _sent_row() -> sa.Update:
    return _status_change("sending", "sent", "attempts", "sent_at")
