"""The support inbox as a local Maildir, through the standard library's ``mailbox``.

For the demo and for sites that deliver mail locally. The processed and
quarantine folders are Maildir++ subfolders (``.Processed``, ``.Quarantine``)
as Dovecot and Courier lay them out.

A Maildir has no ordered uids: a mail's key is its unique file name, and
``list_new`` returns every mail still in the inbox (``new/`` and ``cur/``),
oldest delivery first. Mails leave the inbox once handled, so that is the
same as "what is new".

A mail's delivery time is the one its name carries when the name is a real
Maildir unique name (``<seconds>.<unique>.<host>``, seconds from 2000 to 2100);
a file put there by hand (``0.eml``) gets its modification time instead.
"""

from __future__ import annotations

import mailbox
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from mailbot.adapters.mailbox import Destination, FetchedMail, MailSource
from mailbot.errors import MailboxError


class MaildirSource(MailSource):
    """A Maildir at ``path`` (created if absent) with two Maildir++ subfolders."""

    def __init__(self, path: Path, processed_folder: str, quarantine_folder: str) -> None:
        self._path = Path(os.path.abspath(path))
        self._folders: dict[Destination, str] = {
            "processed": processed_folder,
            "quarantine": quarantine_folder,
        }
        self._box: mailbox.Maildir | None = None
        # Each inbox file's modification time (ns) by key, from the last listing.
        self._mtimes: dict[str, int] = {}
        self.name = f"maildir:{self._path}"

    def open(self) -> int:
        with self._translated("opening"):
            box = mailbox.Maildir(self._path, factory=None, create=True)
            existing = set(box.list_folders())
            for folder in self._folders.values():
                if folder not in existing:
                    box.add_folder(folder)
        self._box = box
        return 0  # a Maildir has no UIDVALIDITY: its keys never repeat

    def list_new(self, after_uid: int) -> list[str]:
        """Every key in the inbox, by delivery time (file mtime) then key; ignores ``after_uid``."""
        box = self._open_box()
        with self._translated("listing the inbox"):
            delivered = sorted(self._delivered(box))
        self._mtimes = {key: mtime for mtime, key in delivered}
        return [key for _, key in delivered]

    def fetch(self, uids: Sequence[str], *, max_size: int | None = None) -> Iterator[FetchedMail]:
        # A local file is read whole: the size limit applies after parsing (core.limits).
        box = self._open_box()
        for key in uids:
            with self._translated(f"reading mail {key}"):
                raw = _read(box, key)
            if raw is not None:
                yield FetchedMail(key, raw, _delivery_time(key) or self._file_time(key))

    def move(self, uid: str, *, to: Destination) -> None:
        box = self._open_box()
        folder = self._folders[to]
        with self._translated(f"moving mail {uid} to {folder!r}"):
            raw = _read(box, uid)
            if raw is None:
                return
            # Add before removing: a crash in between leaves a duplicate, never a loss.
            box.get_folder(folder).add(raw)
            box.discard(uid)

    def move_all(self, uids: Sequence[str], *, to: Destination) -> None:
        for uid in uids:
            self.move(uid, to=to)

    def close(self) -> None:
        self._box = None  # mailbox.Maildir holds no open files between calls

    def _delivered(self, box: mailbox.Maildir) -> Iterator[tuple[int, str]]:
        """(mtime in ns, key) of each mail in new/ and cur/, keyed as ``mailbox.Maildir`` does."""
        for subdir in ("new", "cur"):
            with os.scandir(self._path / subdir) as entries:
                for entry in entries:
                    with suppress(FileNotFoundError):  # moved away since the scan began
                        if not entry.is_dir():
                            yield entry.stat().st_mtime_ns, entry.name.split(box.colon)[0]

    def _file_time(self, key: str) -> datetime | None:
        """The file's modification time: when it was delivered, for a name that does not say."""
        if key not in self._mtimes:  # fetched without listing first
            with self._translated("listing the inbox"):
                self._mtimes |= {name: mtime for mtime, name in self._delivered(self._open_box())}
        mtime = self._mtimes.get(key)
        try:
            return None if mtime is None else datetime.fromtimestamp(mtime / 1e9, UTC)
        except (OverflowError, OSError, ValueError):  # a time stamp beyond what datetime holds
            return None

    def _open_box(self) -> mailbox.Maildir:
        if self._box is None:
            raise MailboxError(f"Maildir {self._path}: not open (call open() first)")
        return self._box

    @contextmanager
    def _translated(self, step: str) -> Iterator[None]:
        try:
            yield
        except (OSError, mailbox.Error) as exc:
            raise MailboxError(f"Maildir {self._path}: failed while {step}: {exc}") from exc


def _read(box: mailbox.Maildir, key: str) -> bytes | None:
    """The mail's bytes, or None when it is gone (moved by someone else)."""
    try:
        return box.get_bytes(key)
    except (KeyError, FileNotFoundError):
        return None


# maildir(5): a unique name is "<seconds>.<unique part>.<host>"; the unique part has no dot.
_UNIQUE_NAME = re.compile(r"(?P<seconds>[0-9]{1,10})\.[^.]+\..+", re.ASCII)
# Seconds outside these years name no delivery (a file called 0.eml, a typo, a test).
_PLAUSIBLE = range(
    int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()),
)


def _delivery_time(key: str) -> datetime | None:
    """When the mail was delivered, as its name says: only a real Maildir unique name with
    plausible seconds says it; any other name (``0.eml``) says nothing."""
    found = _UNIQUE_NAME.fullmatch(key)
    if found is None or int(found["seconds"]) not in _PLAUSIBLE:
        return None
    return datetime.fromtimestamp(int(found["seconds"]), UTC)
