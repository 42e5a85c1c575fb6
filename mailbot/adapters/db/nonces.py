"""One-time links (issue 15): a staff sign-in link, a submission's confirmation link.

A link's nonce is spent by inserting it into ``used_nonce``: the primary key makes a
second use fail, whichever process tries, however close together the two come.
"""

from __future__ import annotations

from datetime import datetime

from mailbot.adapters.db.engine import Session
from mailbot.adapters.db.errors import IntegrityError
from mailbot.adapters.db.tables import UsedNonceRow


def spend_nonce(nonce: str, *, now: datetime, session: Session) -> bool:
    """Mark a one-time link's nonce used, in the caller's transaction; False when it already
    was (the transaction is then rolled back: call this first)."""
    try:
        session.add(UsedNonceRow(nonce=nonce, used_at=now))
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


def nonce_spent(nonce: str, *, session: Session) -> bool:
    return session.get(UsedNonceRow, nonce) is not None
