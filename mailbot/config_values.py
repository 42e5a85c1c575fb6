"""The kinds of value a setting (or a contracts-file field) can hold, and how each is checked.

Each kind is a ``_check_*`` function: it takes a value as TOML gives it and returns
the typed value, or raises ValueError saying what was expected ("expected an
integer, got "abc""); mailbot.config puts the key in front. An environment
variable arrives as ``EnvText``; a kind that reads something other than text
first turns it into the TOML value it stands for ("yes" -> true, "a, b" -> a
list), or leaves it as it is so that the check refuses it with the same words.
The Annotated aliases at the end (``Port``, ``Duration``...) make a kind a field
type of the pydantic models; a value that already has the type (set in code, or a
default) passes as it is.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, PlainValidator

from mailbot.core.calendar import WorkingDuration, parse_working_duration, supported_countries
from mailbot.core.client_ip import parse_networks
from mailbot.core.durations import settings_parts

TlsMode = Literal["ssl", "starttls", "none"]

# A deliberately loose shape check (RFC 5322 allows far more): something@domain,
# no spaces, no second "@". Its job is to catch a pasted name or a typo.
_EMAIL_ADDRESS = re.compile(r'[^@\s<>,;"]+@[^@\s<>,;".][^@\s<>,;"]*')

_DURATION_HINT = 'expected e.g. "90s", "30m", "1h30m", "2d" or a number of seconds'
# No setting or option waits longer; a bigger number is a typo (and would overflow timedelta).
MAX_DURATION = timedelta(days=365)

_TICKET_PREFIX = re.compile(r"[A-Z][A-Z0-9]{0,9}")

_TLS_MODES: dict[str, TlsMode] = {"ssl": "ssl", "starttls": "starttls", "none": "none"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


# A host name: labels of letters (any script) and digits, hyphens inside, dots between.
_DOMAIN_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_DOMAIN_NAME = re.compile(rf"(?=.{{1,253}}$){_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*")


def is_email_address(text: str) -> bool:
    """Return True when ``text`` looks like a bare address (``local@domain``) whose domain
    is a host name, nothing more."""
    return _EMAIL_ADDRESS.fullmatch(text) is not None and is_domain_name(text.rpartition("@")[2])


def is_domain_name(text: str) -> bool:
    """Return True when ``text`` is a host name like ``acme.pl`` (no @, no spaces, no %)."""
    return _DOMAIN_NAME.fullmatch(text) is not None


_SHOWN = 80


def describe_value(value: object) -> str:
    """Show a TOML (or environment) value the way an admin wrote it, for error messages."""
    if isinstance(value, str):
        # A value pasted by mistake may be huge; its start is enough to recognise it.
        shown = value if len(value) <= _SHOWN else value[:_SHOWN] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def parse_duration(text: str | int) -> timedelta:
    """Parse ``"90s"``, ``"30m"``, ``"1h30m"``, ``"2d"``, ``"1d 12h"`` or seconds (int or digits).

    The settings' form of mailbot.core.durations: whole numbers, units d, h, m (or
    min), s in that order, each at most once, optionally separated by spaces.
    Raises ValueError (message starts with "bad duration") for anything
    else, including zero and negative values and anything over MAX_DURATION.
    """
    seconds = _duration_seconds(text)
    if seconds is None:
        raise ValueError(f"bad duration: {_DURATION_HINT}, got {describe_value(text)}")
    if seconds <= 0:
        raise ValueError(f"bad duration: must be more than zero, got {describe_value(text)}")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(
            f"bad duration: at most {MAX_DURATION.days} days, got {describe_value(text)}"
        )
    return timedelta(seconds=seconds)


# ``[database] retention`` and ``db prune --older-than``: less than a month is a typo that
# would wipe last week's attachments; more than a century is one too.
MIN_RETENTION = timedelta(days=30)
MAX_RETENTION = timedelta(days=36500)


def parse_retention(text: str | int) -> timedelta:
    """How long ``mailbot db prune`` keeps history: a duration as settings write it
    (``"365d"``, ``"90d 12h"``), from 30 days to 100 years. Raises ValueError (message
    starts with "bad retention")."""
    seconds = _duration_seconds(text)
    if seconds is None:
        raise ValueError(
            f'bad retention: expected days like "90d" or "365d", got {describe_value(text)}'
        )
    if not MIN_RETENTION.total_seconds() <= seconds <= MAX_RETENTION.total_seconds():
        raise ValueError(
            f"bad retention: from {MIN_RETENTION.days}d to {MAX_RETENTION.days}d "
            f"(less would remove recent history), got {describe_value(text)}"
        )
    return timedelta(seconds=seconds)


def _duration_seconds(text: str | int) -> int | None:
    found = settings_parts(text)
    return None if found is None else found[0] * 86400 + found[1]


# Longer runs of digits are not read at all: int() refuses past 4300 digits (CVE-2020-10735).
_MAX_DIGITS = 30


def _digits(text: str) -> int:
    """The ASCII digits ``text`` as an int; more than _MAX_DIGITS of them as a number too
    big for any setting (the caller's bound refuses it)."""
    return int(text) if len(text.lstrip("0")) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _check_text(value: object) -> str:
    if isinstance(value, str):
        return str(value)  # a plain str, not EnvText
    raise ValueError(f"expected a string, got {describe_value(value)}")


def _check_port(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected an integer, got {describe_value(value)}")
    if not 0 < value < 65536:
        raise ValueError(f"expected a port number from 1 to 65535, got {value}")
    return value


def _check_days(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"expected a whole number of days, got {describe_value(value)}")
    if not 0 <= value <= 3650:
        raise ValueError(f"expected 0 to 3650 days, got {value}")
    return value


def _int_from_env(text: str) -> object:
    stripped = text.strip()
    digits = stripped.isascii() and stripped.isdigit() and len(stripped) <= _MAX_DIGITS
    return int(stripped) if digits else text


def _check_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {describe_value(value)}")


def _bool_from_env(text: str) -> object:
    word = text.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else text


def _check_duration(value: object) -> timedelta:
    if isinstance(value, str | int):
        return parse_duration(value)
    raise ValueError(f"bad duration: {_DURATION_HINT}, got {describe_value(value)}")


def _check_retention(value: object) -> timedelta | None:
    if value == "":
        return None  # keep everything
    if isinstance(value, str | int) and not isinstance(value, bool):
        return parse_retention(value)
    raise ValueError(f'bad retention: expected days like "90d", got {describe_value(value)}')


def _check_working_duration(value: object) -> WorkingDuration:
    if isinstance(value, str | int):
        return parse_working_duration(value)
    raise ValueError(f"bad duration: {_DURATION_HINT}, got {describe_value(value)}")


def _check_reminders(value: object) -> tuple[WorkingDuration, ...]:
    if not isinstance(value, list):
        raise ValueError(
            f'expected a list of durations like ["4h", "1h"], got {describe_value(value)}'
        )
    return tuple(_check_working_duration(entry) for entry in value)


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _check_workdays(value: object) -> frozenset[int]:
    expected = 'expected a list of weekdays like ["mon", "tue"] (mon, tue, wed, thu, fri, sat, sun)'
    if not isinstance(value, list):
        raise ValueError(f"{expected}, got {describe_value(value)}")
    for entry in value:
        if not isinstance(entry, str) or entry.strip().lower() not in _WEEKDAYS:
            raise ValueError(f"{expected}, got {describe_value(entry)} in it")
    if not value:
        raise ValueError(f"{expected}, got an empty list: a calendar needs a working day")
    return frozenset(_WEEKDAYS.index(entry.strip().lower()) for entry in value)


_HOURS = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def _check_hours(value: object) -> tuple[time, time]:
    text = _check_text(value)
    hours = _parse_hours(text)
    if hours is None:
        raise ValueError(f'expected "HH:MM-HH:MM" like "08:00-16:00", got {describe_value(text)}')
    if not hours[0] < hours[1]:
        raise ValueError(
            "expected the start before the end, both within one day, like"
            f' "08:00-16:00", got {describe_value(text)}'
        )
    return hours


def _parse_hours(text: str) -> tuple[time, time] | None:
    found = _HOURS.fullmatch(text)
    if found is None:
        return None
    try:
        return time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4]))
    except ValueError:  # 25:00, 08:75
        return None


