"""db.HeldConnection on SQLite and PostgreSQL: its transactions share one checked-out
connection, a failed one lets it go and rolls back, and ``close`` gives it back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from mailbot.adapters import db
from mailbot.adapters.db import Engine, HeldConnection, OutboxRow

OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


def checkouts(engine: Engine) -> list[int]:
    """A list that grows by one at each pool checkout of ``engine``."""
    seen: list[int] = []
    sa.event.listen(engine, "checkout", lambda *_: seen.append(1))
    return seen


def add_mail(connection: sa.Connection, name: str) -> None:
    connection.execute(
        sa.insert(OUTBOX).values(
            kind="ack", message_id=f"<{name}@desk.example.pl>", mail_from="desk@example.pl",
            recipients=f"{name}@acme.pl", capped_address=f"{name}@acme.pl", raw=b"x",
            status="queued", attempts=0, last_error="", created_at=NOW, next_attempt_at=NOW,
        )
    )  # fmt: skip


def names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(OUTBOX.c.message_id).order_by(OUTBOX.c.id))
        return [message_id for (message_id,) in rows]


def test_transactions_share_one_connection_and_a_failed_one_lets_it_go(engine: Engine) -> None:
    held = HeldConnection(engine)
    seen = checkouts(engine)
    with held.transaction() as connection:
        add_mail(connection, "jan")
    with held.transaction() as connection:
        add_mail(connection, "ola")
    assert len(seen) == 1  # one checkout for both

    with pytest.raises(db.IntegrityError), held.transaction() as connection:
        add_mail(connection, "ewa")
        add_mail(connection, "jan")  # the Message-ID is taken: the whole transaction goes
    with held.transaction() as connection:
        add_mail(connection, "iza")
    assert len(seen) == 2  # a fresh connection after the failure

    held.close()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with held.transaction() as connection:  # after close: a connection of its own, given back
        add_mail(connection, "ala")
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert names(engine) == [f"<{n}@desk.example.pl>" for n in ("jan", "ola", "iza", "ala")]
