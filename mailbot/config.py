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

Each section is one frozen pydantic dataclass below: its fields are the keys,
their types the kinds of value (mailbot.config_values), their defaults the
file's defaults. pydantic-settings merges the two layers (variables over the
file) and pydantic checks them; ``load_settings`` then fills the defaults that
follow other settings (ports from tls, the database beside state_dir ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic.dataclasses import dataclass as section
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mailbot import config_values as kind
from mailbot.config_calendars import (
    CalendarTable,
    TierSettings,
    TiersTable,
    build_calendars,
    build_tiers,
    default_calendars,
    tier_keys,
)
from mailbot.config_oauth2 import OAuth2Settings, oauth2_settings
from mailbot.config_sources import LOADING, Load, loading, read_load, variable
from mailbot.config_values import (
    MAX_AMOUNT,
    MAX_DURATION,
    MIN_RETENTION,
    TABLE,
    TlsMode,
    describe_value,
    is_domain_name,
    is_email_address,
    parse_duration,
    parse_retention,
)
from mailbot.config_web import WebSettings, web_settings
from mailbot.core.calendar import Calendar
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError

__all__ = [
    "MAX_AMOUNT",
    "MAX_DURATION",
    "MIN_RETENTION",
    "ConfigError",
    "OAuth2Settings",
    "TierSettings",
    "TlsMode",
    "WebSettings",
    "default_calendars",
    "describe_value",
    "is_domain_name",
    "is_email_address",
    "parse_duration",
    "parse_retention",
]

DEFAULT_CONFIG_PATH = Path("/etc/mailbot/config.toml")
DEFAULT_STATE_DIR = Path("/var/lib/mailbot")


@section(frozen=True, config=TABLE)
class ImapSettings:
    # Required in the file unless url names a Maildir (load_settings checks).
    host: kind.Text = ""
    # Not set: 993 with tls = "ssl", else 143.
    port: kind.Port = 993
    username: kind.Text = ""
    # Not set: the systemd credential imap_password.
    password: kind.Text = ""
    tls: kind.Tls = "ssl"
    verify_tls: kind.Bool = True
    folder: kind.Text = "INBOX"
    processed_folder: kind.Text = "Processed"
    quarantine_folder: kind.Text = "Quarantine"
    poll_interval: kind.Duration = timedelta(seconds=60)
    # "" for the IMAP server above, or "maildir:PATH" for a local Maildir.
    url: kind.MaildirUrl = ""
    # A PEM file of the CA(s) to trust instead of the system's; None: the system's.
    ca_file: kind.OptionalPath = None
    # The longest wait between reconnection attempts while the server is away.
    max_backoff: kind.Duration = timedelta(minutes=15)
    # Wait for new mail with IMAP IDLE where the server offers it (polling stays the fallback).
    idle: kind.Bool = True
    # How long any one IMAP command (and connecting) may take before it counts as failed.
    timeout: kind.Duration = timedelta(seconds=30)
    # "password", or "oauth2": an access token from [oauth2] (XOAUTH2), no password.
    auth: kind.Auth = "password"

    @property
    def maildir_path(self) -> Path | None:
        return Path(self.url.removeprefix("maildir:")) if self.url.startswith("maildir:") else None


@section(frozen=True, config=TABLE)
class SmtpSettings:
    # Required in the file unless url names a pickup directory.
    host: kind.Text = ""
    # Not set: 465, 587 or 25 by tls.
    port: kind.Port = 587
    username: kind.Text = ""
    password: kind.Text = ""
    tls: kind.Tls = "starttls"
    verify_tls: kind.Bool = True
    # Not set: support.address.
    from_address: kind.Email = ""
    timeout: kind.Duration = timedelta(seconds=30)
    # "" for the SMTP server above, or "dir:PATH" to write each mail as a .eml file there.
    url: kind.PickupUrl = ""
    # A PEM file of the CA(s) to trust instead of the system's; None: the system's.
    ca_file: kind.OptionalPath = None
    # SMTP connections kept open and used in parallel by the outbox.
    connections: kind.Connections = 4
    # "password", or "oauth2": an access token from [oauth2] (XOAUTH2) for username.
    auth: kind.Auth = "password"

    @property
    def pickup_dir(self) -> Path | None:
        return Path(self.url.removeprefix("dir:")) if self.url.startswith("dir:") else None


@section(frozen=True, config=TABLE)
class DatabaseSettings:
    # Not set: sqlite:///STATE_DIR/mailbot.db.
    url: kind.DatabaseUrl = ""
    auto_upgrade: kind.Bool = True  # migrate the schema at start; False: refuse an old one
    # What ``mailbot db prune`` removes is older than this; None (""): keep everything.
    retention: kind.Retention = None


@section(frozen=True, config=TABLE)
class SupportSettings:
    address: kind.Email = ""  # required in the file
    name: kind.Text = "Support"
    staff_addresses: kind.EmailList = ()
    staff_domains: kind.DomainList = ()
    ticket_prefix: kind.TicketPrefix = "SOL"
    contracts_file: kind.OptionalPath = None
    timezone: kind.Timezone = "Europe/Warsaw"
    # Where escalations go when a deadline passes unmet; "" means the staff list.
    escalation_address: kind.Email = ""
    # A follow-up this many days after a ticket was resolved opens a new ticket.
    reopen_days: kind.Days = 14
    # The authserv-id of our mail server's Authentication-Results; "" leaves staff only the
    # proof of answering our notifications (mailbot.core.identity).
    authserv_id: kind.LowerText = ""
    # With authserv_id set: a VIP contract's tier only for a sender that server vouches for.
    vip_requires_authentication: kind.Bool = True


@section(frozen=True, config=TABLE)
class BillingSettings:
    """Prices quoted to customers (and, with issue 6, billed): net PLN, VAT in percent."""

    hourly_rate: kind.Amount = Decimal("120")
    vat_percent: kind.Amount = Decimal("23")
    # The monthly fee of a VIP contract that names none (the price list's minimum).
    vip_monthly_fee: kind.Amount = Decimal("290")
    # Express post-warranty work costs the price times this ("+100 %").
    express_multiplier: kind.Amount = Decimal("2")


@section(frozen=True, config=TABLE)
class LimitsSettings:
    """What one mail may cost: bigger mails open their ticket with text only, in quarantine."""

    max_mail_size: kind.Size = 25 * 1024 * 1024
    max_attachment_size: kind.Size = 10 * 1024 * 1024
    # Automatic mails (acknowledgements, status mails) to one address in an hour, at most.
    auto_replies_per_hour: kind.PerHour = 5
    # Mails to one ticket's customer in an hour (relays too); the rest is held for a person.
    customer_mails_per_ticket_hour: kind.PerHour = 10


@section(frozen=True, config=TABLE)
class IngestSettings:
    """How much mail one step of the intake takes at once: bounds memory and sets the pace."""

    # Mails fetched, stored and committed together (one transaction, one fsync).
    batch_size: kind.BatchSize = 100
    # ... and at most this many bytes of mail in one batch.
    batch_bytes: kind.Size = 16 * 1024 * 1024
    # Processes parsing mail beside the main one; 0 parses in the main process.
    parse_workers: kind.Workers = 1
    # A worker's time for one mail; past it the worker is killed and replaced, and the mail
    # is read by the bounded fallback reader (mailbot.runtime.parse_pool).
    parse_deadline: kind.Duration = timedelta(seconds=10)


@section(frozen=True, config=TABLE)
class HealthSettings:
    """When ``mailbot status`` warns (exit 1) or calls it critical (exit 2).

    In the file, the poll thresholds follow imap.poll_interval when not set.
    """

    poll_warning: kind.Duration = timedelta(minutes=5)
    poll_critical: kind.Duration = timedelta(minutes=15)
    outbox_warning: kind.Duration = timedelta(minutes=15)
    outbox_critical: kind.Duration = timedelta(hours=2)


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
    billing: BillingSettings = field(default_factory=BillingSettings)
    # The file the settings came from, for messages; None when built in code (demo, tests).
    source: Path | None = None
    # By name; always holds at least "business" and "always".
    calendars: dict[str, Calendar] = field(default_factory=default_calendars)
    # (logger, level) pairs applied after log_level, e.g. ("mailbot.outbox", "DEBUG").
    log_levels: tuple[tuple[str, str], ...] = ()
    health: HealthSettings = field(default_factory=HealthSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    web: WebSettings = field(default_factory=WebSettings)
    oauth2: OAuth2Settings = field(default_factory=OAuth2Settings)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret of the settings, for the logs to mask ("" for those not set)."""
        return (
            self.imap.password,
            self.smtp.password,
            self.web.metrics_token,
            self.oauth2.client_secret,
            self.oauth2.refresh_token,
        )


# --- the file's own tables: [general], [calendars.NAME], [tiers] --------------------


@section(frozen=True, config=TABLE)
class _General:
    # Not set: $STATE_DIRECTORY (systemd), else DEFAULT_STATE_DIR.
    state_dir: kind.OptionalPath = None
    templates_dir: kind.OptionalPath = None
    log_level: kind.LogLevel = "INFO"
    log_levels: kind.LogLevels = ()


class _ConfigFile(BaseSettings):
    """The whole file: one field per section, in the order their errors are reported."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=False)

    general: _General = Field(default_factory=_General)
    support: SupportSettings = Field(default_factory=SupportSettings)
    calendars: dict[str, CalendarTable] = Field(default_factory=dict)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    tiers: TiersTable = Field(default_factory=TiersTable)
    billing: BillingSettings = Field(default_factory=BillingSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    oauth2: OAuth2Settings = Field(default_factory=OAuth2Settings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # pydantic-settings asks the class for its sources; this load's come from LOADING.
        return LOADING.get().layers(settings_cls)


# --- the schema: which keys there are ---------------------------------------------

_SECTIONS: dict[str, Any] = {
    name: info.annotation for name, info in _ConfigFile.model_fields.items()
}


def _keys(table: Any) -> list[str]:
    """The keys of a table, the mailbox url first: it decides which others are needed."""
    return sorted((item.name for item in fields(table)), key=lambda name: name != "url")


def known_keys() -> tuple[str, ...]:
    """Every dotted key the loader accepts (``imap.port``, ``tiers.vip.reaction``...).

    Of the ``[calendars.NAME]`` tables, only ``calendars.business`` is listed.
    """
    plain = [name for name in _SECTIONS if name not in ("tiers", "calendars")]
    keys = [f"{name}.{key}" for name in plain for key in _keys(_SECTIONS[name])]
    keys += [f"tiers.{tier.value}.{key}" for tier in Tier for key in tier_keys(tier)]
    return (*keys, *(f"calendars.business.{key}" for key in _keys(CalendarTable)))


_KNOWN = frozenset(known_keys())


def _is_known(path: str) -> bool:
    """True when a variable may set ``path``: a known key, or a key of any calendar."""
    top, _, rest = path.partition(".")
    name, _, key = rest.partition(".")
    if top == "calendars":
        return bool(name) and key in _keys(CalendarTable)
    return path in _KNOWN


def _unknown(outer: tuple[str, ...]) -> str:
    """What to say about an unknown name inside the table ``outer`` (() for the top)."""
    if not outer:
        sections = ", ".join(f"[{name}]" for name in sorted(_SECTIONS))
        return "unknown section; expected one of " + sections
    if outer == ("tiers",):
        return "unknown tier; expected one of " + ", ".join(tier.value for tier in Tier)
    if outer[0] == "tiers" and len(outer) > 1 and outer[1] in {tier.value for tier in Tier}:
        return "unknown key; expected one of " + ", ".join(sorted(tier_keys(Tier(outer[1]))))
    inner = {"tiers": TierSettings, "calendars": CalendarTable}
    table = inner[outer[0]] if len(outer) > 1 else _SECTIONS[outer[0]]
    return "unknown key; expected one of " + ", ".join(_keys(table))


_UNKNOWN = frozenset({"extra_forbidden", "unexpected_keyword_argument"})
_NOT_A_TABLE = frozenset({"dataclass_type", "model_type", "dict_type", "model_attributes_type"})


def _first_problem(load: Load, errors: list[ErrorDetails]) -> ConfigError:
    """The file's shape first (unknown keys, a value for a table), then unknown variables,
    then the values: the order the file is read in."""
    shape = [error for error in errors if error["type"] in _UNKNOWN | _NOT_A_TABLE]
    if not shape and load.unknown:
        return load.unknown
    return _problem(load, (shape or errors)[0])


def _problem(load: Load, error: ErrorDetails) -> ConfigError:
    """pydantic's first complaint in our words: ``imap.port: expected an integer, got "abc"``."""
    loc = tuple(str(part) for part in error["loc"])
    path = ".".join(loc)
    if error["type"] in _UNKNOWN:
        return load.fail(path, _unknown(loc[:-1]))
    if error["type"] in _NOT_A_TABLE:
        return load.fail(path, f"expected a table [{path}], got {describe_value(error['input'])}")
    reason = error.get("ctx", {}).get("error")
    return load.fail(load.where(path), str(reason) if reason else error["msg"])


# --- the settings that follow other settings ------------------------------------------


def _password(load: Load, path: str, value: str, *, required: bool) -> str:
    """The password from the file or a variable, else a systemd credential, else an error."""
    credential = path.replace(".", "_")  # imap_password, smtp_password
    value = value or load.credential(credential)
    if value or not required:
        return value
    raise load.fail(
        path,
        f"missing; {load.secret_home(path, credential)}",
    )


def _local_url(load: Load, url: str, scheme: str) -> str:
    """``maildir:rel`` -> ``maildir:/config/dir/rel``; "" stays ""."""
    return scheme + str(load.resolve(Path(url.removeprefix(scheme)))) if url else url


def _optional_path(load: Load, path: Path | None) -> Path | None:
    return load.resolve(path) if path else None


def _server(load: Load, section: str, *, local: bool) -> None:
    """A server's host (and the IMAP login) are required unless the mailbox is local."""
    for key in ("host", "username") if section == "imap" else ("host",):
        if not local and not load.given(f"{section}.{key}"):
            raise load.missing(f"{section}.{key}")


def _imap(load: Load, imap: ImapSettings, *, reads_mailbox: bool) -> ImapSettings:
    local = imap.url.startswith("maildir:")  # a Maildir needs no server, login or password
    _server(load, "imap", local=local)
    required = reads_mailbox and not local and imap.auth == "password"
    return replace(
        imap,
        port=imap.port if load.given("imap.port") else 993 if imap.tls == "ssl" else 143,
        password=_password(load, "imap.password", imap.password, required=required),
        url=_local_url(load, imap.url, "maildir:"),
        ca_file=_optional_path(load, imap.ca_file),
    )


_SMTP_PORTS: dict[TlsMode, int] = {"ssl": 465, "starttls": 587, "none": 25}


def _smtp(load: Load, smtp: SmtpSettings, *, support: SupportSettings) -> SmtpSettings:
    local = smtp.url.startswith("dir:")  # a pickup directory needs no server
    _server(load, "smtp", local=local)
    # A local relay may take mail without a login; a password only goes with a username.
    required = bool(smtp.username) and not local and smtp.auth == "password"
    if smtp.auth == "oauth2" and not local and not smtp.username:
        raise load.fail(
            "smtp.username",
            'missing; needed with auth = "oauth2" (the mailbox the token logs in to):'
            f" set it in [smtp] or as {variable('smtp.username')}",
        )
    return replace(
        smtp,
        port=smtp.port if load.given("smtp.port") else _SMTP_PORTS[smtp.tls],
        password=_password(load, "smtp.password", smtp.password, required=required),
        from_address=smtp.from_address or support.address,
        url=_local_url(load, smtp.url, "dir:"),
        ca_file=_optional_path(load, smtp.ca_file),
    )


def _support(load: Load, support: SupportSettings) -> SupportSettings:
    if not load.given("support.address"):
        raise load.missing("support.address")
    return replace(support, contracts_file=_optional_path(load, support.contracts_file))


def _health(load: Load, health: HealthSettings, *, poll_interval: timedelta) -> HealthSettings:
    """Not set, the poll thresholds follow the poll interval: 3 and 10 polls, at least 5
    and 15 minutes."""
    warning = max(3 * poll_interval, timedelta(minutes=5))
    critical = max(10 * poll_interval, timedelta(minutes=15))
    return replace(
        health,
        poll_warning=health.poll_warning if load.given("health.poll_warning") else warning,
        poll_critical=health.poll_critical if load.given("health.poll_critical") else critical,
    )


def _state_dir(load: Load, general: _General) -> Path:
    # systemd's StateDirectory= may list several directories, colon-separated; ours is the first.
    systemd = load.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return load.resolve(general.state_dir or (Path(systemd) if systemd else DEFAULT_STATE_DIR))


def _settings(load: Load, config: _ConfigFile, *, reads_mailbox: bool) -> Settings:
    state_dir = _state_dir(load, config.general)
    support = _support(load, config.support)
    calendars = build_calendars(load, config.calendars, timezone=support.timezone)
    imap = _imap(load, config.imap, reads_mailbox=reads_mailbox)
    smtp = _smtp(load, config.smtp, support=support)
    imap_oauth2 = imap.auth == "oauth2" and reads_mailbox and not imap.maildir_path
    smtp_oauth2 = smtp.auth == "oauth2" and not smtp.pickup_dir
    mailboxes = (imap.username,) * imap_oauth2 + (smtp.username,) * smtp_oauth2
    database = config.database
    return Settings(
        imap=imap,
        smtp=smtp,
        database=replace(database, url=database.url or f"sqlite:///{state_dir / 'mailbot.db'}"),
        support=support,
        tiers=build_tiers(load, config.tiers, calendars),
        state_dir=state_dir,
        templates_dir=_optional_path(load, config.general.templates_dir),
        log_level=config.general.log_level,
        billing=config.billing,
        source=load.file,
        calendars=calendars,
        log_levels=config.general.log_levels,
        health=_health(load, config.health, poll_interval=imap.poll_interval),
        limits=config.limits,
        ingest=config.ingest,
        web=web_settings(load, config.web),
        oauth2=oauth2_settings(
            load, config.oauth2, used=imap_oauth2 or smtp_oauth2, mailboxes=mailboxes
        ),
    )


def load_settings(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    reads_mailbox: bool = True,
) -> Settings:
    """Read, check and return the settings; raise ConfigError naming the file and the key.

    The file is ``path``, else ``$MAILBOT_CONFIG``, else DEFAULT_CONFIG_PATH.
    Values come from the TOML file, overridden by ``MAILBOT_<SECTION>__<KEY>``
    variables from a ``.env`` beside it, overridden in turn by ``environ``
    (default ``os.environ``, which is only read, never changed). Passwords left
    empty are taken from ``$CREDENTIALS_DIRECTORY`` (systemd credentials).

    ``reads_mailbox`` False is for a process that never opens the mailbox (``mailbot
    web``): the IMAP password is then taken when given but not required, so that
    process need not be handed it. The rest of ``[imap]`` is checked all the same.
    """
    real_env = os.environ if environ is None else environ
    file = Path(path or real_env.get("MAILBOT_CONFIG") or DEFAULT_CONFIG_PATH)
    load = read_load(file, real_env, is_known=_is_known)
    try:
        with loading(load):
            config = _ConfigFile()
    except ValidationError as exc:
        raise _first_problem(load, exc.errors()) from None
    if load.unknown:
        raise load.unknown
    return _settings(load, config, reads_mailbox=reads_mailbox)
