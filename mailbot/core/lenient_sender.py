"""The sender of a From header that RFC 5322 cannot read: the lenient fallback.

When the strict parse of ``From`` finds no address, :func:`read_sender` reads it
the way other helpdesks do, by these rules, in order:

1. When the value has angle brackets, only what is inside them counts, the last
   pair that holds an address first: a display name is never read as the address,
   so ``"x@evil.com" <>`` has none.
2. Without brackets, the value is split at white space and the separators
   ``, ; : ( ) [ ] < >``; the last piece that holds ``local@domain`` is the address
   (``Dział IT firma@example.pl``, an unquoted name with spaces).
3. A piece is repaired before it is judged: double quotes are dropped (a local part
   quoted in the wrong place, ``jan."kowalski@example.pl``) and so are dots at its
   ends (``anna.nowak@example.pl.``, a trailing dot some mailers add).
4. With no address at all, a bare ``MAILER-DAEMON`` or ``postmaster`` (no domain:
   some MTAs write their bounces so) is a robot sender: nobody to answer, but a
   bounce, not a mail without sender.

Each step is one pass over the value (no regular expression that can backtrack), so
a 100 KB header costs what its length does. Whether a repaired address may be
written to is a separate question: :func:`is_valid_address`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LenientSender", "is_valid_address", "read_sender"]

# RFC 5321 section 4.5.3.1: a path is at most 256 octets, so an address at most 254.
_MAX_ADDRESS = 254
# The contents of one <...> pair; [^<>]* stops at the next bracket, so each character is
# read once.
_BRACKETS = re.compile(r"<([^<>]*)>")
_SEPARATORS = re.compile(r"[\s,;:()\[\]<>]+")
# RFC 3834 section 3.2.1 and RFC 5321 section 4.5.5: the names bounces come from; some
# MTAs write them without a domain.
_BARE_ROBOTS = frozenset({"mailer-daemon", "postmaster"})
# RFC 5322 section 3.2.3: atext, the characters of a dot-atom local part (lower-cased).
_DOT_ATOM = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
# RFC 1035 section 2.3.1 labels (RFC 5890: internationalised labels as Unicode letters).
_LABEL = re.compile(r"(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?(?<!-)")


@dataclass(frozen=True)
class LenientSender:
    """What the lenient reader made of a From value.

    ``address``: the repaired ``local@domain``, lower-cased, or None; ``name``: the words
    before it (before the first ``<`` when there are brackets), quotes removed, white space
    collapsed; ``robot``: the bare robot name (``mailer-daemon``) when there is no
    address but one is named.
    """

    address: str | None
    name: str = ""
    robot: str = ""


def read_sender(value: str) -> LenientSender:
    """The sender in From value ``value`` (unfolded, decoded) by the module's rules."""
    bracketed = [found.group(1) for found in _BRACKETS.finditer(value)]
    pieces = bracketed if bracketed else _SEPARATORS.split(value)
    for index in range(len(pieces) - 1, -1, -1):
        address = _repaired(pieces[index])
        if address is not None:
            words = value.partition("<")[0] if bracketed else " ".join(pieces[:index])
            return LenientSender(address, name=" ".join(words.replace('"', " ").split()))
    for piece in pieces:
        bare = piece.replace('"', "").strip().lower()
        if bare in _BARE_ROBOTS:
            return LenientSender(None, robot=bare)
    return LenientSender(None)


def _repaired(piece: str) -> str | None:
    """``piece`` as ``local@domain`` without quotes and end dots, or None if it is none."""
    if "@" not in piece:
        return None
    address = piece.replace('"', "").strip().strip(".").lower()
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or len(address) > _MAX_ADDRESS:
        return None
    if any(ch.isspace() for ch in address):
        return None
    return address


def is_valid_address(address: str) -> bool:
    """Is ``address`` a plain ``local@domain`` one may write to: a dot-atom local part
    (RFC 5322 3.2.3) and a domain of two or more DNS labels (RFC 1035 2.3.1)?"""
    local, at, domain = address.rpartition("@")
    if not at or len(address) > _MAX_ADDRESS or len(local) > 64:
        return False
    labels = domain.split(".")
    return (
        _DOT_ATOM.fullmatch(local) is not None
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
    )
