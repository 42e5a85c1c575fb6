"""Rows added with ``add_row``: on PostgreSQL they wait and go in together, and a
transaction must not be able to tell (it reads them, a rollback drops them, a refused one
fails the commit and leaves the database usable)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from mailbot.adapters.db import (
    Engine,
    IntegrityError,
    LedgerRow,
    OutboxRow,
    Session,
    add_row,
    automatic_mails_since,
    make_engine,
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
