"""Attachment bytes on disk, addressed by their SHA-256 (the same file is stored once)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


class AttachmentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its SHA-256 hex digest.

        Written before the ticket's transaction commits: a crash in between
        leaves an unreferenced file, never a ticket pointing at nothing.
        """
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        # A file of the right size is the same file (the name is its hash); a
        # shorter one was cut by a crash and is written again. A file kept is touched:
        # ``remove_unused`` (db prune) leaves a recently touched file alone, so a ticket
        # about to commit never loses the file it names.
        if not _touch(target, len(data)):
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{digest}.{os.getpid()}.tmp")
            with temp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())  # on disk before the ticket commits and the mail moves
            os.replace(temp, target)
            _fsync_dir(target.parent)
        return digest

    def stat_of(self, sha256: str) -> tuple[int, float] | None:
        """The stored file's size and last use (mtime, POSIX time), or None when it is gone
        (removed by ``mailbot db prune``)."""
        try:
            found = self.path_of(sha256).stat()
        except FileNotFoundError:
            return None
        return found.st_size, found.st_mtime

    def remove_unused(self, sha256: str, *, idle_since: float) -> int | None:
        """Remove the file of ``sha256`` unless it was touched at or after ``idle_since``
        (a POSIX time: a ``put`` of the same bytes may be about to commit a row naming it).

        Returns the bytes removed, 0 when there was no file, None when it was kept. The
        file is first moved aside, so a ``put`` racing with this either touches it before
        (and it is put back) or finds no file and writes it anew.
        """
        target = self.path_of(sha256)
        aside = target.with_name(f".{sha256}.{os.getpid()}.prune")
        try:
            os.replace(target, aside)
        except FileNotFoundError:
            return 0
        found = aside.stat()
        if found.st_mtime >= idle_since:
            if target.exists():  # written again meanwhile: the same bytes
                aside.unlink()
            else:
                os.replace(aside, target)
            return None
        aside.unlink()
        return found.st_size


def _touch(target: Path, size: int) -> bool:
    """Mark ``target`` as just used when it is whole (``size`` bytes); False: write it."""
    try:
        if target.stat().st_size != size:
            return False
        os.utime(target)
    except FileNotFoundError:
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX: the directory entry needs its own fsync)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
