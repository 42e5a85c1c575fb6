"""``mailbot db prune`` (issue 17, item 4): old ledger rows go, and the files of old
attachments of done tickets, unless a newer or open ticket's attachment, or a pending web
submission, has the same file; tickets, their texts and the attachments' rows stay.
On SQLite and on PostgreSQL (``desk`` runs on both)."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from mailbot.adapters import db as repo
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import AttachmentRow, LedgerRow, MessageRow, Session, TicketRow
from mailbot.cli import main
from mailbot.core.mail import Attachment, InboundMail
from mailbot.usecases.desk import Desk
from mailbot.usecases.ingest import apply_mail
from mailbot.usecases.prune import prune
from mailbot.usecases.views import ticket_detail
from mailbot.usecases.web_staff import staff_ticket
from tests import factories

NOW = factories.NOW
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=5)
KEEP = timedelta(days=90)
LONG_AGO = datetime(2020, 1, 1).timestamp()


def open_ticket(
    desk: Desk, files: dict[str, bytes], *, at: datetime, status: str = "resolved"
) -> str:
    """A ticket from jan@acme.pl received ``at`` with ``files``, then set to ``status`` at
    the same moment (its last change); returns its number."""
    mail = InboundMail(
        message_id=f"<{hashlib.sha256(repr((files, at)).encode()).hexdigest()}@acme.pl>",
        from_address="jan@acme.pl", from_name="Jan", subject="Drukarka", date=at,
        body_text="Nie działa.\n",
        attachments=tuple(Attachment(name, "application/octet-stream", data)
                          for name, data in files.items()),
    )  # fmt: skip
    with Session(desk.engine) as session:
        outcome = apply_mail(desk, mail, now=at, session=session)
        assert outcome.ticket_id is not None
        ticket = session.get(TicketRow, outcome.ticket_id)
        assert ticket is not None
        ticket.status, ticket.updated_at = status, at
        session.add(ticket)
        session.commit()
        return ticket.number


def add_ledger(desk: Desk, uid: int, at: datetime) -> None:
    with Session(desk.engine) as session:
        session.add(LedgerRow(mailbox="INBOX", uidvalidity=1, uid=str(uid), outcome="ignored",
                              processed_at=at))  # fmt: skip
        session.commit()


def ledger_uids(desk: Desk) -> list[str]:
    with Session(desk.engine) as session:
        return sorted(session.exec(select(LedgerRow.uid)).all())


def age_files(store: AttachmentStore) -> None:
    """Make every stored file look unused for years (the test's files were just written)."""
    for path in store.root.rglob("*"):
        if path.is_file():
            os.utime(path, (LONG_AGO, LONG_AGO))


def stored(store: AttachmentStore, data: bytes) -> bool:
    return store.path_of(hashlib.sha256(data).hexdigest()).exists()


def pruned_marks(desk: Desk) -> dict[str, datetime | None]:
    with Session(desk.engine) as session:
        rows = session.exec(select(AttachmentRow).order_by(col(AttachmentRow.id))).all()
        return {f"{row.message_id}/{row.filename}": row.pruned_at for row in rows}


def test_a_dry_run_counts_and_changes_nothing(desk: Desk) -> None:
    open_ticket(desk, {"a.bin": b"A" * 1000, "b.bin": b"B" * 24}, at=OLD)
    add_ledger(desk, 1, OLD)
    add_ledger(desk, 2, OLD)
    age_files(desk.store)
    marks = pruned_marks(desk)

    report = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=True, batch=1)

    assert (report.ledger_rows, report.files, report.bytes, report.attachments) == (2, 2, 1024, 2)
    assert report.cutoff == NOW - KEEP and report.dry_run
    assert ledger_uids(desk) == ["1", "2"]
    assert stored(desk.store, b"A" * 1000) and stored(desk.store, b"B" * 24)
    assert pruned_marks(desk) == marks and set(marks.values()) == {None}


def test_old_ledger_rows_go_and_newer_ones_stay(desk: Desk) -> None:
    for uid in range(1, 6):
        add_ledger(desk, uid, OLD)
    add_ledger(desk, 6, NOW - KEEP + timedelta(minutes=1))
    add_ledger(desk, 7, RECENT)

    report = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False, batch=2)

    assert report.ledger_rows == 5
    assert ledger_uids(desk) == ["6", "7"]


