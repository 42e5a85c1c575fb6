"""Commands in staff replies: ``#status waiting``, ``#time 1h30m``... on lines of their own.

The grammar, in the spirit of Roundup's subject commands and Request Tracker's
command-by-mail: commands stand at the top of the reply, one per line, each a
``#`` followed by a word and perhaps an argument; blank lines between them are
fine; the first other line ends them. What follows is the text for the
customer. Commands are removed from that text. Parsing is pure and collects
every error, so one answer can list all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from mailbot.core.durations import read_duration

STATUSES = ("open", "waiting", "resolved", "closed")
TIERS = ("vip", "warranty", "post_warranty")
_LINE = re.compile(r"^#(?P<name>[a-zA-Z_]+)(?:\s+(?P<arg>.*?))?\s*$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# One entry is one sitting of work, as ``mailbot time add`` stores it: at least a
# minute (less is a typo or a zero), at most a day (more is 90h meant as 90m).
MIN_ENTRY = timedelta(minutes=1)
MAX_ENTRY = timedelta(hours=24)
_MINUTE = timedelta(minutes=1)
_TIME_RULE = '#time: expected a duration from 1 minute to 24 hours, like "1h30m", "90m" or "1.5h"'


@dataclass(frozen=True)
class Command:
    name: str  # status, internal, time, assign, tier, express, unjustified
    arg: str = ""


@dataclass(frozen=True)
class ParsedReply:
    commands: tuple[Command, ...]
    errors: tuple[str, ...]
    body: str  # the reply without the command lines

    @property
    def internal(self) -> bool:
        return any(c.name == "internal" for c in self.commands)


def _check_status(arg: str) -> str | None:
    return None if arg.lower() in STATUSES else f"#status: expected one of {', '.join(STATUSES)}"


def _check_tier(arg: str) -> str | None:
    return None if arg.lower() in TIERS else f"#tier: expected one of {', '.join(TIERS)}"


def _check_assign(arg: str) -> str | None:
    return None if _ADDRESS.match(arg) else "#assign: expected an e-mail address"


def work_duration(arg: str) -> timedelta | None:
    """The time in a ``#time`` argument ("1h30m", "90m", "1.5h"; mailbot.core.durations),
    whole minutes, or None when it is no duration or outside MIN_ENTRY..MAX_ENTRY."""
    found = read_duration(arg) if len(arg) <= 20 else None  # no 400-digit hours
    if found is None or found.bare:  # "90": minutes or hours?
        return None
    # Fractions of days and hours round to the minute on their own (as before issue 14).
    minutes = int((found.days * 1440 + found.hours * 60).to_integral_value()) + int(
        (found.minutes + found.seconds / 60).to_integral_value()
    )
    if not MIN_ENTRY / _MINUTE <= minutes <= MAX_ENTRY / _MINUTE:
        return None
    return timedelta(minutes=minutes)


def _check_time(arg: str) -> str | None:
    return None if work_duration(arg) is not None else f"{_TIME_RULE}, got {arg[:40]!r}"


def _no_argument(name: str) -> Callable[[str], str | None]:
    def check(arg: str) -> str | None:
        return None if not arg else f"#{name} takes no argument"

    return check


_CHECKS: dict[str, Callable[[str], str | None]] = {
    "status": _check_status,
    "tier": _check_tier,
    "assign": _check_assign,
    "time": _check_time,
    "internal": _no_argument("internal"),
    "express": _no_argument("express"),
    "unjustified": _no_argument("unjustified"),
}


def _parse_line(line: str) -> tuple[Command | None, str | None]:
    found = _LINE.match(line.strip())
    if found is None:
        return None, f"cannot read the command line {line.strip()!r}"
    name, arg = found["name"].lower(), (found["arg"] or "").strip()
    check = _CHECKS.get(name)
    if check is None:
        return None, f"#{name}: unknown command; known: {', '.join('#' + n for n in _CHECKS)}"
    error = check(arg)
    value = arg.lower() if name in ("status", "tier", "assign") else arg
    return (None, error) if error else (Command(name, value), None)


def parse_reply(text: str, *, is_staff: Callable[[str], bool] = lambda _: True) -> ParsedReply:
    """Split a staff reply into its leading commands and the text for the customer.

    Every command is checked here by the rules storing it enforces, so a reply is
    either carried out whole or kept as a note with all its errors; ``#assign`` names
    only someone ``is_staff`` accepts (a ticket's mail must never go to a stranger).
    """
    lines = text.replace("\r\n", "\n").split("\n")
    commands: list[Command] = []
    errors: list[str] = []
    index = 0
    while index < len(lines) and (
        not lines[index].strip() or lines[index].lstrip().startswith("#")
    ):
        if lines[index].strip():
            command, error = _parse_line(lines[index])
            if command is not None and command.name == "assign" and not is_staff(command.arg):
                error = f"#assign: {command.arg} is not a staff address"
                command = None
            commands += [command] if command else []
            errors += [error] if error else []
        index += 1
    return ParsedReply(tuple(commands), tuple(errors), "\n".join(lines[index:]).strip("\n"))


def work_minutes(arg: str) -> int:
    """Minutes in a checked ``#time`` argument: "1h30m" -> 90, "1.5h" -> 90, "45m" -> 45."""
    duration = work_duration(arg)
    assert duration is not None, "checked by parse_reply"
    return int(duration / _MINUTE)
