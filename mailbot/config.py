"""Settings: a TOML file, a ``.env`` beside it, and ``MAILBOT_*`` overrides, validated once.

The loader (``load_settings``) is the only code that reads the configuration;
everything else receives the frozen ``Settings`` built here.

The rules:

1. Each key is looked up in the environment (``MAILBOT_<SECTION>__<KEY>``,
   e.g. ``MAILBOT_TIERS__VIP__REACTION``), then in the ``.env`` beside the
   file, then in the file, then it gets its default. The environment is read,
   never changed.
2. An empty value counts as not set: an empty variable leaves the file's value
   in force, an empty string in the file leaves the default.
3. Relative paths (state_dir, templates_dir, contracts_file, ``maildir:``
   and ``dir:`` URLs) are relative to the directory of the config file.
4. Unknown sections, keys and ``MAILBOT_X__Y`` variables are errors, so a typo
   never silently falls back to a default. Every error is one ConfigError
   naming the file, the dotted key (and the variable, if it came from one),
   what is wrong and what was expected.
5. ``[calendars.NAME]`` tables are the one place where the file names things:
   every NAME in the file, or in a ``MAILBOT_CALENDARS__NAME__KEY`` variable,
   is a calendar. ``business`` (Mon-Fri, whole days, Polish holidays) and
   ``always`` (24/7) exist even when the file does not mention them; each tier
   names the calendar its deadlines run on.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from dotenv import dotenv_values

from mailbot.core.calendar import (
    ALWAYS,
    EVERY_DAY,
    MONDAY_TO_FRIDAY,
    Calendar,
    WorkingDuration,
    business_calendar,
    parse_working_duration,
    working_length,
)
from mailbot.core.durations import settings_parts
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError

TlsMode = Literal["ssl", "starttls", "none"]

DEFAULT_CONFIG_PATH = Path("/etc/mailbot/config.toml")
DEFAULT_STATE_DIR = Path("/var/lib/mailbot")


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    username: str
    password: str
    tls: TlsMode
    verify_tls: bool
    folder: str
    processed_folder: str
    quarantine_folder: str
    poll_interval: timedelta
    # "" for the IMAP server above, or "maildir:PATH" for a local Maildir.
    url: str
    # A PEM file of the CA(s) to trust instead of the system's; None: the system's.
    ca_file: Path | None = None
    # The longest wait between reconnection attempts while the server is away.
    max_backoff: timedelta = timedelta(minutes=15)
    # Wait for new mail with IMAP IDLE where the server offers it (polling stays the fallback).
    idle: bool = True
    # How long any one IMAP command (and connecting) may take before it counts as failed.
    timeout: timedelta = timedelta(seconds=30)

    @property
    def maildir_path(self) -> Path | None:
        return Path(self.url.removeprefix("maildir:")) if self.url.startswith("maildir:") else None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str
    password: str
    tls: TlsMode
    verify_tls: bool
    from_address: str
    timeout: timedelta
    # "" for the SMTP server above, or "dir:PATH" to write each mail as a .eml file there.
    url: str
    # A PEM file of the CA(s) to trust instead of the system's; None: the system's.
    ca_file: Path | None = None
    # SMTP connections kept open and used in parallel by the outbox.
    connections: int = 4

    @property
    def pickup_dir(self) -> Path | None:
        return Path(self.url.removeprefix("dir:")) if self.url.startswith("dir:") else None


@dataclass(frozen=True)
class DatabaseSettings:
    url: str
    auto_upgrade: bool = True  # migrate the schema at start; False: refuse an old one


@dataclass(frozen=True)
class SupportSettings:
    address: str
    name: str
    staff_addresses: tuple[str, ...]
    staff_domains: tuple[str, ...]
    ticket_prefix: str
    contracts_file: Path | None
    timezone: str
    # Where escalations go when a deadline passes unmet; "" means the staff list.
    escalation_address: str = ""
    # A follow-up this many days after a ticket was resolved opens a new ticket.
    reopen_days: int = 14
    # The authserv-id of our mail server's Authentication-Results; "" leaves staff only the
    # proof of answering our notifications (mailbot.core.identity).
    authserv_id: str = ""
    # With authserv_id set: a VIP contract's tier only for a sender that server vouches for.
    vip_requires_authentication: bool = True


@dataclass(frozen=True)
class TierSettings:
    """A tier's windows and reminders, on the calendar named ``calendar``.

    The reminders are working time before each deadline, on that calendar too.
    """

    reaction: WorkingDuration
    resolution: WorkingDuration
    calendar: str = "business"
    reaction_reminders: tuple[WorkingDuration, ...] = ()
    resolution_reminders: tuple[WorkingDuration, ...] = ()


@dataclass(frozen=True)
class BillingSettings:
    """Prices quoted to customers (and, with issue 6, billed): net PLN, VAT in percent."""

    hourly_rate: Decimal = Decimal("120")
    vat_percent: Decimal = Decimal("23")
    # The monthly fee of a VIP contract that names none (the price list's minimum).
    vip_monthly_fee: Decimal = Decimal("290")
    # Express post-warranty work costs the price times this ("+100 %").
    express_multiplier: Decimal = Decimal("2")


@dataclass(frozen=True)
class LimitsSettings:
    """What one mail may cost: bigger mails open their ticket with text only, in quarantine."""

    max_mail_size: int = 25 * 1024 * 1024
    max_attachment_size: int = 10 * 1024 * 1024
    # Automatic mails (acknowledgements, status mails) to one address in an hour, at most.
    auto_replies_per_hour: int = 5
    # Mails to one ticket's customer in an hour (relays too); the rest is held for a person.
    customer_mails_per_ticket_hour: int = 10


@dataclass(frozen=True)
class IngestSettings:
    """How much mail one step of the intake takes at once: bounds memory and sets the pace."""

    # Mails fetched, stored and committed together (one transaction, one fsync).
    batch_size: int = 100
    # ... and at most this many bytes of mail in one batch.
    batch_bytes: int = 16 * 1024 * 1024
    # Processes parsing mail beside the main one; 0 parses in the main process.
    parse_workers: int = 1
    # A worker's time for one mail; past it the worker is killed and replaced, and the mail
    # is read by the bounded fallback reader (mailbot.runtime.parse_pool).
    parse_deadline: timedelta = timedelta(seconds=10)


@dataclass(frozen=True)
class HealthSettings:
    """When ``mailbot status`` warns (exit 1) or calls it critical (exit 2)."""

    poll_warning: timedelta = timedelta(minutes=5)
    poll_critical: timedelta = timedelta(minutes=15)
    outbox_warning: timedelta = timedelta(minutes=15)
    outbox_critical: timedelta = timedelta(hours=2)


def default_calendars() -> dict[str, Calendar]:
    """The two calendars that exist without configuration: ``business`` and ``always``."""
    return {"business": business_calendar(), "always": ALWAYS}


@dataclass(frozen=True)
class Settings:
    imap: ImapSettings
    smtp: SmtpSettings
    database: DatabaseSettings
    support: SupportSettings
    tiers: dict[Tier, TierSettings]
    state_dir: Path
    templates_dir: Path | None
    log_level: str
    billing: BillingSettings = BillingSettings()
    # The file the settings came from, for messages; None when built in code (demo, tests).
    source: Path | None = None
    # By name; always holds at least "business" and "always".
    calendars: dict[str, Calendar] = field(default_factory=default_calendars)
    # (logger, level) pairs applied after log_level, e.g. ("mailbot.outbox", "DEBUG").
    log_levels: tuple[tuple[str, str], ...] = ()
    health: HealthSettings = HealthSettings()
    limits: LimitsSettings = LimitsSettings()
    ingest: IngestSettings = IngestSettings()


# The loader. Everything below the dataclasses is private except
# ``load_settings``, ``parse_duration``, ``known_keys`` and the two small value
# helpers that ``mailbot.contracts_file`` shares.

T = TypeVar("T")

_ENV_PREFIX = "MAILBOT_"

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

    Units are d, h, m, s in that order, each at most once, optionally separated by
    spaces. Raises ValueError (message starts with "bad duration") for anything
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


def _duration_seconds(text: str | int) -> int | None:
    found = settings_parts(text)
    return None if found is None else found[0] * 86400 + found[1]


# Longer runs of digits are not read at all: int() refuses past 4300 digits (CVE-2020-10735).
_MAX_DIGITS = 30


def _digits(text: str) -> int:
    """The ASCII digits ``text`` as an int; more than _MAX_DIGITS of them as a number too
    big for any setting (the caller's bound refuses it)."""
    return int(text) if len(text.lstrip("0")) <= _MAX_DIGITS else 10**_MAX_DIGITS


# --- kinds: how one kind of value is checked --------------------------------


def _as_is(text: str) -> object:
    return text


@dataclass(frozen=True)
class _Kind(Generic[T]):
    """How one kind of setting is read.

    ``check`` takes a TOML value and returns the typed value or raises ValueError
    saying what was expected. ``from_env`` turns an environment string into the
    TOML value it stands for; when it cannot, it returns the string unchanged so
    that ``check`` rejects it with the same message a TOML value would get.
    """

    check: Callable[[object], T]
    from_env: Callable[[str], object] = _as_is


def _check_text(value: object) -> str:
    if isinstance(value, str):
        return value
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
    if text.lower() == "none":
        return ""
    if text.upper() not in holidays.list_supported_countries():
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
    if not is_email_address(text):
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
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or not 0 <= amount <= MAX_AMOUNT:
        raise ValueError(
            f'expected an amount like "120" or "120.50", at most {MAX_AMOUNT},'
            f" got {describe_value(value)}"
        )
    return amount


# No price, fee or multiplier is bigger; beyond it Decimal arithmetic loses exactness.
MAX_AMOUNT = Decimal(1_000_000_000)


_TEXT = _Kind(_check_text)
_AMOUNT = _Kind(_check_amount)
_PORT = _Kind(_check_port, _int_from_env)
_BOOL = _Kind(_check_bool, _bool_from_env)
_DURATION_KIND = _Kind(_check_duration)
_WORKING_DURATION = _Kind(_check_working_duration)
_REMINDERS = _Kind(_check_reminders, _list_from_env)
_WORKDAYS = _Kind(_check_workdays, _list_from_env)
_HOURS_KIND = _Kind(_check_hours)
_COUNTRY = _Kind(_check_country)
_DAYS_OFF = _Kind(_check_days_off, _list_from_env)
_PATH = _Kind(_check_path)
_EMAIL = _Kind(_check_email)
_EMAIL_LIST = _Kind(_check_email_list, _list_from_env)
_DOMAIN_LIST = _Kind(_check_domain_list, _list_from_env)
_TLS = _Kind(_check_tls)
_LOG_LEVEL = _Kind(_check_log_level)
_LOG_LEVEL_LIST = _Kind(_check_log_levels, _list_from_env)
_PREFIX = _Kind(_check_ticket_prefix)
_TIMEZONE = _Kind(_check_timezone)
_DATABASE_URL = _Kind(_check_database_url)
_MAILDIR_URL = _Kind(_check_local_url("maildir:", "a local Maildir"))
_PICKUP_URL = _Kind(_check_local_url("dir:", "a directory for .eml files"))


# --- the key table ------------------------------------------------------------


@dataclass(frozen=True)
class _Key(Generic[T]):
    """One setting: its dotted path, its kind and its default (None: required or computed)."""

    path: str
    kind: _Kind[T]
    default: T | None = None

    @property
    def variable(self) -> str:
        """The environment variable that overrides it, e.g. MAILBOT_IMAP__PORT."""
        return _ENV_PREFIX + self.path.upper().replace(".", "__")


@dataclass(frozen=True)
class _TierKey(Generic[T]):
    """One per-tier setting, with its default for each tier (from the service terms)."""

    name: str
    kind: _Kind[T]
    defaults: Mapping[Tier, T]

    def for_tier(self, tier: Tier) -> _Key[T]:
        return _Key(f"tiers.{tier.value}.{self.name}", self.kind, self.defaults[tier])


STATE_DIR = _Key("general.state_dir", _PATH)
TEMPLATES_DIR = _Key("general.templates_dir", _PATH)
LOG_LEVEL = _Key("general.log_level", _LOG_LEVEL, "INFO")
LOG_LEVELS = _Key("general.log_levels", _LOG_LEVEL_LIST, ())

IMAP_URL = _Key("imap.url", _MAILDIR_URL, "")
IMAP_HOST = _Key("imap.host", _TEXT)
IMAP_PORT = _Key("imap.port", _PORT)
IMAP_USERNAME = _Key("imap.username", _TEXT)
IMAP_PASSWORD = _Key("imap.password", _TEXT)
IMAP_TLS = _Key("imap.tls", _TLS, "ssl")
IMAP_VERIFY_TLS = _Key("imap.verify_tls", _BOOL, True)
IMAP_FOLDER = _Key("imap.folder", _TEXT, "INBOX")
IMAP_PROCESSED_FOLDER = _Key("imap.processed_folder", _TEXT, "Processed")
IMAP_QUARANTINE_FOLDER = _Key("imap.quarantine_folder", _TEXT, "Quarantine")
IMAP_POLL_INTERVAL = _Key("imap.poll_interval", _DURATION_KIND, timedelta(seconds=60))
IMAP_CA_FILE = _Key("imap.ca_file", _PATH)
IMAP_MAX_BACKOFF = _Key("imap.max_backoff", _DURATION_KIND, timedelta(minutes=15))
IMAP_IDLE = _Key("imap.idle", _BOOL, True)
IMAP_TIMEOUT = _Key("imap.timeout", _DURATION_KIND, timedelta(seconds=30))

SMTP_URL = _Key("smtp.url", _PICKUP_URL, "")
SMTP_HOST = _Key("smtp.host", _TEXT)
SMTP_PORT = _Key("smtp.port", _PORT)
SMTP_USERNAME = _Key("smtp.username", _TEXT, "")
SMTP_PASSWORD = _Key("smtp.password", _TEXT)
SMTP_TLS = _Key("smtp.tls", _TLS, "starttls")
SMTP_VERIFY_TLS = _Key("smtp.verify_tls", _BOOL, True)
SMTP_FROM_ADDRESS = _Key("smtp.from_address", _EMAIL)
SMTP_TIMEOUT = _Key("smtp.timeout", _DURATION_KIND, timedelta(seconds=30))
SMTP_CA_FILE = _Key("smtp.ca_file", _PATH)
SMTP_CONNECTIONS = _Key("smtp.connections", _Kind(_check_whole(1, 100), _int_from_env), 4)

INGEST_BATCH_SIZE = _Key("ingest.batch_size", _Kind(_check_whole(1, 100_000), _int_from_env), 100)
INGEST_BATCH_BYTES = _Key("ingest.batch_bytes", _Kind(_check_size, _int_from_env), 16 * 1024 * 1024)
INGEST_PARSE_WORKERS = _Key("ingest.parse_workers", _Kind(_check_whole(0, 64), _int_from_env), 1)
INGEST_PARSE_DEADLINE = _Key("ingest.parse_deadline", _DURATION_KIND, timedelta(seconds=10))

DATABASE_URL = _Key("database.url", _DATABASE_URL)
DATABASE_AUTO_UPGRADE = _Key("database.auto_upgrade", _BOOL, True)

SUPPORT_ADDRESS = _Key("support.address", _EMAIL)
SUPPORT_NAME = _Key("support.name", _TEXT, "Support")
SUPPORT_STAFF_ADDRESSES = _Key("support.staff_addresses", _EMAIL_LIST, ())
SUPPORT_STAFF_DOMAINS = _Key("support.staff_domains", _DOMAIN_LIST, ())
SUPPORT_TICKET_PREFIX = _Key("support.ticket_prefix", _PREFIX, "SOL")
SUPPORT_CONTRACTS_FILE = _Key("support.contracts_file", _PATH)
SUPPORT_TIMEZONE = _Key("support.timezone", _TIMEZONE, "Europe/Warsaw")
SUPPORT_ESCALATION_ADDRESS = _Key("support.escalation_address", _EMAIL, "")
SUPPORT_REOPEN_DAYS = _Key("support.reopen_days", _Kind(_check_days, _int_from_env), 14)
SUPPORT_AUTHSERV_ID = _Key("support.authserv_id", _TEXT, "")
SUPPORT_VIP_REQUIRES_AUTH = _Key("support.vip_requires_authentication", _BOOL, True)

LIMITS_MAX_MAIL_SIZE = _Key("limits.max_mail_size", _Kind(_check_size, _int_from_env), 25 * 1024**2)
LIMITS_MAX_ATTACHMENT_SIZE = _Key(
    "limits.max_attachment_size", _Kind(_check_size, _int_from_env), 10 * 1024**2
)
LIMITS_AUTO_REPLIES = _Key(
    "limits.auto_replies_per_hour", _Kind(_check_whole(0, 10_000), _int_from_env), 5
)
LIMITS_TICKET_MAILS = _Key(
    "limits.customer_mails_per_ticket_hour", _Kind(_check_whole(0, 10_000), _int_from_env), 10
)

# No default for the poll thresholds: they follow imap.poll_interval (_health).
HEALTH_POLL_WARNING = _Key("health.poll_warning", _DURATION_KIND)
HEALTH_POLL_CRITICAL = _Key("health.poll_critical", _DURATION_KIND)
HEALTH_OUTBOX_WARNING = _Key("health.outbox_warning", _DURATION_KIND, timedelta(minutes=15))
HEALTH_OUTBOX_CRITICAL = _Key("health.outbox_critical", _DURATION_KIND, timedelta(hours=2))

BILLING_HOURLY_RATE = _Key("billing.hourly_rate", _AMOUNT, Decimal("120"))
BILLING_VAT_PERCENT = _Key("billing.vat_percent", _AMOUNT, Decimal("23"))
BILLING_VIP_MONTHLY_FEE = _Key("billing.vip_monthly_fee", _AMOUNT, Decimal("290"))
BILLING_EXPRESS_MULTIPLIER = _Key("billing.express_multiplier", _AMOUNT, Decimal("2"))

# Checked against the calendars once they are built (_tiers).
_TIER_CALENDAR = _TierKey(
    "calendar",
    _TEXT,
    {Tier.WARRANTY: "business", Tier.VIP: "always", Tier.POST_WARRANTY: "business"},
)

# One line per TierSettings field; the defaults are the service terms'.
_TIER_KEYS: tuple[_TierKey[Any], ...] = (
    _TierKey(
        "reaction",
        _WORKING_DURATION,
        {
            Tier.WARRANTY: WorkingDuration(time=timedelta(hours=24)),
            Tier.VIP: WorkingDuration(time=timedelta(hours=1)),
            Tier.POST_WARRANTY: WorkingDuration(time=timedelta(hours=24)),
        },
    ),
    _TierKey(
        "resolution",
        _WORKING_DURATION,
        {
            Tier.WARRANTY: WorkingDuration(days=5),
            Tier.VIP: WorkingDuration(days=2),
            Tier.POST_WARRANTY: WorkingDuration(days=14),
        },
    ),
    _TIER_CALENDAR,
    _TierKey(
        "reaction_reminders",
        _REMINDERS,
        {
            Tier.WARRANTY: (WorkingDuration(time=timedelta(hours=4)),),
            Tier.VIP: (
                WorkingDuration(time=timedelta(minutes=30)),
                WorkingDuration(time=timedelta(minutes=10)),
            ),
            Tier.POST_WARRANTY: (WorkingDuration(time=timedelta(hours=4)),),
        },
    ),
    _TierKey(
        "resolution_reminders",
        _REMINDERS,
        {
            Tier.WARRANTY: (WorkingDuration(days=1), WorkingDuration(time=timedelta(hours=2))),
            Tier.VIP: (
                WorkingDuration(time=timedelta(hours=4)),
                WorkingDuration(time=timedelta(hours=1)),
            ),
            Tier.POST_WARRANTY: (
                WorkingDuration(days=1),
                WorkingDuration(time=timedelta(hours=2)),
            ),
        },
    ),
)


def _calendar_keys(name: str) -> dict[str, _Key[Any]]:
    """The keys of ``[calendars.NAME]`` by field; the one named "always" is 24/7 by default."""
    prefix = f"calendars.{name}."
    return {
        # No default: the support desk's time zone.
        "timezone": _Key(prefix + "timezone", _TIMEZONE),
        "workdays": _Key(prefix + "workdays", _WORKDAYS, MONDAY_TO_FRIDAY),
        # No default: the whole day.
        "hours": _Key(prefix + "hours", _HOURS_KIND),
        "country": _Key(prefix + "country", _COUNTRY, "PL"),
        "days_off": _Key(prefix + "days_off", _DAYS_OFF, frozenset()),
        "always": _Key(prefix + "always", _BOOL, name == "always"),
    }


_CALENDAR_NAME = re.compile(r"[a-z][a-z0-9_]*")

_ALL_KEYS: tuple[_Key[Any], ...] = (
    STATE_DIR,
    TEMPLATES_DIR,
    LOG_LEVEL,
    LOG_LEVELS,
    IMAP_URL,
    IMAP_HOST,
    IMAP_PORT,
    IMAP_USERNAME,
    IMAP_PASSWORD,
    IMAP_TLS,
    IMAP_VERIFY_TLS,
    IMAP_FOLDER,
    IMAP_PROCESSED_FOLDER,
    IMAP_QUARANTINE_FOLDER,
    IMAP_POLL_INTERVAL,
    IMAP_CA_FILE,
    IMAP_MAX_BACKOFF,
    IMAP_IDLE,
    IMAP_TIMEOUT,
    SMTP_URL,
    SMTP_HOST,
    SMTP_PORT,
    SMTP_USERNAME,
    SMTP_PASSWORD,
    SMTP_TLS,
    SMTP_VERIFY_TLS,
    SMTP_FROM_ADDRESS,
    SMTP_TIMEOUT,
    SMTP_CA_FILE,
    SMTP_CONNECTIONS,
    INGEST_BATCH_SIZE,
    INGEST_BATCH_BYTES,
    INGEST_PARSE_WORKERS,
    INGEST_PARSE_DEADLINE,
    DATABASE_URL,
    DATABASE_AUTO_UPGRADE,
    SUPPORT_ADDRESS,
    SUPPORT_NAME,
    SUPPORT_STAFF_ADDRESSES,
    SUPPORT_STAFF_DOMAINS,
    SUPPORT_TICKET_PREFIX,
    SUPPORT_CONTRACTS_FILE,
    SUPPORT_TIMEZONE,
    SUPPORT_ESCALATION_ADDRESS,
    SUPPORT_REOPEN_DAYS,
    SUPPORT_AUTHSERV_ID,
    SUPPORT_VIP_REQUIRES_AUTH,
    LIMITS_MAX_MAIL_SIZE,
    LIMITS_MAX_ATTACHMENT_SIZE,
    LIMITS_AUTO_REPLIES,
    LIMITS_TICKET_MAILS,
    BILLING_HOURLY_RATE,
    BILLING_VAT_PERCENT,
    BILLING_VIP_MONTHLY_FEE,
    BILLING_EXPRESS_MULTIPLIER,
    HEALTH_POLL_WARNING,
    HEALTH_POLL_CRITICAL,
    HEALTH_OUTBOX_WARNING,
    HEALTH_OUTBOX_CRITICAL,
    *(tier_key.for_tier(tier) for tier in Tier for tier_key in _TIER_KEYS),
    # [calendars.business] stands for every [calendars.NAME]; the others join at load time.
    *_calendar_keys("business").values(),
)
_KEYS: dict[str, _Key[Any]] = {key.path: key for key in _ALL_KEYS}


def _tables(keys: Iterable[str]) -> frozenset[str]:
    """Every table a key lives in: "imap", "tiers", "tiers.vip", ..."""
    return frozenset(
        key.rsplit(".", depth)[0] for key in keys for depth in range(1, key.count(".") + 1)
    )


@dataclass(frozen=True)
class _Schema:
    """The keys of one load: the fixed ones plus those of every calendar it names."""

    keys: Mapping[str, _Key[Any]]
    tables: frozenset[str]
    calendars: tuple[str, ...]


def _schema(calendars: Iterable[str]) -> _Schema:
    keys = dict(_KEYS)
    for name in calendars:
        keys |= {key.path: key for key in _calendar_keys(name).values()}
    return _Schema(keys, _tables(keys), tuple(sorted(calendars)))


def known_keys() -> tuple[str, ...]:
    """Every dotted key the loader accepts (``imap.port``, ``tiers.vip.reaction``...).

    Of the ``[calendars.NAME]`` tables, only ``calendars.business`` is listed.
    """
    return tuple(_KEYS)


# --- reading the sources ------------------------------------------------------


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the configuration file: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc


def _read_dotenv(file: Path) -> dict[str, str]:
    """The ``.env`` beside the config file; a line without ``=`` has no value and is skipped."""
    dotenv = file.parent / ".env"
    if not dotenv.is_file():
        return {}
    try:
        values = dotenv_values(dotenv)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{dotenv}: cannot read the .env file: {exc}") from exc
    return {name: value for name, value in values.items() if value is not None}


def _unknown(schema: _Schema, prefix: str) -> str:
    """What to say about an unknown name inside the table ``prefix`` ("" for the top level)."""
    if not prefix:
        names = sorted(table for table in schema.tables if "." not in table)
        return "unknown section; expected one of " + ", ".join(f"[{name}]" for name in names)
    if prefix == "tiers.":
        return "unknown tier; expected one of " + ", ".join(tier.value for tier in Tier)
    names = [path.removeprefix(prefix) for path in schema.keys if path.startswith(prefix)]
    return "unknown key; expected one of " + ", ".join(names)


def _flatten(
    file: Path, schema: _Schema, table: Mapping[str, object], prefix: str = ""
) -> dict[str, object]:
    """The TOML document as ``{"imap.port": 993, ...}``; unknown sections and keys are errors."""
    flat: dict[str, object] = {}
    for name, value in table.items():
        path = prefix + name
        if path in schema.keys:
            flat[path] = value
        elif path in schema.tables and isinstance(value, dict):
            flat |= _flatten(file, schema, value, path + ".")
        elif path in schema.tables:
            raise ConfigError(
                f"{file}: {path}: expected a table [{path}], got {describe_value(value)}"
            )
        else:
            raise ConfigError(f"{file}: {path}: {_unknown(schema, prefix)}")
    return flat


def _calendar_names(file: Path, document: Mapping[str, object], env: Iterable[str]) -> set[str]:
    """The calendars a load defines: the two built-in ones, the file's and the variables'.

    A variable names a calendar when it reads MAILBOT_CALENDARS__NAME__KEY with a
    calendar key; anything else under MAILBOT_CALENDARS__ is left to _overrides.
    """
    names = {"business", "always"}
    table = document.get("calendars")
    if isinstance(table, dict):
        names |= set(table)
    fields = _calendar_keys("business").keys()
    for variable in env:
        parts = variable.removeprefix(_ENV_PREFIX).lower().split("__")
        if variable.startswith(_ENV_PREFIX) and parts[0] == "calendars" and len(parts) == 3:
            names |= {parts[1]} if parts[2] in fields else set()
    for name in sorted(names):
        if _CALENDAR_NAME.fullmatch(name) is None:
            raise ConfigError(
                f"{file}: calendars.{name}: expected a calendar name of lower-case letters,"
                " digits and _, starting with a letter (like business)"
            )
    return names


def _overrides(file: Path, schema: _Schema, env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """``MAILBOT_SECTION__KEY`` variables as ``{"section.key": (variable, text)}``.

    Variables without ``__`` (such as MAILBOT_CONFIG) are not overrides and are
    left alone; one with ``__`` that names no key is a typo and an error. Empty
    ones are left out, so that the file's value stays in force.
    """
    found: dict[str, tuple[str, str]] = {}
    for variable, text in env.items():
        if not variable.startswith(_ENV_PREFIX) or "__" not in variable:
            continue
        path = variable.removeprefix(_ENV_PREFIX).lower().replace("__", ".")
        if path not in schema.keys:
            raise ConfigError(
                f"{file}: {variable}: no such setting {path}; expected MAILBOT_<SECTION>__<KEY>"
                " naming a key of the configuration, e.g. MAILBOT_IMAP__HOST"
            )
        if text:
            found[path] = (variable, text)
    return found


@dataclass(frozen=True)
class _Source:
    """The raw settings of one load: TOML values, and environment overrides on top."""

    file: Path
    toml: Mapping[str, object]
    env: Mapping[str, tuple[str, str]]

    def opt(self, key: _Key[T]) -> T | None:
        """The checked value of ``key``, else its default; "" in the file counts as unset."""
        if key.path in self.env:
            value = key.kind.from_env(self.env[key.path][1])
        else:
            value = self.toml.get(key.path)
        if value is None or value == "":
            return key.default
        try:
            return key.kind.check(value)
        except ValueError as exc:
            raise self.fail(self.where(key), str(exc)) from None

    def where(self, key: _Key[Any]) -> str:
        """The key for messages: ``tiers.vip.calendar (from MAILBOT_TIERS__VIP__CALENDAR)``."""
        if key.path in self.env:
            return f"{key.path} (from {self.env[key.path][0]})"
        return key.path

    def given(self, key: _Key[Any]) -> bool:
        """True when the file or a variable sets ``key`` (to anything but "")."""
        return key.path in self.env or self.toml.get(key.path) not in (None, "")

    def blank(self, key: _Key[Any]) -> bool:
        """True when the file sets ``key`` to "" on purpose and no variable overrides it."""
        return key.path not in self.env and self.toml.get(key.path) == ""

    def get(self, key: _Key[T], default: T | None = None) -> T:
        """Like ``opt``, falling back to ``default``; a key with neither is missing."""
        value = self.opt(key)
        if value is None:
            value = default
        if value is None:
            section = key.path.rpartition(".")[0]
            raise self.fail(key.path, f"missing; set it in [{section}] or as {key.variable}")
        return value

    def resolve(self, path: Path) -> Path:
        """A path from the configuration: relative ones are relative to the config file."""
        return self.file.absolute().parent / path

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {where}: {problem}")


# --- building the settings ----------------------------------------------------


def _resolve_url(source: _Source, url: str, scheme: str) -> str:
    """``maildir:rel`` -> ``maildir:/config/dir/rel``; "" stays ""."""
    if not url:
        return url
    return scheme + str(source.resolve(Path(url.removeprefix(scheme))))


def _password(source: _Source, key: _Key[str], env: Mapping[str, str], *, required: bool) -> str:
    """The password from TOML/.env/environment, else a systemd credential, else an error."""
    credential = key.path.replace(".", "_")  # imap_password, smtp_password
    value = source.opt(key) or _read_credential(source, env, credential)
    if value or not required:
        return value
    raise source.fail(
        key.path,
        f"missing; set {key.variable} in the environment or in {source.file.parent / '.env'}"
        f" (or give the service the systemd credential {credential})",
    )


def _read_credential(source: _Source, env: Mapping[str, str], name: str) -> str:
    directory = env.get("CREDENTIALS_DIRECTORY")
    if not directory or not (Path(directory) / name).is_file():
        return ""
    try:
        # systemd passes the file as written; editors add a final newline.
        return (Path(directory) / name).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise source.fail(name, f"cannot read the systemd credential: {exc}") from exc


def _imap(source: _Source, env: Mapping[str, str]) -> ImapSettings:
    url = source.get(IMAP_URL)
    local = url.startswith("maildir:")  # a Maildir needs no server, login or password
    tls = source.get(IMAP_TLS)
    return ImapSettings(
        host=source.get(IMAP_HOST, "" if local else None),
        port=source.get(IMAP_PORT, 993 if tls == "ssl" else 143),
        username=source.get(IMAP_USERNAME, "" if local else None),
        password=_password(source, IMAP_PASSWORD, env, required=not local),
        tls=tls,
        verify_tls=source.get(IMAP_VERIFY_TLS),
        folder=source.get(IMAP_FOLDER),
        processed_folder=source.get(IMAP_PROCESSED_FOLDER),
        quarantine_folder=source.get(IMAP_QUARANTINE_FOLDER),
        poll_interval=source.get(IMAP_POLL_INTERVAL),
        url=_resolve_url(source, url, "maildir:"),
        ca_file=_optional_path(source, IMAP_CA_FILE),
        max_backoff=source.get(IMAP_MAX_BACKOFF),
        idle=source.get(IMAP_IDLE),
        timeout=source.get(IMAP_TIMEOUT),
    )


def _optional_path(source: _Source, key: _Key[Path]) -> Path | None:
    value = source.opt(key)
    return source.resolve(value) if value else None


_SMTP_PORTS: dict[TlsMode, int] = {"ssl": 465, "starttls": 587, "none": 25}


def _smtp(source: _Source, env: Mapping[str, str], *, support: SupportSettings) -> SmtpSettings:
    url = source.get(SMTP_URL)
    local = url.startswith("dir:")  # a pickup directory needs no server
    tls = source.get(SMTP_TLS)
    username = source.get(SMTP_USERNAME)
    return SmtpSettings(
        host=source.get(SMTP_HOST, "" if local else None),
        port=source.get(SMTP_PORT, _SMTP_PORTS[tls]),
        username=username,
        # A local relay may take mail without a login; a password only goes with a username.
        password=_password(source, SMTP_PASSWORD, env, required=bool(username) and not local),
        tls=tls,
        verify_tls=source.get(SMTP_VERIFY_TLS),
        from_address=source.get(SMTP_FROM_ADDRESS, support.address),
        timeout=source.get(SMTP_TIMEOUT),
        url=_resolve_url(source, url, "dir:"),
        ca_file=_optional_path(source, SMTP_CA_FILE),
        connections=source.get(SMTP_CONNECTIONS),
    )


def _support(source: _Source) -> SupportSettings:
    contracts_file = source.opt(SUPPORT_CONTRACTS_FILE)
    return SupportSettings(
        address=source.get(SUPPORT_ADDRESS),
        name=source.get(SUPPORT_NAME),
        staff_addresses=source.get(SUPPORT_STAFF_ADDRESSES),
        staff_domains=source.get(SUPPORT_STAFF_DOMAINS),
        ticket_prefix=source.get(SUPPORT_TICKET_PREFIX),
        contracts_file=source.resolve(contracts_file) if contracts_file else None,
        timezone=source.get(SUPPORT_TIMEZONE),
        escalation_address=source.get(SUPPORT_ESCALATION_ADDRESS),
        reopen_days=source.get(SUPPORT_REOPEN_DAYS),
        authserv_id=source.get(SUPPORT_AUTHSERV_ID).lower(),
        vip_requires_authentication=source.get(SUPPORT_VIP_REQUIRES_AUTH),
    )


def _calendar(source: _Source, name: str, *, support: SupportSettings) -> Calendar:
    keys = _calendar_keys(name)
    if source.get(keys["always"]):
        for key in keys.values():
            if key is not keys["always"] and source.given(key):
                raise source.fail(
                    source.where(key),
                    "not allowed with always = true (a 24/7 calendar has no working days,"
                    " hours or days off)",
                )
        tz = ZoneInfo(support.timezone)
        return Calendar(name, tz, EVERY_DAY, None, None, frozenset(), always=True)
    country = "" if source.blank(keys["country"]) else source.get(keys["country"])
    return Calendar(
        name,
        tz=ZoneInfo(source.get(keys["timezone"], support.timezone)),
        workdays=source.get(keys["workdays"]),
        hours=source.opt(keys["hours"]),
        country=country or None,
        days_off=source.get(keys["days_off"]),
    )


def _tiers(source: _Source, calendars: Mapping[str, Calendar]) -> dict[Tier, TierSettings]:
    for tier in Tier:
        key = _TIER_CALENDAR.for_tier(tier)
        if source.get(key) not in calendars:
            raise source.fail(
                source.where(key),
                f"unknown calendar {describe_value(source.get(key))}; defined: "
                + ", ".join(sorted(calendars)),
            )
    # Any: the fields differ in type; each comes from its key's kind, so it fits.
    tiers = {
        tier: TierSettings(**{key.name: source.get(key.for_tier(tier)) for key in _TIER_KEYS})
        for tier in Tier
    }
    for tier, settings in tiers.items():
        _check_reminders_fit(source, tier, settings, calendars[settings.calendar])
    return tiers


def _check_reminders_fit(
    source: _Source, tier: Tier, settings: TierSettings, calendar: Calendar
) -> None:
    """A reminder longer than its window would fall before the ticket was received."""
    for kind in ("reaction", "resolution"):
        window: WorkingDuration = getattr(settings, kind)
        key = _Key(f"tiers.{tier.value}.{kind}_reminders", _REMINDERS)
        for reminder in getattr(settings, f"{kind}_reminders"):
            if working_length(calendar, reminder) > working_length(calendar, window):
                default = "" if source.given(key) else " (the default)"
                raise source.fail(
                    source.where(key),
                    f"{reminder}{default} is longer than the {kind} window {window} on calendar"
                    f" {calendar.name!r}; a reminder goes out that long before the deadline",
                )


def _health(source: _Source, *, poll_interval: timedelta) -> HealthSettings:
    return HealthSettings(
        poll_warning=source.get(HEALTH_POLL_WARNING, max(3 * poll_interval, timedelta(minutes=5))),
        poll_critical=source.get(
            HEALTH_POLL_CRITICAL, max(10 * poll_interval, timedelta(minutes=15))
        ),
        outbox_warning=source.get(HEALTH_OUTBOX_WARNING),
        outbox_critical=source.get(HEALTH_OUTBOX_CRITICAL),
    )


def _state_dir(source: _Source, env: Mapping[str, str]) -> Path:
    # systemd's StateDirectory= may list several directories, colon-separated; ours is the first.
    systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    return source.resolve(source.get(STATE_DIR, Path(systemd) if systemd else DEFAULT_STATE_DIR))


def load_settings(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, check and return the settings; raise ConfigError naming the file and the key.

    The file is ``path``, else ``$MAILBOT_CONFIG``, else DEFAULT_CONFIG_PATH.
    Values come from the TOML file, overridden by ``MAILBOT_<SECTION>__<KEY>``
    variables from a ``.env`` beside it, overridden in turn by ``environ``
    (default ``os.environ``, which is only read, never changed). Passwords left
    empty are taken from ``$CREDENTIALS_DIRECTORY`` (systemd credentials).
    """
    real_env = os.environ if environ is None else environ
    file = Path(path or real_env.get("MAILBOT_CONFIG") or DEFAULT_CONFIG_PATH)
    document = _read_toml(file)
    env = {**_read_dotenv(file), **real_env}
    schema = _schema(_calendar_names(file, document, env))
    source = _Source(file, _flatten(file, schema, document), _overrides(file, schema, env))
    state_dir = _state_dir(source, env)
    templates_dir = source.opt(TEMPLATES_DIR)
    support = _support(source)
    calendars = {name: _calendar(source, name, support=support) for name in schema.calendars}
    imap = _imap(source, env)
    return Settings(
        imap=imap,
        smtp=_smtp(source, env, support=support),
        database=DatabaseSettings(
            url=source.get(DATABASE_URL, f"sqlite:///{state_dir / 'mailbot.db'}"),
            auto_upgrade=source.get(DATABASE_AUTO_UPGRADE),
        ),
        support=support,
        tiers=_tiers(source, calendars),
        state_dir=state_dir,
        templates_dir=source.resolve(templates_dir) if templates_dir else None,
        log_level=source.get(LOG_LEVEL),
        billing=BillingSettings(
            hourly_rate=source.get(BILLING_HOURLY_RATE),
            vat_percent=source.get(BILLING_VAT_PERCENT),
            vip_monthly_fee=source.get(BILLING_VIP_MONTHLY_FEE),
            express_multiplier=source.get(BILLING_EXPRESS_MULTIPLIER),
        ),
        source=file,
        calendars=calendars,
        log_levels=source.get(LOG_LEVELS),
        health=_health(source, poll_interval=imap.poll_interval),
        limits=LimitsSettings(
            max_mail_size=source.get(LIMITS_MAX_MAIL_SIZE),
            max_attachment_size=source.get(LIMITS_MAX_ATTACHMENT_SIZE),
            auto_replies_per_hour=source.get(LIMITS_AUTO_REPLIES),
            customer_mails_per_ticket_hour=source.get(LIMITS_TICKET_MAILS),
        ),
        ingest=IngestSettings(
            batch_size=source.get(INGEST_BATCH_SIZE),
            batch_bytes=source.get(INGEST_BATCH_BYTES),
            parse_workers=source.get(INGEST_PARSE_WORKERS),
            parse_deadline=source.get(INGEST_PARSE_DEADLINE),
        ),
    )
