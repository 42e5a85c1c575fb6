"""Writes batched for fewer round trips to a database server, on both databases.

- Rows added with ``add_row``: on PostgreSQL they wait and go in together, and a
  transaction must not be able to tell (it reads them, a rollback drops them, a refused
  one fails the commit and leaves the database usable).
- Ticket numbers taken ahead for a batch of mails: no gaps, none given twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from mailbot.adapters.db import (
    Engine,
    IntegrityError,
    LedgerRow,
    MessageRow,
    OutboxRow,
    Session,
    TicketRow,
    add_outbox_row,
    add_row,
    automatic_mails_since,
    give_back_ticket_numbers,
    insert_new,
    insert_row,
    make_engine,
    next_ticket_seq,
    read_automatic_mails,
    take_ticket_numbers,
    ticket_id_ahead,
)
from tests import factories

MAILBOX = "imap://support@deferred/INBOX"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def ledger(session: Session, uid: str, **more: Any) -> None:
    add_row(
        LedgerRow, session=session, mailbox=MAILBOX, uidvalidity=1, uid=uid, outcome="ticket",
        processed_at=factories.NOW, **more,
    )  # fmt: skip


def uids(session: Session) -> list[str]:
    return list(session.exec(select(LedgerRow.uid).order_by(col(LedgerRow.id))).all())


def test_rows_are_read_back_in_their_transaction_in_the_order_added(engine: Engine) -> None:
    with Session(engine) as session:
        ledger(session, "1")
        ledger(session, "2", reason="with a reason", fingerprint="abc")  # other columns given
        ledger(session, "3")
        assert uids(session) == ["1", "2", "3"]
        ledger(session, "4")
        session.commit()
    with Session(engine) as session:
        assert uids(session) == ["1", "2", "3", "4"]
        second = session.exec(select(LedgerRow).where(LedgerRow.uid == "2")).one()
        first = session.exec(select(LedgerRow).where(LedgerRow.uid == "1")).one()
    assert (second.reason, second.fingerprint) == ("with a reason", "abc")
    assert (first.reason, first.fingerprint) == ("", "")  # the columns' defaults


def test_a_rollback_drops_the_rows_with_the_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        ledger(session, "1")
        session.rollback()
        ledger(session, "2")
        session.commit()
    with Session(engine) as session:
        ledger(session, "3")  # never committed: the session closes
    with Session(engine) as session:
        assert uids(session) == ["2"]


def test_a_savepoint_rolled_back_keeps_the_rows_added_before_it(engine: Engine) -> None:
    with Session(engine) as session:
        ledger(session, "1")
        nested = session.begin_nested()
        ledger(session, "2")
        nested.rollback()
        session.commit()
    with Session(engine) as session:
        assert uids(session) == ["1"]


def test_a_refused_row_fails_the_commit_and_the_database_stays_usable(engine: Engine) -> None:
    with Session(engine) as session:
        ledger(session, "1")
        session.commit()
    for _ in range(3):  # more often than the pool has connections to spoil
        with Session(engine) as session, pytest.raises(IntegrityError):
            ledger(session, "1")  # the ledger's unique key: on PostgreSQL, refused at commit
            session.commit()
    with Session(engine) as session:
        ledger(session, "2")
        session.commit()
    with Session(engine) as session:
        assert uids(session) == ["1", "2"]


def ack(session: Session, to: str, minutes_ago: int) -> None:
    at = factories.NOW - timedelta(minutes=minutes_ago)
    add_row(
        OutboxRow, session=session, kind="ack", message_id=f"<{to}.{minutes_ago}@desk>",
        mail_from="support@desk.example.pl", recipients=to, capped_address=to, raw=b"",
        created_at=at, next_attempt_at=at,
    )  # fmt: skip


def test_the_cap_on_automatic_mail_counts_waiting_and_stored_rows(engine: Engine) -> None:
    hour_ago = factories.NOW - timedelta(hours=1)
    with Session(engine) as session:
        ack(session, "jan@firma.pl", 10)
        session.commit()
    with Session(engine) as session:
        ack(session, "jan@firma.pl", 5)
        ack(session, "jan@firma.pl", 90)  # over an hour ago: not counted
        ack(session, "ewa@firma.pl", 5)
        assert automatic_mails_since("Jan@Firma.pl", hour_ago, session=session) == 2
        assert automatic_mails_since("ewa@firma.pl", hour_ago, session=session) == 1
        session.commit()
    with Session(engine) as session:
        assert automatic_mails_since("jan@firma.pl", hour_ago, session=session) == 2


def test_numbers_taken_ahead_and_not_used_are_given_back(engine: Engine) -> None:
    with Session(engine) as session:
        take_ticket_numbers(5, session=session)
        assert [next_ticket_seq(session=session) for _ in range(2)] == [1, 2]
        give_back_ticket_numbers(session=session)
        session.commit()
    with Session(engine) as session:
        assert next_ticket_seq(session=session) == 3  # one at a time, without a batch
        session.commit()
    with Session(engine) as session:
        take_ticket_numbers(2, session=session)
        # More tickets than announced: the next ones are taken one by one.
        assert [next_ticket_seq(session=session) for _ in range(4)] == [4, 5, 6, 7]
        give_back_ticket_numbers(session=session)
        session.commit()
    with Session(engine) as session:
        take_ticket_numbers(3, session=session)
        assert next_ticket_seq(session=session) == 8
        session.rollback()  # the batch failed: its numbers are free again
        assert next_ticket_seq(session=session) == 8  # not 9: the rollback took back 8 to 10
        session.commit()
    with Session(engine) as session:
        assert next_ticket_seq(session=session) == 9


def test_the_cap_counts_from_one_read_for_a_whole_batch(engine: Engine) -> None:
    hour_ago = factories.NOW - timedelta(hours=1)
    with Session(engine) as session:
        for minutes_ago in (10, 50, 70):
            ack(session, "jan@firma.pl", minutes_ago)
        ack(session, "ewa@firma.pl", 20)
        session.commit()
    asked: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: asked.append(a[2]))
    with Session(engine) as session:
        read_automatic_mails(["Jan@Firma.pl", "ola@firma.pl"], hour_ago, session=session)
        add_outbox_row(
            session=session, kind="ack", message_id="<new@desk>", mail_from="support@desk",
            recipients="jan@firma.pl", capped_address="jan@firma.pl", raw=b"",
            created_at=factories.NOW, next_attempt_at=factories.NOW,
        )  # fmt: skip
        asked.clear()
        # Covered by the read: counted without asking the database, this batch's own mail too.
        assert automatic_mails_since("jan@firma.pl", hour_ago, session=session) == 3
        assert automatic_mails_since("ola@firma.pl", hour_ago, session=session) == 0
        assert asked == []
        # Not covered (another address, or since before the read's start): asked.
        assert automatic_mails_since("ewa@firma.pl", hour_ago, session=session) == 1
        two_hours_ago = factories.NOW - timedelta(hours=2)
        assert automatic_mails_since("jan@firma.pl", two_hours_ago, session=session) == 4
        assert len(asked) == 2
        session.commit()
        # The next transaction reads again: what others stored meanwhile counts.
        with Session(engine) as other:
            ack(other, "ola@firma.pl", 1)
            other.commit()
        asked.clear()
        assert automatic_mails_since("ola@firma.pl", hour_ago, session=session) == 1
        assert len(asked) == 1


def new_ticket(seq: int) -> TicketRow:
    return TicketRow(
        number=f"SOL-{seq}", seq=seq, tier="warranty", status="new", subject="Drukarka",
        customer_address="jan@firma.pl", received_at=factories.NOW,
        reaction_due=factories.NOW, resolution_due=factories.NOW, updated_at=factories.NOW,
    )  # fmt: skip


def message(session: Session, ticket_id: int, *, now: bool = False) -> None:
    values: dict[str, Any] = {
        "ticket_id": ticket_id, "direction": "out", "message_id": f"<{ticket_id}.{now}@desk>",
        "sender": "support@desk", "subject": "Re: Drukarka", "body_text": "",
        "received_at": factories.NOW, "author": "mailbot",
    }  # fmt: skip
    if now:
        insert_row(MessageRow, session=session, **values)
    else:
        add_row(MessageRow, session=session, **values)


def test_tickets_with_ids_taken_ahead_go_in_before_the_rows_that_name_them(engine: Engine) -> None:
    with Session(engine) as session:
        take_ticket_numbers(4, session=session)
        ids = []
        for seq in (1, 2, 3):
            ahead = ticket_id_ahead(session=session)
            if engine.dialect.name == "postgresql":
                assert ahead is not None  # taken from the table's sequence
            ids.append(insert_new(new_ticket(seq), session=session, row_id=ahead))
            message(session, ids[-1])
        # A message inserted at once, naming the last ticket: the tickets waiting go in
        # first (PostgreSQL checks the foreign key at once), then the waiting messages.
        message(session, ids[-1], now=True)
        message(session, ids[-1])  # waits, before the next ticket does
        # A ticket added after a message waiting: the commit still sends it first.
        ids.append(
            insert_new(new_ticket(4), session=session, row_id=ticket_id_ahead(session=session))
        )
        message(session, ids[-1])
        give_back_ticket_numbers(session=session)
        session.commit()
    with Session(engine) as session:
        stored = session.exec(select(TicketRow.id, TicketRow.number).order_by(col(TicketRow.seq)))
        assert list(stored) == [(i, f"SOL-{n}") for n, i in enumerate(ids, 1)]
        per_ticket = session.exec(
            select(MessageRow.ticket_id, sa.func.count()).group_by(col(MessageRow.ticket_id))
        )
        assert dict(per_ticket.all()) == {ids[0]: 1, ids[1]: 1, ids[2]: 3, ids[3]: 1}


def test_ticket_ids_are_taken_ahead_on_postgresql_in_one_statement(engine: Engine) -> None:
    asked: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: asked.append(a[2]))
    with Session(engine) as session:
        take_ticket_numbers(5, session=session)
        taken = [ticket_id_ahead(session=session) for _ in range(6)]
        session.rollback()
    if engine.dialect.name != "postgresql":
        assert taken == [None] * 6  # SQLite inserts each at once: no trip to save
        return
    assert all(isinstance(i, int) for i in taken)
    assert len(set(taken)) == 6
    # The five announced in one statement, the sixth (more than announced) in another.
    assert sum("nextval" in statement for statement in asked) == 2