def test_old_attachments_of_a_done_ticket_lose_their_files_and_keep_their_rows(
    desk: Desk,
) -> None:
    number = open_ticket(desk, {"a.bin": b"A" * 10, "b.bin": b"B" * 20, "c.bin": b"C" * 30},
                         at=OLD, status="closed")  # fmt: skip
    age_files(desk.store)

    report = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False, batch=2)

    assert (report.files, report.bytes, report.attachments) == (3, 60, 3)
    assert not any(stored(desk.store, data) for data in (b"A" * 10, b"B" * 20, b"C" * 30))
    assert set(pruned_marks(desk).values()) == {NOW}
    again = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False)
    assert (again.files, again.attachments, again.ledger_rows) == (0, 0, 0)
    with Session(desk.engine) as session:  # the ticket and its text stay
        ticket = repo.ticket_by_number(number, session=session)
        assert ticket is not None and ticket.id is not None
        assert [m.body_text for m in repo.ticket_messages(ticket.id, session=session)
                if m.direction == "in"] == ["Nie działa.\n"]  # fmt: skip


def test_a_file_shared_with_a_newer_attachment_stays(desk: Desk) -> None:
    open_ticket(desk, {"shared.pdf": b"S" * 50, "own.pdf": b"O" * 7}, at=OLD)
    open_ticket(desk, {"again.pdf": b"S" * 50}, at=RECENT)
    age_files(desk.store)

    report = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False, batch=1)

    assert (report.files, report.bytes, report.attachments, report.shared) == (1, 7, 1, 1)
    assert stored(desk.store, b"S" * 50) and not stored(desk.store, b"O" * 7)
    marks = pruned_marks(desk)
    assert sorted(name.split("/")[1] for name, at in marks.items() if at) == ["own.pdf"]


def test_an_open_tickets_old_attachment_stays_and_so_does_its_file_elsewhere(
    desk: Desk,
) -> None:
    open_ticket(desk, {"log.txt": b"L" * 30}, at=OLD, status="open")
    open_ticket(desk, {"same-log.txt": b"L" * 30}, at=OLD, status="resolved")
    open_ticket(desk, {"w.txt": b"W" * 3}, at=OLD, status="waiting")
    age_files(desk.store)

    report = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False)

    assert (report.files, report.attachments, report.shared) == (0, 0, 1)
    assert stored(desk.store, b"L" * 30) and stored(desk.store, b"W" * 3)
    assert set(pruned_marks(desk).values()) == {None}


def test_a_ticket_resolved_after_the_cutoff_keeps_its_old_attachments(desk: Desk) -> None:
    number = open_ticket(desk, {"x.txt": b"X"}, at=OLD)
    with Session(desk.engine) as session:
        ticket = repo.ticket_by_number(number, session=session)
        assert ticket is not None
        ticket.updated_at = RECENT  # resolved last week, after a long wait
        session.add(ticket)
        session.commit()
    age_files(desk.store)

    report = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False)

    assert report.attachments == 0 and stored(desk.store, b"X")


def test_a_file_used_in_the_last_day_is_kept_for_a_later_prune(desk: Desk) -> None:
    open_ticket(desk, {"x.txt": b"X" * 5}, at=OLD)
    age_files(desk.store)
    desk.store.put(b"X" * 5)  # a new mail with the same file, its ticket not committed yet

    report = prune(desk.engine, desk.store, older_than=KEEP, now=datetime.now().astimezone(),
                   dry_run=False)  # fmt: skip

    assert (report.files, report.attachments, report.recent) == (0, 0, 1)
    assert stored(desk.store, b"X" * 5)
    assert set(pruned_marks(desk).values()) == {None}


def test_a_pending_web_submissions_file_stays(desk: Desk) -> None:
    open_ticket(desk, {"x.txt": b"P" * 5}, at=OLD)
    path = desk.store.path_of(desk.store.put(b"P" * 5))
    with Session(desk.engine) as session:
        session.add(repo.WebSubmissionRow(
            created_at=NOW, ip="192.0.2.1", form="warranty", address="a@klos.pl",
            attachments=[{"filename": "x.txt", "content_type": "text/plain",
                          "path": str(path), "size": 5}],
        ))  # fmt: skip
        session.commit()
    age_files(desk.store)

    report = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False)

    assert (report.files, report.shared) == (0, 1) and path.exists()


