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
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{digest}.{os.getpid()}.tmp")
            temp.write_bytes(data)
            os.replace(temp, target)
        return digest
