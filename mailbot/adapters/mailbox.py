"""What every mailbox adapter offers: list new mail, fetch it, move it out of the inbox.

A mail stays in the inbox until the use case has committed what it did with
it; only then is it moved to the processed (or quarantine) folder. So an
adapter never deletes a mail outright, and a crash between "stored" and
"moved" leaves the mail where the next run finds it again (the ledger, keyed
by ``name``, UIDVALIDITY and uid, tells it was already done).

Adapters translate their library's errors into ``mailbot.errors.MailboxError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

Destination = Literal["processed", "quarantine"]


@dataclass(frozen=True)
class FetchedMail:
    """One mail exactly as the mailbox holds it."""

    uid: str  # IMAP UID as a decimal string; the Maildir key
    raw: bytes
    # When the mailbox received it (IMAP INTERNALDATE, a Maildir file's time), aware;
    # deadlines run from here, not from when mailbot got round to it.
    received_at: datetime | None = None
    # The mail's full size when the source knows it (IMAP RFC822.SIZE); with ``truncated``
    # set, ``raw`` holds only its first bytes (a mail over the size limit is not read whole).
    size: int | None = None
    truncated: bool = False


class MailSource(Protocol):
    """A mailbox the daemon reads: an IMAP folder or a local Maildir.

    Every method except ``close`` raises ``MailboxError`` when the mailbox
    cannot be reached or refuses a command; after that, ``close`` and
    ``open`` again before going on.
    """

    # A stable identifier for the ledger, e.g. "imap://support@127.0.0.1:1143/INBOX"
    # or "maildir:/abs/path".
    name: str

    def open(self) -> int:
        """Connect, select the inbox, create the processed and quarantine folders if absent.

        Returns the inbox's UIDVALIDITY (always 0 for a Maildir): when it
        changes, the uids seen before mean nothing any more.
        """
        ...

    def list_new(self, after_uid: int) -> list[str]:
        """The uids in the inbox greater than ``after_uid``, ascending.

        A Maildir has no ordered uids: it returns every mail in the inbox,
        oldest delivery first, whatever ``after_uid`` is.
        """
        ...

    def fetch(self, uids: Sequence[str], *, max_size: int | None = None) -> Iterator[FetchedMail]:
        """The mails with these uids, in that order, without marking them as read.

        A uid no longer in the inbox is skipped. A mail bigger than ``max_size``
        may come truncated to its first ``max_size`` bytes (``truncated`` set).
        """
        ...

    def move(self, uid: str, *, to: Destination) -> None:
        """Move one mail from the inbox to the processed or quarantine folder.

        A uid no longer in the inbox is ignored: someone else moved it already.
        """
        ...

    def move_all(self, uids: Sequence[str], *, to: Destination) -> None:
        """``move`` for several mails at once (one command where the server allows)."""
        ...

    def close(self) -> None:
        """Log out and release the connection; never raises."""
        ...
