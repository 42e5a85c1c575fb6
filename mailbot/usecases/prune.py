"""``mailbot db prune`` (issue 17): remove old ledger rows and old attachments' bytes.

What goes, for a cutoff ``now - older_than``:

- ledger rows processed before the cutoff. The ledger guards against taking a mail twice;
  a mail that old has left the mailbox (it is moved once handled), and one that did not
  is still skipped by the mailbox's UID mark (``mailbox_state``, kept) unless UIDVALIDITY
  changes. The trade-off: a mail that old that comes back (restored by hand, delivered
  again) is no longer recognised as a duplicate of the one taken, so it is handled as a
  new mail (a follow-up of its ticket when it answers one). Whether such a mail is still
  in the mailbox cannot be known offline, so no ledger row is kept for that.
- the stored files of attachments of messages received before the cutoff, on tickets
  resolved or closed and unchanged since the cutoff (never of a ticket still being worked
  on), unless an attachment prune keeps (newer, or on another ticket) or a web submission
  waiting for its confirmation uses the same file: files are stored once by SHA-256. The
  attachment's row stays, marked ``pruned_at``, so the ticket still lists it and says it
  was removed.

Tickets, message texts, time entries, SLA events and everything billing reads stay.

Every step is a batch in its own short transaction (``mailbot run`` and ``mailbot web`` go
on meanwhile), and a file touched within the last day (``AttachmentStore.put`` touches the
file it finds stored) is kept, so a ticket about to commit never loses the file it names.
Files go before their rows are marked: a prune stopped in between is finished by the next.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.adapters import db as repo
from mailbot.adapters.attachments import AttachmentStore
from mailbot.adapters.db import Engine, Session

# Rows per transaction: short enough that the daemon waits at most a moment for the lock.
BATCH = 500
# A file touched this recently may be named by a ticket not committed yet, or read by a web
# submission being confirmed: kept until a later prune.
RECENT = timedelta(days=1)


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed, or (``dry_run``) would remove."""

    cutoff: datetime
    dry_run: bool
    ledger_rows: int = 0
    attachments: int = 0  # attachment rows marked as pruned
    files: int = 0  # files removed
    bytes: int = 0  # their size
    shared: int = 0  # old attachments kept: their file is also a newer or open one's
    recent: int = 0  # old attachments kept: their file was touched in the last day


def prune(
    engine: Engine,
    store: AttachmentStore,
    *,
    older_than: timedelta,
    now: datetime,
    dry_run: bool,
    batch: int = BATCH,
) -> PruneReport:
    """Prune what is older than ``now - older_than`` (see the module's text)."""
    cutoff = now - older_than
    if dry_run:
        with Session(engine) as session:
            ledger_rows = repo.old_ledger_rows(cutoff, session=session)
    else:  # the deletion counts them itself
        ledger_rows = repo.delete_old_ledger_rows(cutoff, engine=engine, batch=batch)
    files = _Files(store, dry_run=dry_run, idle_since=(now - RECENT).timestamp())
    with Session(engine) as session:
        pending = repo.pending_submission_shas(session=session)
    after_id = 0
    while True:
        with Session(engine) as session:
            old = repo.old_attachments(cutoff, after_id=after_id, batch=batch, session=session)
            if not old:
                break
            after_id = old[-1].id
            used = pending | repo.shas_still_used((a.sha256 for a in old), cutoff,
                                                  session=session)  # fmt: skip
        by_sha: dict[str, list[int]] = defaultdict(list)
        for attachment in old:
            if attachment.sha256 in used:
                files.shared += 1
            else:
                by_sha[attachment.sha256].append(attachment.id)
        pruned = [i for sha, ids in by_sha.items() if files.remove(sha, len(ids)) for i in ids]
        if pruned and not dry_run:
            with Session(engine) as session:
                repo.mark_pruned(pruned, now, session=session)
                session.commit()
        files.attachments += len(pruned)
    return PruneReport(
        cutoff=cutoff, dry_run=dry_run, ledger_rows=ledger_rows,
        attachments=files.attachments, files=files.files, bytes=files.bytes,
        shared=files.shared, recent=files.recent,
    )  # fmt: skip


class _Files:
    """The files of one prune, counted once each however many attachments name them."""

    def __init__(self, store: AttachmentStore, *, dry_run: bool, idle_since: float) -> None:
        self.store, self.dry_run, self.idle_since = store, dry_run, idle_since
        self.seen: set[str] = set()
        self.attachments = self.files = self.bytes = self.shared = self.recent = 0

    def remove(self, sha256: str, rows: int) -> bool:
        """Remove (or, dry, look at) the file; False when it is kept for now."""
        if self.dry_run:
            size = self.store.stat_of(sha256)
            if size is not None and size[1] >= self.idle_since:
                self.recent += rows
                return False
            removed = None if size is None else size[0]
        else:
            removed = self.store.remove_unused(sha256, idle_since=self.idle_since)
            if removed is None:
                self.recent += rows
                return False
        if removed and sha256 not in self.seen:
            self.seen.add(sha256)
            self.files += 1
            self.bytes += removed
        return True
