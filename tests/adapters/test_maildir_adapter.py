"""MaildirSource on a real Maildir in tmp_path."""

from __future__ import annotations

import mailbox
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbot.adapters.mailbox import MailSource
from mailbot.adapters.maildir import MaildirSource
from mailbot.errors import MailboxError


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return tmp_path / "Maildir"


@pytest.fixture
def source(maildir: Path) -> Iterator[MaildirSource]:
    opened = MaildirSource(maildir, "Processed", "Quarantine")
    yield opened
    opened.close()


def make_mail(n: int) -> bytes:
    # CRLF and 8-bit text: fetch and move must keep every byte.
    return f"From: c{n}@example.com\r\nSubject: Problem {n}\r\n\r\nZażółć {n}  \r\n".encode()


def deliver(maildir: Path, raw: bytes, *, at: int, seen: bool = False) -> str:
    """Deliver as an MDA does (into new/, or cur/ once a client saw it), at time ``at``."""
    mailbox.Maildir(maildir, factory=None, create=True)
    key = f"{at}.M{uuid.uuid4().hex[:8]}P{os.getpid()}.test"
    path = maildir / "cur" / f"{key}:2,S" if seen else maildir / "new" / key
    path.write_bytes(raw)
    os.utime(path, (at, at))
    return key


def inbox_keys(maildir: Path) -> set[str]:
    return set(mailbox.Maildir(maildir, factory=None).keys())


def folder_contents(maildir: Path, folder: str) -> list[bytes]:
    box = mailbox.Maildir(maildir, factory=None).get_folder(folder)
    return sorted(box.get_bytes(key) for key in box.iterkeys())


def test_is_a_mail_source_named_by_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    source: MailSource = MaildirSource(Path("box/../Maildir"), "Processed", "Quarantine")
    assert source.name == f"maildir:{tmp_path / 'Maildir'}"


def test_open_creates_the_maildir_and_its_folders(source: MaildirSource, maildir: Path) -> None:
    assert source.open() == 0
    for sub in ("new", "cur", "tmp", ".Processed/new", ".Quarantine/cur"):
        assert (maildir / sub).is_dir()
    source.close()
    assert source.open() == 0  # all there already: no error


def test_open_fails_clearly_when_the_path_cannot_be_a_maildir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    source = MaildirSource(tmp_path / "file" / "Maildir", "Processed", "Quarantine")
    with pytest.raises(MailboxError, match=f"Maildir {tmp_path / 'file' / 'Maildir'}"):
        source.open()


def test_list_new_gives_every_mail_by_delivery_time(source: MaildirSource, maildir: Path) -> None:
    late = deliver(maildir, make_mail(0), at=1_700_000_300)
    early = deliver(maildir, make_mail(1), at=1_700_000_100, seen=True)
    middle = deliver(maildir, make_mail(2), at=1_700_000_200)
    source.open()
    assert source.list_new(0) == [early, middle, late]
    assert source.list_new(10**9) == [early, middle, late]  # no uid order in a Maildir


def test_fetch_returns_exact_bytes_and_leaves_the_mail_alone(
    source: MaildirSource, maildir: Path
) -> None:
    keys = [deliver(maildir, make_mail(n), at=1_700_000_000 + n) for n in range(3)]
    source.open()
    fetched = list(source.fetch(list(reversed(keys))))
    assert [(m.uid, m.raw) for m in fetched] == [(k, make_mail(n)) for n, k in enumerate(keys)][
        ::-1
    ]
    assert sorted(os.listdir(maildir / "new")) == sorted(keys)  # not moved to cur/, no flags


def test_fetch_skips_a_mail_that_vanished(source: MaildirSource, maildir: Path) -> None:
    key = deliver(maildir, make_mail(1), at=1_700_000_000)
    source.open()
    assert [m.uid for m in source.fetch(["1700000000.M1P1Q1.gone", key])] == [key]


def test_move_to_processed_and_quarantine(source: MaildirSource, maildir: Path) -> None:
    first, second, third = (deliver(maildir, make_mail(n), at=1_700_000_000 + n) for n in range(3))
    source.open()
    source.move(first, to="processed")
    source.move(second, to="quarantine")
    assert inbox_keys(maildir) == {third}
    assert folder_contents(maildir, "Processed") == [make_mail(0)]
    assert folder_contents(maildir, "Quarantine") == [make_mail(1)]
    assert source.list_new(0) == [third]
    source.move(first, to="processed")  # gone already: nothing happens
    assert folder_contents(maildir, "Processed") == [make_mail(0)]


def test_configured_folder_names(maildir: Path) -> None:
    source = MaildirSource(maildir, "Done", "Suspicious")
    source.open()
    key = deliver(maildir, make_mail(5), at=1_700_000_000)
    source.move(key, to="quarantine")
    assert folder_contents(maildir, "Suspicious") == [make_mail(5)]
    assert (maildir / ".Done").is_dir()


def test_commands_before_open_fail(source: MaildirSource) -> None:
    with pytest.raises(MailboxError, match="not open"):
        source.list_new(0)


# --- delivery times (issue 13, item 9) ------------------------------------------------------


def put(maildir: Path, name: str, raw: bytes, *, mtime: int, subdir: str = "new") -> None:
    """A file put into the Maildir by hand or by a tool that does not follow maildir(5)."""
    mailbox.Maildir(maildir, factory=None, create=True)
    path = maildir / subdir / name
    path.write_bytes(raw)
    os.utime(path, (mtime, mtime))


@pytest.mark.parametrize(
    ("name", "subdir", "from_name"),
    [
        ("1700000000.M123P456Q7.mail.example.com,S=60", "new", True),
        ("1700000000.12345_1.host", "new", True),
        ("1700000000.M1P1.host:2,S", "cur", True),
        ("0.eml", "new", False),
        ("1.eml", "new", False),
        ("1.eml:2,S", "cur", False),
        ("1700000000.eml", "new", False),  # seconds, but no unique part and host
        ("1700000000", "new", False),
        ("99999999999.M1P1.host", "new", False),  # the year 5138
        ("900000000.M1P1.host", "new", False),  # 1998: before any plausible delivery
        ("\uff11\uff17\uff10\uff10000000.M1P1.host", "new", False),  # not ASCII digits
    ],
)
def test_a_name_gives_the_delivery_time_only_when_it_is_a_maildir_unique_name(
    source: MaildirSource, maildir: Path, name: str, subdir: str, from_name: bool
) -> None:
    mtime = 1_750_000_000
    put(maildir, name, make_mail(1), mtime=mtime, subdir=subdir)
    source.open()
    [key] = source.list_new(0)
    [fetched] = source.fetch([key])
    expected = 1_700_000_000 if from_name else mtime
    assert fetched.received_at == datetime.fromtimestamp(expected, UTC)


def test_the_file_time_is_found_without_a_listing_first(
    source: MaildirSource, maildir: Path
) -> None:
    put(maildir, "0.eml", make_mail(0), mtime=1_750_000_000)
    source.open()
    [fetched] = source.fetch(["0.eml"])
    assert fetched.received_at == datetime.fromtimestamp(1_750_000_000, UTC)
