"""The argument types of the ``mailbot`` command, checked while the command line is parsed.

Each function reads one kind of value (argparse's ``type=``) and refuses
anything else with ``ArgumentTypeError``; ``OneLineParser`` turns that into one
line naming the argument, and exit code 2, before any file or database is
touched. The bounds are the issue 13 rules: no huge numbers, no dates outside
1970-9000, no negative limits, no invalid addresses, no NUL bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NoReturn

from mailbot.config import (
    describe_value,
    is_domain_name,
    is_email_address,
    parse_duration,
    parse_retention,
)
from mailbot.core.billing import Month
from mailbot.usecases.timesheet import parse_work_duration

# Moments before 1970 or after 9000 are typos; far beyond 9000 datetime itself overflows.
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(9000, 12, 31, 23, 59, 59)
MAX_LIMIT = 100_000


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def refuse_unreadable(argv: Sequence[str]) -> str | None:
    """Why an argument cannot be taken at all (a NUL byte, bytes that are not UTF-8), or None.

    Nothing downstream can store or print such text: PostgreSQL refuses NUL in
    text, and a lone surrogate (how Python shows non-UTF-8 bytes) cannot be encoded.
    """
    for arg in argv:
        if "\0" in arg:
            return f"argument {_shown(arg)} contains a NUL byte"
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            return f"argument {_shown(arg)} is not valid UTF-8"
    return None


def one_line(text: str) -> str:
    """``text`` with every character that is not printable (line breaks, controls,
    zero-width ones) written as an escape, so an error about any input stays one line."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def say(message: str) -> None:
    """Print a message for the user on stderr, as one line."""
    print(one_line(message), file=sys.stderr)


def _shown(text: str) -> str:
    return json.dumps(text if len(text) <= 80 else text[:80] + "...")


def limit(text: str) -> int:
    """A count of rows: 1 to MAX_LIMIT."""
    digits = text.strip().removeprefix("-")
    value = int(text) if digits.isascii() and digits.isdigit() and len(digits) <= 9 else None
    if value is None or not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_LIMIT}, got {_shown(text)}"
        )
    return value


def duration(text: str) -> timedelta:
    """A duration as the configuration writes it (``2h``, ``30m``, ``1d``), at most a year."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def retention(text: str) -> timedelta:
    """How old history must be for ``db prune`` to remove it: ``90d``, at least 30 days."""
    try:
        return parse_retention(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def work_duration(text: str) -> timedelta:
    """Time worked in one entry: ``1h30m``, ``90m``, ``1.5h``; more than zero, at most 24 h."""
    try:
        return parse_work_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def month(text: str) -> Month:
    """A calendar month, ``2026-11``, from 1970-01 to 9000-12."""
    try:
        found = Month.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not EARLIEST.year <= found.year <= LATEST.year:
        raise argparse.ArgumentTypeError(
            f"expected a month from {EARLIEST:%Y-%m} to {LATEST:%Y-%m}, got {_shown(text)}"
        )
    return found


def moment(text: str) -> datetime:
    """An ISO 8601 date or moment (``2026-11-27T15:00``, an offset optional) from 1970 to 9000.

    Without an offset it stays naive: the command reads it in the company's time zone.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a moment like 2026-11-27T15:00 (ISO 8601), got {_shown(text)}"
        ) from None
    if not EARLIEST <= value.replace(tzinfo=None) <= LATEST:
        raise argparse.ArgumentTypeError(
            f"expected a moment from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}, got {_shown(text)}"
        )
    return value


_TICKET_NUMBER = re.compile(r"[A-Za-z][A-Za-z0-9]{0,19}-[1-9][0-9]{0,17}")


def ticket_number(text: str) -> str:
    """A ticket number, ``SOL-42``, upper-cased."""
    if _TICKET_NUMBER.fullmatch(text.strip()) is None:
        raise argparse.ArgumentTypeError(
            f"expected a ticket number like SOL-42, got {_shown(text)}"
        )
    return text.strip().upper()


def address(text: str) -> str:
    """An e-mail address, ``jan@acme.pl``, lower-cased."""
    if not is_email_address(text.strip()):
        raise argparse.ArgumentTypeError(
            f"expected an e-mail address like jan@acme.pl, got {describe_value(text)}"
        )
    return text.strip().lower()


def address_or_domain(text: str) -> str:
    """An e-mail address (``jan@acme.pl``) or, without an @, a domain (``acme.pl``)."""
    stripped = text.strip()
    if "@" in stripped:
        return address(stripped)
    if not is_domain_name(stripped):
        raise argparse.ArgumentTypeError(
            "expected an e-mail address like jan@acme.pl or a domain like acme.pl,"
            f" got {describe_value(text)}"
        )
    return stripped.lower()
