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
        # shorter one was cut by a crash and is written again.
        if not target.exists() or target.stat().st_size != len(data):
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{digest}.{os.getpid()}.tmp")
            with temp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())  # on disk before the ticket commits and the mail moves
            os.replace(temp, target)
            _fsync_dir(target.parent)
        return digest


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX: the directory entry needs its own fsync)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
