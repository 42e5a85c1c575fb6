"""Ticket numbers and the subject tag that carries them.

A ticket number is ``<prefix>-<n>``: n comes from a database counter that only
grows, so numbers are never reused. In subjects the number appears as a tag in
square brackets, ``[SOL-123]``, the convention of Request Tracker and Roundup,
which survives the ``Re:``/``Odp:``/``AW:``/``Fwd:`` prefixes mail clients add.
"""

from __future__ import annotations

import re
from enum import StrEnum


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    RESOLVED = "resolved"
    CLOSED = "closed"


def ticket_number(prefix: str, n: int) -> str:
    """``ticket_number("SOL", 7) == "SOL-7"``; n must be positive."""
    if n < 1:
        raise ValueError(f"ticket sequence numbers start at 1, got {n}")
    return f"{prefix}-{n}"


def ticket_tag(number: str) -> str:
    return f"[{number}]"


def find_ticket_number(subject: str, prefix: str) -> str | None:
    """The ticket number of the first ``[PREFIX-n]`` tag anywhere in ``subject``, or None.

    Matching is case-insensitive on the prefix (some clients upper- or
    lower-case subjects) and tolerates spaces inside the brackets; the number
    is returned in canonical form.
    """
    pattern = re.compile(
        r"""\[ \s* (?P<prefix>"""
        + re.escape(prefix)
        + r""") \s* - \s* (?P<n>[1-9][0-9]{0,11}) \s* \]""",
        re.IGNORECASE | re.VERBOSE,
    )
    found = pattern.search(subject)
    return ticket_number(prefix, int(found["n"])) if found else None


def subject_with_tag(number: str, subject: str) -> str:
    """The subject of a mail about ticket ``number``: the tag first, once."""
    clean = " ".join(subject.split()) or "(no subject)"
    tag = ticket_tag(number)
    return clean if tag.lower() in clean.lower() else f"{tag} {clean}"