def test_a_pruned_tickets_details_and_staff_page_say_so(desk: Desk) -> None:
    number = open_ticket(desk, {"faktura.pdf": b"F" * 2048}, at=OLD)
    age_files(desk.store)
    prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False)

    detail = ticket_detail(desk.settings, number, now=NOW)
    assert detail is not None
    (attachment,) = [a for m in detail["messages"] for a in m["attachments"]]
    assert attachment["filename"] == "faktura.pdf"
    assert attachment["pruned_at"] == NOW.isoformat()
    page = staff_ticket(desk, number)
    assert page is not None
    listed = [a for entry in page["timeline"] for a in entry.get("attachments", ())]
    assert listed == [{"filename": "faktura.pdf", "content_type": "application/octet-stream",
                       "size": "2.0 KB", "pruned_on": NOW.date().isoformat()}]  # fmt: skip


@pytest.fixture
def config(desk: Desk, tmp_path: Path) -> Path:
    """A configuration file for the command line on the desk's database and state dir."""
    path = tmp_path / "prune.toml"
    path.write_text(
        f"""
[general]
state_dir = "{desk.settings.state_dir}"
[imap]
url = "maildir:{tmp_path / "Maildir"}"
[smtp]
url = "dir:{tmp_path / "sent"}"
[database]
url = "{desk.settings.database.url}"
retention = "90d"
[support]
address = "pomoc@serwis.example.pl"
staff_addresses = ["szef@example.com"]
""",
        encoding="utf-8",
    )
    return path


def cli(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["--config", str(config), *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_prunes_and_tickets_show_says_so(
    desk: Desk, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number = open_ticket(desk, {"faktura.pdf": b"F" * 2048}, at=OLD)
    add_ledger(desk, 1, OLD)
    age_files(desk.store)

    code, out, err = cli(config, capsys, "db", "prune", "--dry-run")
    assert code == 0, err
    assert "would remove 1 ledger row(s)" in out
    assert "would remove 1 attachment file(s), 2.0 KB" in out
    assert stored(desk.store, b"F" * 2048)

    day = datetime.now(UTC).date().isoformat()
    code, out, err = cli(config, capsys, "db", "prune")
    assert code == 0, err
    assert "removed 1 ledger row(s)" in out and "removed 1 attachment file(s), 2.0 KB" in out
    assert not stored(desk.store, b"F" * 2048) and ledger_uids(desk) == []

    code, out, err = cli(config, capsys, "tickets", "show", number)
    assert code == 0, err
    shown = "attachment: faktura.pdf (application/octet-stream, 2048 B), "
    assert f"{shown}attachment removed by db prune ({day})\n" in out


def test_a_message_with_a_missing_file_is_still_shown(
    desk: Desk, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file gone without prune (removed by hand): the ticket reads from its rows alone."""
    number = open_ticket(desk, {"gone.txt": b"G" * 9}, at=RECENT, status="open")
    desk.store.path_of(hashlib.sha256(b"G" * 9).hexdigest()).unlink()
    code, out, err = cli(config, capsys, "tickets", "show", number)
    assert code == 0, err
    assert "attachment: gone.txt (application/octet-stream, 9 B)\n" in out
    with Session(desk.engine) as session:
        assert session.exec(select(MessageRow)).first() is not None


def test_a_file_of_two_old_attachments_is_removed_and_counted_once(desk: Desk) -> None:
    open_ticket(desk, {"umowa.pdf": b"U" * 100}, at=OLD)
    open_ticket(desk, {"umowa-kopia.pdf": b"U" * 100}, at=OLD + timedelta(days=1))
    age_files(desk.store)

    dry = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=True, batch=1)
    done = prune(desk.engine, desk.store, older_than=KEEP, now=NOW, dry_run=False, batch=1)

    for report in (dry, done):
        assert (report.files, report.bytes, report.attachments, report.shared) == (1, 100, 2, 0)
    assert not stored(desk.store, b"U" * 100)
    assert set(pruned_marks(desk).values()) == {NOW}