def _check_country(value: object) -> str:
    text = _check_text(value).strip()
    if text.lower() in ("", "none"):
        return ""
    if text.upper() not in supported_countries():
        raise ValueError(
            'expected a country code of the holidays package like "PL" ("" or "none" for no'
            f" public holidays), got {describe_value(text)}"
        )
    return text.upper()


def _check_days_off(value: object) -> frozenset[date]:
    expected = 'expected a list of dates like [2026-12-31] or ["2026-12-31"]'
    if not isinstance(value, list):
        raise ValueError(f"{expected}, got {describe_value(value)}")
    return frozenset(_check_date(entry, expected) for entry in value)


def _check_date(value: object, expected: str) -> date:
    # TOML gives a bare 2026-12-31 as a date, a date with a time as a datetime (a subclass).
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value.strip())
    raise ValueError(f"{expected}, got {describe_value(value)} in it")


def _check_path(value: object) -> Path:
    return Path(_check_text(value))


def _check_email(value: object) -> str:
    text = _check_text(value)
    # "" is no value (escalation_address's default); the sources leave empty values out.
    if text and not is_email_address(text):
        raise ValueError(
            f"expected an e-mail address like support@example.com, got {describe_value(text)}"
        )
    return text


def _check_list(value: object, item: Callable[[str], bool], expected: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of {expected}, got {describe_value(value)}")
    for entry in value:
        if not isinstance(entry, str) or not item(entry):
            raise ValueError(f"expected a list of {expected}, got {describe_value(entry)} in it")
    return tuple(entry.lower() for entry in value)


def _check_email_list(value: object) -> tuple[str, ...]:
    return _check_list(value, is_email_address, "e-mail addresses")


def _check_domain_list(value: object) -> tuple[str, ...]:
    return _check_list(value, is_domain_name, "domain names like example.com (no @)")


def _list_from_env(text: str) -> object:
    return [item.strip() for item in text.split(",") if item.strip()]


def _check_tls(value: object) -> TlsMode:
    text = _check_text(value)
    if text not in _TLS_MODES:
        raise ValueError(f"expected one of ssl, starttls, none, got {describe_value(text)}")
    return _TLS_MODES[text]


def _check_choice(*choices: str) -> Callable[[object], str]:
    """One of ``choices``, written exactly so."""

    def check(value: object) -> str:
        text = _check_text(value)
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {describe_value(text)}")
        return text

    return check


def _check_log_level(value: object) -> str:
    text = _check_text(value)
    if text.upper() not in _LOG_LEVELS:
        expected = ", ".join(_LOG_LEVELS)
        raise ValueError(f"expected one of {expected}, got {describe_value(text)}")
    return text.upper()


def _check_log_levels(value: object) -> tuple[tuple[str, str], ...]:
    expected = 'expected a list like ["mailbot.outbox=DEBUG", "apscheduler=INFO"]'
    if not isinstance(value, list):
        raise ValueError(f"{expected}, got {describe_value(value)}")
    pairs: list[tuple[str, str]] = []
    for entry in value:
        name, _, level = entry.partition("=") if isinstance(entry, str) else ("", "", "")
        if not name.strip() or level.strip().upper() not in _LOG_LEVELS:
            raise ValueError(
                f"{expected} (levels {', '.join(_LOG_LEVELS)}), got {describe_value(entry)} in it"
            )
        pairs.append((name.strip(), level.strip().upper()))
    return tuple(pairs)


def _check_ticket_prefix(value: object) -> str:
    text = _check_text(value)
    if _TICKET_PREFIX.fullmatch(text) is None:
        raise ValueError(
            "expected 1 to 10 upper-case letters or digits starting with a letter (like SOL), "
            f"got {describe_value(text)}"
        )
    return text


def _check_timezone(value: object) -> str:
    text = _check_text(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"expected a time zone name like Europe/Warsaw, got {describe_value(text)}"
        ) from None
    return text


def _check_database_url(value: object) -> str:
    text = _check_text(value)
    if not text.startswith(("sqlite:", "postgresql")):
        raise ValueError(
            "expected sqlite:///PATH or a PostgreSQL URL (PostgreSQL uses "
            f"postgresql+psycopg://USER@HOST/DATABASE), got {describe_value(text)}"
        )
    return text


def _check_local_url(scheme: str, what: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = _check_text(value)
        if text and (not text.startswith(scheme) or text == scheme):
            raise ValueError(f'expected "" or "{scheme}PATH" ({what}), got {describe_value(text)}')
        return text

    return check


_SIZE = re.compile(r"(\d+)\s*(B|KB|MB|GB)?", re.IGNORECASE)
_SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
# Far above any mail server's limit; a bigger size is a typo.
_MAX_SIZE = 1024**3


def _check_size(value: object) -> int:
    """A size in bytes: ``"25MB"``, ``"512KB"``, ``"1GB"`` (binary units) or a number of bytes,
    at most 1GB."""
    found = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif found is not None:
        size = _digits(found[1]) * _SIZE_UNITS[(found[2] or "B").upper()]
    else:
        size = 0
    if size <= 0:
        raise ValueError(
            f'expected a size like "25MB", "512KB" or bytes, got {describe_value(value)}'
        )
    if size > _MAX_SIZE:
        raise ValueError(f'expected a size of at most "1GB", got {describe_value(value)}')
    return size


def _check_whole(low: int, high: int) -> Callable[[object], int]:
    """A whole number from ``low`` to ``high``: the upper bound catches typos like 10000000."""

    def check(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(
                f"expected a whole number from {low} to {high}, got {describe_value(value)}"
            )
        return value

    return check


def _check_amount(value: object) -> Decimal:
    # Floats are read through their text ("120.5"), never as binary fractions.
    text = (
        str(value).strip()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
        else ""
    )
    return amount_in_range(text, value)


def amount_in_range(number: str | int | Decimal, value: object) -> Decimal:
    """``number`` as an amount from 0 to MAX_AMOUNT; ValueError naming ``value`` (what the
    user wrote) otherwise. Settings and the contracts file read money through this."""
    try:
        amount = Decimal(number)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(
            f'expected an amount like "120" or "120.50", at most {MAX_AMOUNT},'
            f" got {describe_value(value)}"
        )
    return amount


_BIND = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})")


def _check_bind(value: object) -> str:
    """``host:port`` to listen on, an IPv6 address in brackets (``[::1]:8080``)."""
    text = _check_text(value).strip()
    found = _BIND.fullmatch(text)
    good = found is not None and 0 < int(found["port"]) < 65536
    if good and found is not None and found["v6"] is not None:
        good = _is_ip(found["v6"], version=6)
    if not good:
        raise ValueError(
            f'expected host:port like "127.0.0.1:8080" or "[::1]:8080", got {describe_value(value)}'
        )
    return text


def _is_ip(text: str, *, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


_BASE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::\d{1,5})?(?:/[^?#\s]*)?", re.IGNORECASE)


def _check_base_url(value: object) -> str:
    """ "" (no links in mails) or ``http(s)://host[:port][/path]``: no query, no fragment;
    a final ``/`` is dropped so that paths can be appended."""
    text = _check_text(value).strip()
    if text and _BASE_URL.fullmatch(text) is None:
        raise ValueError(
            'expected "" or an address like "https://support.example.com" (no query), '
            f"got {describe_value(value)}"
        )
    return text.rstrip("/")


def _check_networks(value: object) -> tuple[str, ...]:
    """A list of IP networks (CIDRs such as "10.0.0.0/8", "2001:db8::/32", or addresses)."""
    if not isinstance(value, list) or not all(isinstance(entry, str) for entry in value):
        raise ValueError(
            f'expected a list of IP networks like ["10.0.0.0/8"], got {describe_value(value)}'
        )
    try:
        networks = parse_networks(value)
    except ValueError as exc:
        raise ValueError(f'expected a list of IP networks like ["10.0.0.0/8"], {exc}') from None
    return tuple(str(network) for network in networks)


# No price, fee or multiplier is bigger; beyond it Decimal arithmetic loses exactness.
MAX_AMOUNT = Decimal(1_000_000_000)


# --- the kinds as field types -------------------------------------------------

# Every table of settings refuses keys it does not know (the tables are frozen too).
TABLE = ConfigDict(extra="forbid")


class EnvText(str):
    """A value from a ``MAILBOT_*`` variable (environment or .env): text still to be read."""

    __slots__ = ()


def _as_is(text: str) -> object:
    return text


def _kind(
    check: Callable[[object], Any],
    from_env: Callable[[str], object] = _as_is,
    typed: type | tuple[type, ...] = (),
) -> PlainValidator:
    """``check`` as a pydantic validator: variables are read by ``from_env`` first, and a
    value of a ``typed`` type (TOML never gives one: set in code, or a default) passes."""

    def validate(value: object) -> Any:
        if isinstance(value, EnvText):
            return check(from_env(str(value)))
        if typed and isinstance(value, typed):
            return value
        return check(value)

    return PlainValidator(validate)


def _whole(low: int, high: int) -> PlainValidator:
    return _kind(_check_whole(low, high), _int_from_env)


Text = Annotated[str, _kind(_check_text)]
LowerText = Annotated[str, _kind(lambda value: _check_text(value).lower())]
Port = Annotated[int, _kind(_check_port, _int_from_env)]
Days = Annotated[int, _kind(_check_days, _int_from_env)]
Bool = Annotated[bool, _kind(_check_bool, _bool_from_env)]
Duration = Annotated[timedelta, _kind(_check_duration, typed=timedelta)]
# "" (None): keep everything; else at least MIN_RETENTION.
Retention = Annotated[timedelta | None, _kind(_check_retention, typed=(timedelta, type(None)))]
Working = Annotated[WorkingDuration, _kind(_check_working_duration, typed=WorkingDuration)]
OptionalWorking = Annotated[
    WorkingDuration | None,
    _kind(_check_working_duration, typed=(WorkingDuration, type(None))),
]
Reminders = Annotated[
    tuple[WorkingDuration, ...], _kind(_check_reminders, _list_from_env, typed=tuple)
]
Workdays = Annotated[frozenset[int], _kind(_check_workdays, _list_from_env, typed=frozenset)]
Hours = Annotated[tuple[time, time] | None, _kind(_check_hours, typed=(tuple, type(None)))]
Country = Annotated[str, _kind(_check_country)]
DaysOff = Annotated[frozenset[date], _kind(_check_days_off, _list_from_env, typed=frozenset)]
OptionalPath = Annotated[Path | None, _kind(_check_path, typed=(Path, type(None)))]
Email = Annotated[str, _kind(_check_email)]
EmailList = Annotated[tuple[str, ...], _kind(_check_email_list, _list_from_env, typed=tuple)]
DomainList = Annotated[tuple[str, ...], _kind(_check_domain_list, _list_from_env, typed=tuple)]
Tls = Annotated[TlsMode, _kind(_check_tls)]
LogLevel = Annotated[str, _kind(_check_log_level)]
# How mailbot logs in to a mail server: with its password, or with an OAuth2 access token.
Auth = Annotated[str, _kind(_check_choice("password", "oauth2"))]
OAuth2Provider = Annotated[str, _kind(_check_choice("generic", "microsoft", "google"))]
OAuth2Flow = Annotated[
    str,
    _kind(_check_choice("client_credentials", "refresh_token", "service_account", "device_code")),
]
LogLevels = Annotated[
    tuple[tuple[str, str], ...], _kind(_check_log_levels, _list_from_env, typed=tuple)
]
TicketPrefix = Annotated[str, _kind(_check_ticket_prefix)]
Timezone = Annotated[str, _kind(_check_timezone)]
OptionalTimezone = Annotated[str | None, _kind(_check_timezone, typed=type(None))]
DatabaseUrl = Annotated[str, _kind(_check_database_url)]
MaildirUrl = Annotated[str, _kind(_check_local_url("maildir:", "a local Maildir"))]
PickupUrl = Annotated[str, _kind(_check_local_url("dir:", "a directory for .eml files"))]
Size = Annotated[int, _kind(_check_size, _int_from_env)]
Amount = Annotated[Decimal, _kind(_check_amount, typed=Decimal)]
Connections = Annotated[int, _whole(1, 100)]
BatchSize = Annotated[int, _whole(1, 100_000)]
Workers = Annotated[int, _whole(0, 64)]
PerHour = Annotated[int, _whole(0, 10_000)]
PerDay = Annotated[int, _whole(0, 100_000)]
Bind = Annotated[str, _kind(_check_bind)]
BaseUrl = Annotated[str, _kind(_check_base_url)]
Networks = Annotated[tuple[str, ...], _kind(_check_networks, _list_from_env, typed=tuple)]
