"""Ticket numbers taken ahead for a batch of mails: no gaps, none given twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailbot.adapters.db import (
    Engine,
    Session,
    give_back_ticket_numbers,
    make_engine,
    next_ticket_seq,
    take_ticket_numbers,
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


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
