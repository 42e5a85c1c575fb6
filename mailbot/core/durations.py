"""The one way mailbot reads a written duration: settings, contracts, ``#time`` and ``time add``.

The grammar (the union of what those four read before issue 14):

1. A duration is one or more terms ``NUMBER UNIT`` with the units in the order
   d (days), h (hours), m or min (minutes), s (seconds), each at most once; spaces
   may stand between a number and its unit and between terms: ``"1d 12h"``,
   ``"1h30m"``, ``"90s"``, ``"45min"``, ``"1 h 5 min"``.
2. A NUMBER is ASCII digits, perhaps with a decimal point or comma: ``1.5h``, ``1,5h``.
3. A bare whole number (``"120"``, or an int) has no unit; what it means is the caller's.
4. Anything else, a minus sign included, is no duration (None); an int is a bare
   number as it is, and the caller's bound refuses a negative one.

Callers keep their own rules on top, because their users write for different
readers: settings and contracts (``settings_parts``) take whole numbers with
lower-case units and read a bare number as seconds; a record of time worked
(``work_seconds``) takes fractions and any case ("1.5H") but no bare number,
which could mean minutes as well as hours. Bounds and error wording stay with
each caller. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

_NUMBER = r"\d+(?:[.,]\d+)?"
_TERMS = re.compile(
    rf"""
    (?:(?P<d>{_NUMBER})\s*(?P<d_unit>d)\s*)?          # days
    (?:(?P<h>{_NUMBER})\s*(?P<h_unit>h)\s*)?          # hours
    (?:(?P<m>{_NUMBER})\s*(?P<m_unit>m(?:in)?)\s*)?   # minutes
    (?:(?P<s>{_NUMBER})\s*(?P<s_unit>s))?             # seconds; in this order, each once
    """,
    re.VERBOSE | re.IGNORECASE,
)
_UNITS = ("d", "h", "m", "s")
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# Longer numbers are not read at all: int() refuses past 4300 digits (CVE-2020-10735),
# and no caller accepts anything near 10**30 seconds, so its bound refuses the stand-in.
_MAX_DIGITS = 30
_HUGE = Decimal(10**_MAX_DIGITS)


@dataclass(frozen=True)
class DurationText:
    """A duration as written: the amount of each unit, and how it was spelled."""

    days: Decimal = Decimal(0)
    hours: Decimal = Decimal(0)
    minutes: Decimal = Decimal(0)
    seconds: Decimal = Decimal(0)
    # A plain number without a unit ("120"); its amount is in ``seconds``.
    bare: bool = False
    # Some number has a decimal point or comma ("1.5h").
    fraction: bool = False
    # Some unit is in upper case ("1H", "30Min").
    upper_case: bool = False

    def total_seconds(self) -> Decimal:
        """The whole length in seconds, a day being 24 hours."""
        return self.days * 86400 + self.hours * 3600 + self.minutes * 60 + self.seconds


def read_duration(text: str | int) -> DurationText | None:
    """``text`` read by the grammar above, or None when it is no duration.

    An int (not a bool: ``true`` is no duration) is a bare number.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return DurationText(seconds=Decimal(text), bare=True)
    stripped = text.strip()
    if stripped.isascii() and stripped.isdigit():
        return DurationText(seconds=_number(stripped), bare=True)
    found = _TERMS.fullmatch(stripped)
    if not stripped or found is None:
        return None
    written = {unit: found[unit] for unit in _UNITS if found[unit] is not None}
    units = "".join(found[f"{unit}_unit"] or "" for unit in _UNITS)
    return DurationText(
        days=_number(written.get("d", "0")),
        hours=_number(written.get("h", "0")),
        minutes=_number(written.get("m", "0")),
        seconds=_number(written.get("s", "0")),
        fraction=any(not number.isdigit() for number in written.values()),
        upper_case=units != units.lower(),
    )


def _number(text: str) -> Decimal:
    whole = text.replace(",", ".").partition(".")[0]
    return Decimal(text.replace(",", ".")) if len(whole.lstrip("0")) <= _MAX_DIGITS else _HUGE


def settings_parts(text: str | int) -> tuple[int, int] | None:
    """(days, seconds) of a duration as settings and contracts write it, or None.

    Whole numbers and lower-case units only (``"1d 12h"``, ``"90s"``); a bare
    number is seconds. The caller bounds the result (zero is no setting).
    """
    found = read_duration(text)
    if found is None or found.fraction or found.upper_case:
        return None
    rest = found.hours * 3600 + found.minutes * 60 + found.seconds
    return int(found.days), int(rest)


def work_seconds(text: str) -> Decimal | None:
    """The seconds of time worked as staff write it (``1h30m``, ``90m``, ``1.5h``, ``1,5H``),
    or None; a bare number is refused (minutes or hours?). The caller bounds and rounds."""
    found = read_duration(text)
    if found is None or found.bare:
        return None
    return found.total_seconds()
