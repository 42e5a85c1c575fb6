"""The attachment store's side of ``mailbot db prune``: a file is removed only when it was
not used (written or found by ``put``) since the moment given, and ``put`` brings it back."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mailbot.adapters.attachments import AttachmentStore

LONG_AGO = 1_577_836_800.0  # 2020-01-01


def test_an_unused_file_is_removed_and_put_writes_it_again(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "attachments")
    sha = store.put(b"faktura" * 100)
    os.utime(store.path_of(sha), (LONG_AGO, LONG_AGO))

    assert store.remove_unused(sha, idle_since=time.time() - 86400) == 700
    assert not store.path_of(sha).exists() and store.stat_of(sha) is None
    assert list(store.path_of(sha).parent.iterdir()) == []  # nothing left aside
    assert store.remove_unused(sha, idle_since=time.time()) == 0

    assert store.put(b"faktura" * 100) == sha
    assert store.path_of(sha).read_bytes() == b"faktura" * 100


def test_a_file_put_again_since_is_kept(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "attachments")
    sha = store.put(b"log")
    os.utime(store.path_of(sha), (LONG_AGO, LONG_AGO))
    store.put(b"log")  # found, not written: touched

    stat = store.stat_of(sha)
    assert stat is not None and stat[0] == 3 and stat[1] > LONG_AGO
    assert store.remove_unused(sha, idle_since=time.time() - 86400) is None
    assert store.path_of(sha).read_bytes() == b"log"
    assert [p.name for p in store.path_of(sha).parent.iterdir()] == [sha]
