"""The outbox queries of mailbot.adapters.db on SQLite and PostgreSQL: a claim is taken once,
marks apply only to a claimed row, and the health figures come back as aware times."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mailbot.adapters import db
from mailbot.adapters.db import Engine, OutboxRow, Session, claims
from mailbot.adapters.db.claims import Owner

NOW = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
OWNER = Owner("host:/var/lib/mailbot", 4242, 17, "token-a")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = db.make_engine(database_url)
    yield engine
    engine.dispose()


def queued(engine: Engine, name: str, *, at: datetime = NOW) -> int:
    with Session(engine) as session:
        row = OutboxRow(
            kind="ack", message_id=f"<{name}@desk.example.pl>", mail_from="desk@example.pl",
            recipients=f"{name}@acme.pl", raw=b"Subject: x\r\n\r\nx\r\n",
            created_at=at, next_attempt_at=at,
        )  # fmt: skip
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def status(engine: Engine, mail_id: int) -> str:
    with Session(engine) as session:
        row = session.get(OutboxRow, mail_id)
        assert row is not None
        return row.status


def test_a_mail_is_claimed_once_and_marked_sent_only_while_claimed(engine: Engine) -> None:
    first, second = queued(engine, "jan"), queued(engine, "ola")
    with Session(engine) as session:
        assert db.due_mails(NOW, 10, session=session) == [
            (first, "jan@acme.pl", None),
            (second, "ola@acme.pl", None),
        ]
        claimed = db.claim([first], OWNER, now=NOW, session=session)[first]
        assert db.claim([first], OWNER, now=NOW, session=session) == {}
        session.commit()
    assert (claimed.recipients, claimed.attempts, claimed.ticket_number) == ("jan@acme.pl", 0, None)
    with Session(engine) as session:
        assert db.queued_mails([first, second], session=session) == {
            second: db.ClaimedMail(
                "ack", "<ola@desk.example.pl>", "desk@example.pl", "ola@acme.pl",
                b"Subject: x\r\n\r\nx\r\n", 0, None, None,
            )
        }  # fmt: skip
        db.mark_sent([(second, 1), (first, 1)], sent_at=NOW, session=session)  # second: unclaimed
        session.commit()
    assert (status(engine, first), status(engine, second)) == ("sent", "queued")


def test_claims_are_taken_back_by_age_and_by_owner(engine: Engine) -> None:
    old, dead = queued(engine, "jan"), queued(engine, "ola")
    with Session(engine) as session:
        db.claim([old], OWNER, now=NOW - timedelta(hours=1), session=session)
        db.claim([dead], OWNER, now=NOW, session=session)
        session.commit()
    owners = db.claim_owners(engine, instance=OWNER.instance, token="token-b")
    assert owners == [OWNER]
    assert db.claim_owners(engine, instance=OWNER.instance, token=OWNER.token) == []
    with Session(engine) as session:
        assert db.requeue_stale(NOW - timedelta(minutes=10), session=session) == 1
        assert db.requeue_claims([OWNER.token], session=session) == 1
        session.commit()
    assert (status(engine, old), status(engine, dead)) == ("queued", "queued")


def test_the_oldest_unsent_mail_comes_back_aware(engine: Engine) -> None:
    queued(engine, "jan", at=NOW - timedelta(minutes=5))
    queued(engine, "ola")
    with Session(engine) as session:
        assert db.unsent_mails(("queued", "sending"), session=session) == (
            2,
            NOW - timedelta(minutes=5),
        )
        oldest = db.unsent_mails(("queued",), session=session)[1]
        assert oldest is not None and oldest.tzinfo is not None
        assert db.outbox_with_status("failed", session=session) == 0


HOLDER = """
import sys
from mailbot.adapters import db
from mailbot.adapters.db import claims
engine = db.plain_engine(sys.argv[1])
claims.hold(engine, "token-of-another-process")
print("held", flush=True)
sys.stdin.read()
"""


def test_a_process_that_sends_the_outbox_is_seen_by_the_others_while_it_lives(
    engine: Engine,
) -> None:
    claims.hold(engine, OWNER.token)  # this process sends too, and does not count itself
    before = claims.other_flushers(engine)
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, engine.url.render_as_string(hide_password=False)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert other.stdout is not None and other.stdout.readline() == "held\n"
        during = claims.other_flushers(engine)
    finally:
        other.communicate(timeout=30)  # its stdin closes: it ends, and its session with it
    after = claims.other_flushers(engine)
    deadline = time.monotonic() + 10
    while after != before and time.monotonic() < deadline:  # the server drops it at once
        after = claims.other_flushers(engine)

    if engine.dialect.name == "postgresql":
        assert (before, during, after) == (before, before + 1, before)
    else:  # one machine sends a SQLite database's outbox: nobody to leave it to
        assert (before, during, after) == (0, 0, 0)
