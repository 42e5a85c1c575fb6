"""The configuration loader: TOML + .env + MAILBOT_* overrides + systemd credentials."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from collections.abc import Callable, Mapping
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbot.cli import main
from mailbot.config import (
    DEFAULT_CONFIG_PATH,
    Settings,
    TierSettings,
    default_calendars,
    known_keys,
    load_settings,
    parse_duration,
)
from mailbot.core.calendar import ALWAYS, Calendar, WorkingDuration, parse_working_duration
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """
[imap]
host = "imap.example.com"
username = "support"

[smtp]
host = "smtp.example.com"

[support]
address = "support@example.com"
"""

SECRETS = {"MAILBOT_IMAP__PASSWORD": "imap-secret"}


def write_config(directory: Path, text: str = MINIMAL, *, dotenv: str | None = None) -> Path:
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    if dotenv is not None:
        (directory / ".env").write_text(dotenv, encoding="utf-8")
    return path


def load(directory: Path, text: str = MINIMAL, environ: Mapping[str, str] = SECRETS) -> Settings:
    return load_settings(write_config(directory, text), environ=dict(environ))


def load_error(directory: Path, text: str, environ: Mapping[str, str] = SECRETS) -> str:
    path = write_config(directory, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=dict(environ))
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


# --- valid files --------------------------------------------------------------


def test_minimal_config_gets_the_defaults(tmp_path: Path) -> None:
    settings = load(tmp_path)

    assert settings.source == tmp_path / "config.toml"
    assert settings.state_dir == Path("/var/lib/mailbot")
    assert settings.templates_dir is None
    assert settings.log_level == "INFO"
    imap = settings.imap
    assert (imap.host, imap.port, imap.username, imap.password) == (
        "imap.example.com",
        993,
        "support",
        "imap-secret",
    )
    assert (imap.tls, imap.verify_tls, imap.url, imap.maildir_path) == ("ssl", True, "", None)
    assert (imap.folder, imap.processed_folder, imap.quarantine_folder) == (
        "INBOX",
        "Processed",
        "Quarantine",
    )
    assert imap.poll_interval == timedelta(seconds=60)
    smtp = settings.smtp
    assert (smtp.host, smtp.port, smtp.username, smtp.password) == ("smtp.example.com", 587, "", "")
    assert (smtp.tls, smtp.verify_tls, smtp.url) == ("starttls", True, "")
    assert smtp.from_address == "support@example.com"
    assert smtp.timeout == timedelta(seconds=30)
    assert settings.database.url == "sqlite:////var/lib/mailbot/mailbot.db"
    support = settings.support
    assert (support.address, support.name, support.ticket_prefix) == (
        "support@example.com",
        "Support",
        "SOL",
    )
    assert (support.staff_addresses, support.staff_domains) == ((), ())
    assert (support.contracts_file, support.timezone) == (None, "Europe/Warsaw")
    assert support.escalation_address == ""
    assert settings.tiers == {
        Tier.WARRANTY: TierSettings(
            wd("24h"), wd("5d"), "business", (wd("4h"),), (wd("1d"), wd("2h"))
        ),
        Tier.VIP: TierSettings(
            wd("1h"), wd("2d"), "always", (wd("30m"), wd("10m")), (wd("4h"), wd("1h"))
        ),
        Tier.POST_WARRANTY: TierSettings(
            wd("24h"), wd("14d"), "business", (wd("4h"),), (wd("1d"), wd("2h")), wd("2d")
        ),
    }
    assert settings.calendars == {
        "business": Calendar(
            "business", ZoneInfo("Europe/Warsaw"), frozenset(range(5)), None, "PL"
        ),
        "always": ALWAYS,
    }


def wd(text: str) -> WorkingDuration:
    return parse_working_duration(text)


def test_every_key_can_be_set_in_the_file(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [general]
        state_dir = "state"
        templates_dir = "tpl"
        log_level = "debug"
        [imap]
        host = "mail.acme.pl"
        port = 1993
        username = "u"
        password = "p"
        tls = "starttls"
        verify_tls = false
        folder = "Support"
        processed_folder = "Done"
        quarantine_folder = "Odd"
        poll_interval = 30
        [smtp]
        host = "relay.acme.pl"
        port = 2525
        username = "s"
        password = "q"
        tls = "none"
        verify_tls = false
        from_address = "noreply@acme.pl"
        timeout = "1m 30s"
        [database]
        url = "postgresql+psycopg://mailbot@db/mailbot"
        [support]
        address = "help@acme.pl"
        name = "ACME Help"
        staff_addresses = ["Anna@ACME.pl"]
        staff_domains = ["Staff.ACME.pl"]
        ticket_prefix = "HD2"
        contracts_file = "contracts.csv"
        timezone = "UTC"
        [tiers.vip]
        reaction = "2h"
        resolution = "1d12h"
        """,
        environ={},
    )

    assert settings.state_dir == tmp_path / "state"
    assert settings.templates_dir == tmp_path / "tpl"
    assert settings.log_level == "DEBUG"
    assert settings.imap.port == 1993
    assert settings.imap.password == "p"
    assert settings.imap.poll_interval == timedelta(seconds=30)
    assert settings.imap.verify_tls is False
    assert settings.smtp.from_address == "noreply@acme.pl"
    assert settings.smtp.timeout == timedelta(seconds=90)
    assert settings.smtp.password == "q"
    assert settings.database.url == "postgresql+psycopg://mailbot@db/mailbot"
    assert settings.support.staff_addresses == ("anna@acme.pl",)
    assert settings.support.staff_domains == ("staff.acme.pl",)
    assert settings.support.contracts_file == tmp_path / "contracts.csv"
    assert settings.tiers[Tier.VIP].reaction == wd("2h")
    assert settings.tiers[Tier.VIP].resolution == WorkingDuration(1, timedelta(hours=12))
    assert settings.tiers[Tier.WARRANTY].reaction == wd("24h")


@pytest.mark.parametrize(
    ("tls", "imap_port", "smtp_port"),
    [("ssl", 993, 465), ("starttls", 143, 587), ("none", 143, 25)],
)
def test_port_defaults_follow_tls(tmp_path: Path, tls: str, imap_port: int, smtp_port: int) -> None:
    environ = {**SECRETS, "MAILBOT_IMAP__TLS": tls, "MAILBOT_SMTP__TLS": tls}
    settings = load(tmp_path, environ=environ)

    assert (settings.imap.port, settings.smtp.port) == (imap_port, smtp_port)


def test_systemd_state_directory_is_the_default_state_dir(tmp_path: Path) -> None:
    settings = load(tmp_path, environ={**SECRETS, "STATE_DIRECTORY": "/var/lib/mailbot2:/x"})

    assert settings.state_dir == Path("/var/lib/mailbot2")
    assert settings.database.url == "sqlite:////var/lib/mailbot2/mailbot.db"


def test_local_mailboxes_need_no_servers_or_passwords(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
        [imap]
        url = "maildir:mail/inbox"
        [smtp]
        url = "dir:/srv/outbox"
        [support]
        address = "support@example.com"
        """,
        environ={},
    )

    assert settings.imap.url == f"maildir:{tmp_path}/mail/inbox"
    assert settings.imap.maildir_path == tmp_path / "mail" / "inbox"
    assert (settings.imap.host, settings.imap.username, settings.imap.password) == ("", "", "")
    assert settings.smtp.pickup_dir == Path("/srv/outbox")
    assert settings.smtp.host == ""


def test_path_comes_from_mailbot_config(tmp_path: Path) -> None:
    path = write_config(tmp_path)

    settings = load_settings(environ={**SECRETS, "MAILBOT_CONFIG": str(path)})

    assert settings.source == path


@pytest.mark.skipif(DEFAULT_CONFIG_PATH.exists(), reason="a real configuration is installed")
def test_default_path_is_named_when_missing() -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{DEFAULT_CONFIG_PATH}: cannot read")):
        load_settings(environ={})


# --- environment, .env and credentials ---------------------------------------


@pytest.mark.parametrize(
    ("in_toml", "in_dotenv", "in_environ", "expected"),
    [
        ("Toml", None, None, "Toml"),
        ("Toml", "Dotenv", None, "Dotenv"),
        ("Toml", "Dotenv", "Environ", "Environ"),
        ("Toml", None, "Environ", "Environ"),
        (None, "Dotenv", None, "Dotenv"),
    ],
)
def test_environment_beats_dotenv_beats_toml(
    tmp_path: Path,
    in_toml: str | None,
    in_dotenv: str | None,
    in_environ: str | None,
    expected: str,
) -> None:
    text = MINIMAL.replace("[imap]", f'[imap]\nfolder = "{in_toml}"' if in_toml else "[imap]")
    dotenv = f"MAILBOT_IMAP__FOLDER={in_dotenv}\n" if in_dotenv else ""
    environ = {**SECRETS, **({"MAILBOT_IMAP__FOLDER": in_environ} if in_environ else {})}
    path = write_config(tmp_path, text, dotenv=dotenv)

    assert load_settings(path, environ=environ).imap.folder == expected


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    text = MINIMAL.replace("[imap]", '[imap]\nfolder = "Support"\nprocessed_folder = ""')
    environ = {**SECRETS, "MAILBOT_IMAP__FOLDER": "", "MAILBOT_IMAP__QUARANTINE_FOLDER": ""}

    settings = load(tmp_path, text, environ=environ)

    assert settings.imap.folder == "Support"
    assert settings.imap.processed_folder == "Processed"
    assert settings.imap.quarantine_folder == "Quarantine"


def test_dotenv_beside_the_file_gives_the_secrets(tmp_path: Path) -> None:
    text = MINIMAL.replace('host = "smtp.example.com"', 'host = "smtp.example.com"\nusername = "s"')
    dotenv = "MAILBOT_IMAP__PASSWORD=from-dotenv\nMAILBOT_SMTP__PASSWORD='quoted pw'\n"
    path = write_config(tmp_path, text, dotenv=dotenv)

    settings = load_settings(path, environ={})

    assert (settings.imap.password, settings.smtp.password) == ("from-dotenv", "quoted pw")


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected"),
    [
        ("MAILBOT_IMAP__PORT", "1143", lambda s: s.imap.port, 1143),
        ("MAILBOT_IMAP__VERIFY_TLS", "no", lambda s: s.imap.verify_tls, False),
        ("MAILBOT_IMAP__VERIFY_TLS", "0", lambda s: s.imap.verify_tls, False),
        ("MAILBOT_IMAP__VERIFY_TLS", "Yes", lambda s: s.imap.verify_tls, True),
        ("MAILBOT_IMAP__VERIFY_TLS", "true", lambda s: s.imap.verify_tls, True),
        (
            "MAILBOT_IMAP__POLL_INTERVAL",
            "90",
            lambda s: s.imap.poll_interval,
            timedelta(seconds=90),
        ),
        ("MAILBOT_SMTP__TIMEOUT", "2m", lambda s: s.smtp.timeout, timedelta(minutes=2)),
        (
            "MAILBOT_SUPPORT__STAFF_ADDRESSES",
            "A@x.pl, b@y.pl",
            lambda s: s.support.staff_addresses,
            ("a@x.pl", "b@y.pl"),
        ),
        (
            "MAILBOT_SUPPORT__STAFF_DOMAINS",
            "x.pl,Y.pl",
            lambda s: s.support.staff_domains,
            ("x.pl", "y.pl"),
        ),
        ("MAILBOT_GENERAL__STATE_DIR", "/srv/mb", lambda s: s.state_dir, Path("/srv/mb")),
        ("MAILBOT_DATABASE__URL", "sqlite://", lambda s: s.database.url, "sqlite://"),
        (
            "MAILBOT_TIERS__VIP__REACTION",
            "30m",
            lambda s: s.tiers[Tier.VIP].reaction,
            wd("30m"),
        ),
        ("MAILBOT_FOO", "not an override", lambda s: s.imap.port, 993),
    ],
)
def test_env_overrides_are_converted(
    tmp_path: Path,
    variable: str,
    value: str,
    read: Callable[[Settings], object],
    expected: object,
) -> None:
    settings = load(tmp_path, environ={**SECRETS, variable: value})

    assert read(settings) == expected


def test_passwords_come_from_systemd_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "imap_password").write_text("imap-cred\n", encoding="utf-8")
    (credentials / "smtp_password").write_text("smtp-cred\n", encoding="utf-8")
    text = MINIMAL.replace('host = "smtp.example.com"', 'host = "smtp.example.com"\nusername = "s"')

    settings = load(tmp_path, text, environ={"CREDENTIALS_DIRECTORY": str(credentials)})

    assert (settings.imap.password, settings.smtp.password) == ("imap-cred", "smtp-cred")


def test_a_set_password_beats_the_credential(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "imap_password").write_text("imap-cred\n", encoding="utf-8")

    settings = load(tmp_path, environ={**SECRETS, "CREDENTIALS_DIRECTORY": str(credentials)})

    assert settings.imap.password == "imap-secret"


# --- errors ---------------------------------------------------------------------


def with_imap(line: str) -> str:
    return MINIMAL.replace("[imap]", f"[imap]\n{line}")


def with_support(line: str) -> str:
    return MINIMAL.replace("[support]", f"[support]\n{line}")


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (with_imap('port = "abc"'), SECRETS, 'imap.port: expected an integer, got "abc"'),
        (with_imap("port = 70000"), SECRETS, "imap.port: expected a port number from 1 to"),
        (with_imap("verify_tls = 1"), SECRETS, "imap.verify_tls: expected true or false, got 1"),
        (with_imap("folder = 5"), SECRETS, "imap.folder: expected a string, got 5"),
        (with_imap('colour = "red"'), SECRETS, "imap.colour: unknown key; expected one of url,"),
        (
            MINIMAL + "[colours]\n",
            SECRETS,
            "colours: unknown section; expected one of [billing], [calendars], [database]",
        ),
        (MINIMAL + 'log_level = "INFO"\n', SECRETS, "support.log_level: unknown key"),
        ('general = "x"\n' + MINIMAL, SECRETS, "general: expected a table [general], got"),
        (MINIMAL + "[tiers.gold]\n", SECRETS, "tiers.gold: unknown tier; expected one of"),
        (MINIMAL + '[tiers.vip]\nreply = "1h"\n', SECRETS, "tiers.vip.reply: unknown key"),
        (
            MINIMAL,
            {},
            "imap.password: missing; set MAILBOT_IMAP__PASSWORD in the environment or in",
        ),
        (
            MINIMAL.replace('host = "smtp.example.com"', 'host = "s.example.com"\nusername = "u"'),
            SECRETS,
            "smtp.password: missing; set MAILBOT_SMTP__PASSWORD",
        ),
        (MINIMAL.replace('host = "imap.example.com"', ""), SECRETS, "imap.host: missing; set it"),
        (MINIMAL.replace('address = "support@example.com"', ""), SECRETS, "support.address: miss"),
        (with_imap('poll_interval = "soon"'), SECRETS, "imap.poll_interval: bad duration: expect"),
        (with_imap('poll_interval = "0s"'), SECRETS, "imap.poll_interval: bad duration: must be"),
        (with_imap("poll_interval = -5"), SECRETS, "imap.poll_interval: bad duration"),
        (with_imap("poll_interval = true"), SECRETS, "imap.poll_interval: bad duration"),
        (
            with_imap('tls = "tls"'),
            SECRETS,
            'imap.tls: expected one of ssl, starttls, none, got "t',
        ),
        (with_imap('url = "imap://x"'), SECRETS, 'imap.url: expected "" or "maildir:PATH"'),
        (with_imap('url = "maildir:"'), SECRETS, 'imap.url: expected "" or "maildir:PATH"'),
        (with_support('ticket_prefix = "sol"'), SECRETS, "support.ticket_prefix: expected 1 to"),
        (with_support('ticket_prefix = "ABCDEFGHIJK"'), SECRETS, "support.ticket_prefix: expec"),
        (with_support('timezone = "Mars/Olympus"'), SECRETS, "support.timezone: expected a time"),
        (with_support('staff_addresses = "a@b.pl"'), SECRETS, "support.staff_addresses: expec"),
        (
            with_support('staff_addresses = ["Anna Nowak"]'),
            SECRETS,
            'support.staff_addresses: expected a list of e-mail addresses, got "Anna Nowak" in it',
        ),
        (with_support('staff_domains = ["@acme.pl"]'), SECRETS, "support.staff_domains: expected"),
        (
            MINIMAL.replace("support@example.com", "support"),
            SECRETS,
            'support.address: expected an e-mail address like support@example.com, got "support"',
        ),
        (
            MINIMAL + '[database]\nurl = "mysql://db/x"\n',
            SECRETS,
            "database.url: expected sqlite:///PATH or a PostgreSQL URL (PostgreSQL uses "
            "postgresql+psycopg://",
        ),
        (
            MINIMAL + '[general]\nlog_level = "LOUD"\n',
            SECRETS,
            "general.log_level: expected one of DEBUG, INFO, WARNING, ERROR",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_IMAP__PORT": "abc"},
            'imap.port (from MAILBOT_IMAP__PORT): expected an integer, got "abc"',
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_IMAP__VERIFY_TLS": "maybe"},
            'imap.verify_tls (from MAILBOT_IMAP__VERIFY_TLS): expected true or false, got "maybe"',
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_TIERS__VIP__REACTION": "soon"},
            "tiers.vip.reaction (from MAILBOT_TIERS__VIP__REACTION): bad duration",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_IMAP__COLOUR": "red"},
            "MAILBOT_IMAP__COLOUR: no such setting imap.colour; expected MAILBOT_<SECTION>__<KEY>",
        ),
        (MINIMAL, {**SECRETS, "MAILBOT_TIERS__GOLD__REACTION": "1h"}, "MAILBOT_TIERS__GOLD__R"),
        (MINIMAL, {**SECRETS, "MAILBOT_COLOUR__": "red"}, "MAILBOT_COLOUR__: no such setting"),
        ("[imap\n", SECRETS, "not valid TOML"),
    ],
)
def test_each_problem_names_the_key_and_what_is_expected(
    tmp_path: Path, text: str, environ: Mapping[str, str], expected: str
) -> None:
    assert load_error(tmp_path, text, environ).startswith(expected)


def test_missing_password_message_names_the_dotenv_beside_the_file(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL, {})

    assert f"in {tmp_path / '.env'} " in message


def test_a_process_that_never_reads_the_mailbox_needs_no_imap_password(tmp_path: Path) -> None:
    path = write_config(tmp_path)

    settings = load_settings(path, environ={}, reads_mailbox=False)
    given = load_settings(path, environ=SECRETS, reads_mailbox=False)

    assert (settings.imap.host, settings.imap.password) == ("imap.example.com", "")
    assert given.imap.password == "imap-secret"  # taken when given, e.g. to mask it in logs
    # The rest of [imap], and SMTP's password of a login, are required all the same.
    with pytest.raises(ConfigError, match=r"imap\.username: missing"):
        load_settings(write_config(tmp_path, MINIMAL.replace('username = "support"', "")),
                      environ={}, reads_mailbox=False)  # fmt: skip
    smtp_login = MINIMAL.replace(
        'host = "smtp.example.com"', 'host = "s.example.com"\nusername = "u"'
    )
    with pytest.raises(ConfigError, match=r"smtp\.password: missing"):
        load_settings(write_config(tmp_path, smtp_login), environ={}, reads_mailbox=False)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(ConfigError, match=re.escape(f"{path}: cannot read")):
        load_settings(path, environ=SECRETS)


# --- durations ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(hours=36)),
        ("1d 12h", timedelta(hours=36)),
        (" 1h 30m 15s ", timedelta(seconds=5415)),
        ("120", timedelta(minutes=2)),
        (45, timedelta(seconds=45)),
    ],
)
def test_parse_duration(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        *("", "soon", "0s", "0", 0, -5, "-5m", "1.5h", "30m1h", "1h1h", "2w", "1H", "h", True),
        # Longer than any setting waits, and never an overflow (issue 13).
        *("366d", "8761h", 10**20, "99999999999d", "9" * 5000, "1d" + "9" * 5000 + "h"),
    ],
)
def test_parse_duration_rejects(text: str | int) -> None:
    with pytest.raises(ValueError, match=r"^bad duration"):
        parse_duration(text)


# --- the example file -------------------------------------------------------------


def flat_keys(table: Mapping[str, object], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in table.items():
        if isinstance(value, dict):
            keys |= flat_keys(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_the_example_config_loads() -> None:
    environ = {"MAILBOT_IMAP__PASSWORD": "x", "MAILBOT_SMTP__PASSWORD": "y"}

    settings = load_settings(REPO / "config.example.toml", environ=environ)

    assert settings.support.address == "support@example.com"


def test_the_example_config_shows_every_key() -> None:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    # Optional keys are shown commented out ("# templates_dir = ..."): count them.
    uncommented = re.sub(r"(?m)^# (\w+ = )", r"\1", text)
    documented = flat_keys(tomllib.loads(uncommented))
    # Passwords never appear as keys; the file must say where they go instead.
    documented |= {
        key
        for key in known_keys()
        if key.endswith(
            (
                ".password",
                ".metrics_token",
                ".client_secret",
                ".refresh_token",
                ".service_account_file",
            )
        )
        and key_variable(key) in text
    }

    assert sorted(set(known_keys()) - documented) == []
    keys = {key.rpartition(".")[2] for key in flat_keys(tomllib.loads(text))}
    assert not keys & {
        "password",
        "metrics_token",
        "client_secret",
        "refresh_token",
        "service_account_file",
    }


def key_variable(key: str) -> str:
    return "MAILBOT_" + key.upper().replace(".", "__")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"abc"', "billing.hourly_rate"),
        ('"-5"', "billing.hourly_rate"),
        ("true", "billing.hourly_rate"),
    ],
)
def test_billing_amounts_are_checked(tmp_path: Path, value: str, problem: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[imap]\nurl = "maildir:m"\n[smtp]\nurl = "dir:d"\n[support]\naddress = "s@x.pl"\n'
        f"[billing]\nhourly_rate = {value}\n"
    )
    with pytest.raises(ConfigError, match=problem):
        load_settings(config, environ={})


def test_billing_amounts_are_decimals(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[imap]\nurl = "maildir:m"\n[smtp]\nurl = "dir:d"\n[support]\naddress = "s@x.pl"\n'
        '[billing]\nhourly_rate = 150.50\nvat_percent = "8"\n'
    )
    billing = load_settings(config, environ={}).billing
    assert (billing.hourly_rate, billing.vat_percent) == (Decimal("150.50"), Decimal("8"))


# --- calendars, tier calendars and reminders ----------------------------------------


def test_calendars_and_tier_calendars_from_the_file(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        MINIMAL
        + """
        escalation_address = "Szef@Example.com"
        [calendars.business]
        timezone = "Europe/London"
        workdays = ["Mon", "tue", "wed", "thu"]
        hours = "08:00-16:00"
        country = ""
        days_off = [2026-12-31, "2027-01-02"]
        [calendars.weekends]
        workdays = ["sat", "sun"]
        country = "de"
        [calendars.always]
        always = true
        [tiers.warranty]
        calendar = "weekends"
        reaction_reminders = ["1h", 600]
        resolution_reminders = []
        [tiers.vip]
        resolution = "1d 12h"
        """,
    )

    assert settings.support.escalation_address == "Szef@Example.com"
    assert settings.calendars == {
        "business": Calendar(
            "business",
            ZoneInfo("Europe/London"),
            frozenset({0, 1, 2, 3}),
            (time(8), time(16)),
            None,
            frozenset({date(2026, 12, 31), date(2027, 1, 2)}),
        ),
        "weekends": Calendar("weekends", ZoneInfo("Europe/Warsaw"), frozenset({5, 6}), None, "DE"),
        "always": ALWAYS,
    }
    warranty = settings.tiers[Tier.WARRANTY]
    assert warranty.calendar == "weekends"
    assert warranty.reaction_reminders == (wd("1h"), WorkingDuration(time=timedelta(minutes=10)))
    assert warranty.resolution_reminders == ()
    assert settings.tiers[Tier.VIP].resolution == WorkingDuration(1, timedelta(hours=12))
    assert settings.tiers[Tier.VIP].calendar == "always"


def test_calendars_default_to_the_support_time_zone(tmp_path: Path) -> None:
    text = with_support('timezone = "Europe/Berlin"') + "[calendars.shop]\nhours = '09:00-17:00'\n"

    calendars = load(tmp_path, text).calendars

    assert calendars["business"].tz == ZoneInfo("Europe/Berlin")
    assert calendars["shop"].tz == ZoneInfo("Europe/Berlin")
    assert calendars["shop"].hours == (time(9), time(17))
    assert calendars["always"].always
    assert calendars["always"].tz == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("variable", "value", "read", "expected"),
    [
        (
            "MAILBOT_CALENDARS__BUSINESS__HOURS",
            "08:00-16:00",
            lambda s: s.calendars["business"].hours,
            (time(8), time(16)),
        ),
        (
            "MAILBOT_CALENDARS__BUSINESS__WORKDAYS",
            "mon, wed,FRI",
            lambda s: s.calendars["business"].workdays,
            frozenset({0, 2, 4}),
        ),
        (
            "MAILBOT_CALENDARS__BUSINESS__DAYS_OFF",
            "2026-12-31,2027-01-02",
            lambda s: s.calendars["business"].days_off,
            frozenset({date(2026, 12, 31), date(2027, 1, 2)}),
        ),
        (
            "MAILBOT_CALENDARS__BUSINESS__COUNTRY",
            "none",
            lambda s: s.calendars["business"].country,
            None,
        ),
        (
            "MAILBOT_CALENDARS__BUSINESS__ALWAYS",
            "yes",
            lambda s: s.calendars["business"].always,
            True,
        ),
        (
            "MAILBOT_TIERS__VIP__CALENDAR",
            "business",
            lambda s: s.tiers[Tier.VIP].calendar,
            "business",
        ),
        (
            "MAILBOT_TIERS__VIP__REACTION_REMINDERS",
            "20m, 5m",
            lambda s: s.tiers[Tier.VIP].reaction_reminders,
            (wd("20m"), wd("5m")),
        ),
        (
            "MAILBOT_SUPPORT__ESCALATION_ADDRESS",
            "boss@example.com",
            lambda s: s.support.escalation_address,
            "boss@example.com",
        ),
        # A variable alone defines a calendar.
        (
            "MAILBOT_CALENDARS__ON_CALL__HOURS",
            "06:00-22:00",
            lambda s: s.calendars["on_call"].hours,
            (time(6), time(22)),
        ),
    ],
)
def test_calendar_env_overrides_are_converted(
    tmp_path: Path,
    variable: str,
    value: str,
    read: Callable[[Settings], object],
    expected: object,
) -> None:
    settings = load(tmp_path, environ={**SECRETS, variable: value})

    assert read(settings) == expected


def test_a_tier_can_use_a_calendar_defined_by_variables(tmp_path: Path) -> None:
    environ = {
        **SECRETS,
        "MAILBOT_CALENDARS__ON_CALL__ALWAYS": "true",
        "MAILBOT_TIERS__WARRANTY__CALENDAR": "on_call",
    }

    settings = load(tmp_path, environ=environ)

    assert settings.calendars["on_call"].always
    assert settings.tiers[Tier.WARRANTY].calendar == "on_call"


def test_the_example_config_has_the_default_calendars_and_tiers(tmp_path: Path) -> None:
    environ = {"MAILBOT_IMAP__PASSWORD": "x", "MAILBOT_SMTP__PASSWORD": "y"}

    example = load_settings(REPO / "config.example.toml", environ=environ)

    # The example spells out the defaults, which settings built in code get too.
    assert example.calendars == load(tmp_path).calendars == default_calendars()
    assert example.tiers == load(tmp_path).tiers


def with_calendar(lines: str, name: str = "business") -> str:
    return MINIMAL + f"[calendars.{name}]\n{lines}\n"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (
            with_calendar('hours = "8-16"'),
            SECRETS,
            'calendars.business.hours: expected "HH:MM-HH:MM" like "08:00-16:00", got "8-16"',
        ),
        (
            with_calendar('hours = "08:00-25:00"'),
            SECRETS,
            'calendars.business.hours: expected "HH:MM-HH:MM" like "08:00-16:00", got "08:00-25',
        ),
        (
            with_calendar('hours = "16:00-08:00"'),
            SECRETS,
            "calendars.business.hours: expected the start before the end",
        ),
        (with_calendar("hours = 8"), SECRETS, "calendars.business.hours: expected a string, got 8"),
        (
            with_calendar('workdays = ["monday"]'),
            SECRETS,
            'calendars.business.workdays: expected a list of weekdays like ["mon", "tue"] (mon,'
            ' tue, wed, thu, fri, sat, sun), got "monday" in it',
        ),
        (
            with_calendar("workdays = []"),
            SECRETS,
            "calendars.business.workdays: expected a list of weekdays like",
        ),
        (
            with_calendar('workdays = "mon"'),
            SECRETS,
            "calendars.business.workdays: expected a list",
        ),
        (
            with_calendar('country = "XX"'),
            SECRETS,
            'calendars.business.country: expected a country code of the holidays package like "PL"',
        ),
        (
            with_calendar('days_off = ["tomorrow"]'),
            SECRETS,
            "calendars.business.days_off: expected a list of dates like [2026-12-31] or"
            ' ["2026-12-31"], got "tomorrow" in it',
        ),
        (
            with_calendar("days_off = [2026-12-31T10:00:00]"),
            SECRETS,
            "calendars.business.days_off: expected a list of dates like",
        ),
        (with_calendar("days_off = 2026-12-31"), SECRETS, "calendars.business.days_off: expected"),
        (with_calendar('always = "yes"'), SECRETS, "calendars.business.always: expected true or"),
        (
            with_calendar('always = true\nhours = "08:00-16:00"'),
            SECRETS,
            "calendars.business.hours: not allowed with always = true",
        ),
        (
            with_calendar('hours = "08:00-16:00"', "always"),
            SECRETS,
            "calendars.always.hours: not allowed with always = true",
        ),
        (
            with_calendar('colour = "red"'),
            SECRETS,
            "calendars.business.colour: unknown key; expected one of timezone, workdays, hours,",
        ),
        (
            with_calendar("", "Biz"),
            SECRETS,
            "calendars.Biz: expected a calendar name of lower-case letters, digits and _",
        ),
        (MINIMAL + '[calendars]\nshop = "x"\n', SECRETS, "calendars.shop: expected a table"),
        (
            MINIMAL + '[tiers.vip]\ncalendar = "24x7"\n',
            SECRETS,
            'tiers.vip.calendar: unknown calendar "24x7"; defined: always, business',
        ),
        (
            MINIMAL + "[calendars.shop]\n",
            {**SECRETS, "MAILBOT_TIERS__VIP__CALENDAR": "24x7"},
            "tiers.vip.calendar (from MAILBOT_TIERS__VIP__CALENDAR): unknown calendar"
            ' "24x7"; defined: always, business, shop',
        ),
        (
            MINIMAL + '[tiers.vip]\nreaction_reminders = "30m"\n',
            SECRETS,
            'tiers.vip.reaction_reminders: expected a list of durations like ["4h", "1h"], got',
        ),
        (
            MINIMAL + '[tiers.vip]\nresolution_reminders = ["1h", "soon"]\n',
            SECRETS,
            'tiers.vip.resolution_reminders: bad duration: expected e.g. "90s"',
        ),
        (
            MINIMAL + '[tiers.vip]\nresolution = "0d"\n',
            SECRETS,
            "tiers.vip.resolution: bad duration: must be more than zero",
        ),
        (
            with_support('escalation_address = "the boss"'),
            SECRETS,
            "support.escalation_address: expected an e-mail address",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_CALENDARS__BUSINESS__HOURS": "8-16"},
            "calendars.business.hours (from MAILBOT_CALENDARS__BUSINESS__HOURS): expected",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_CALENDARS__SHOP__COLOUR": "red"},
            "MAILBOT_CALENDARS__SHOP__COLOUR: no such setting calendars.shop.colour",
        ),
    ],
)
def test_each_calendar_problem_names_the_key(
    tmp_path: Path, text: str, environ: Mapping[str, str], expected: str
) -> None:
    assert load_error(tmp_path, text, environ).startswith(expected)


@pytest.mark.parametrize(
    ("text", "size"),
    [('"25MB"', 25 * 1024**2), ('"512 kb"', 512 * 1024), ('"1GB"', 1024**3), ("4096", 4096)],
)
def test_limits_take_sizes(tmp_path: Path, text: str, size: int) -> None:
    settings = load(tmp_path, MINIMAL + f"\n[limits]\nmax_mail_size = {text}\n")
    assert settings.limits.max_mail_size == size
    assert settings.limits.max_attachment_size == 10 * 1024**2
    assert settings.limits.auto_replies_per_hour == 5
    assert settings.limits.customer_mails_per_ticket_hour == 10


@pytest.mark.parametrize("text", ['"25 elephants"', '"0MB"', "-1", "true"])
def test_a_bad_size_is_refused_naming_the_key(tmp_path: Path, text: str) -> None:
    message = load_error(tmp_path, MINIMAL + f"\n[limits]\nmax_mail_size = {text}\n")
    assert "limits.max_mail_size" in message and "25MB" in message


def test_limits_come_from_the_environment(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        environ={**SECRETS, "MAILBOT_LIMITS__MAX_ATTACHMENT_SIZE": "2MB",
                 "MAILBOT_LIMITS__AUTO_REPLIES_PER_HOUR": "0",
                 "MAILBOT_LIMITS__CUSTOMER_MAILS_PER_TICKET_HOUR": "3"},
    )  # fmt: skip
    assert settings.limits.max_attachment_size == 2 * 1024**2
    assert settings.limits.auto_replies_per_hour == 0
    assert settings.limits.customer_mails_per_ticket_hour == 3


def test_the_parse_deadline_is_a_duration(tmp_path: Path) -> None:
    assert load(tmp_path).ingest.parse_deadline == timedelta(seconds=10)
    settings = load(tmp_path, MINIMAL + '\n[ingest]\nparse_deadline = "1m 30s"\n')
    assert settings.ingest.parse_deadline == timedelta(seconds=90)
    settings = load(tmp_path, environ={**SECRETS, "MAILBOT_INGEST__PARSE_DEADLINE": "3"})
    assert settings.ingest.parse_deadline == timedelta(seconds=3)


@pytest.mark.parametrize("text", ['"soon"', '"0s"', "-5", "true"])
def test_a_bad_parse_deadline_is_refused_naming_the_key(tmp_path: Path, text: str) -> None:
    message = load_error(tmp_path, MINIMAL + f"\n[ingest]\nparse_deadline = {text}\n")
    assert message.startswith("ingest.parse_deadline: bad duration"), message


# --- huge numbers and reminders that cannot fit (issue 13) -------------------------


def with_imap(line: str) -> str:
    return MINIMAL.replace('username = "support"', f'username = "support"\n{line}')


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (
            with_imap('poll_interval = "99999999999d"'),
            SECRETS,
            'imap.poll_interval: bad duration: at most 365 days, got "99999999999d"',
        ),
        (
            with_imap("poll_interval = " + "9" * 20),
            SECRETS,
            "imap.poll_interval: bad duration: at most 365 days",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_IMAP__TIMEOUT": "9" * 5000},
            'imap.timeout (from MAILBOT_IMAP__TIMEOUT): bad duration: at most 365 days, got "999',
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_HEALTH__POLL_WARNING": "9" * 20},
            "health.poll_warning (from MAILBOT_HEALTH__POLL_WARNING): bad duration: at most",
        ),
        (
            MINIMAL + '[tiers.warranty]\nresolution = "99999999999d"\n',
            SECRETS,
            "tiers.warranty.resolution: bad duration: at most 366 days",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_SMTP__CONNECTIONS": "9" * 20},
            "smtp.connections (from MAILBOT_SMTP__CONNECTIONS): expected a whole number from 1"
            " to 100, got",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_INGEST__PARSE_WORKERS": "9" * 5000},
            "ingest.parse_workers (from MAILBOT_INGEST__PARSE_WORKERS): expected a whole number"
            ' from 0 to 64, got "9999',
        ),
        (
            MINIMAL + "[ingest]\nbatch_size = 0\n",
            SECRETS,
            "ingest.batch_size: expected a whole number from 1 to 100000, got 0",
        ),
        (
            MINIMAL + "[limits]\nauto_replies_per_hour = -1\n",
            SECRETS,
            "limits.auto_replies_per_hour: expected a whole number from 0 to 10000, got -1",
        ),
        (
            MINIMAL + '[limits]\nmax_mail_size = "99999999999999999999GB"\n',
            SECRETS,
            'limits.max_mail_size: expected a size of at most "1GB"',
        ),
        (
            MINIMAL + '[billing]\nhourly_rate = "1e999999"\n',
            SECRETS,
            'billing.hourly_rate: expected an amount like "120" or "120.50", at most',
        ),
        (
            MINIMAL + '[tiers.vip]\nreaction_reminders = ["5h"]\n',
            SECRETS,
            "tiers.vip.reaction_reminders: 5h is longer than the reaction window 1h on calendar"
            " 'always'",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_TIERS__WARRANTY__RESOLUTION_REMINDERS": "6d"},
            "tiers.warranty.resolution_reminders (from MAILBOT_TIERS__WARRANTY__RESOLUTION_REMINDERS"
            "): 6d is longer than the resolution window 5d",
        ),
        (
            # The default 30m reminder no longer fits a 20m window: said, not dropped.
            MINIMAL + '[tiers.vip]\nreaction = "20m"\n',
            SECRETS,
            "tiers.vip.reaction_reminders: 30m (the default) is longer than the reaction window"
            " 20m",
        ),
        (
            # On 08:00-16:00 a working day is 8 h: a 9 h reminder before "1d" cannot fit.
            with_calendar('hours = "08:00-16:00"')
            + '[tiers.warranty]\nresolution = "1d"\nresolution_reminders = ["9h"]\n',
            SECRETS,
            "tiers.warranty.resolution_reminders: 9h is longer than the resolution window 1d on"
            " calendar 'business'",
        ),
    ],
)
def test_huge_numbers_and_reminders_longer_than_their_window_are_refused(
    tmp_path: Path, text: str, environ: Mapping[str, str], expected: str
) -> None:
    message = load_error(tmp_path, text, environ)
    assert message.startswith(expected), message
    assert len(message) < 400  # a huge value is shown by its start only


def test_reminders_as_long_as_their_window_are_accepted(tmp_path: Path) -> None:
    settings = load(tmp_path, MINIMAL + '[tiers.vip]\nreaction = "30m"\n')
    assert settings.tiers[Tier.VIP].reaction_reminders == (wd("30m"), wd("10m"))


# --- express: a post-warranty setting ---------------------------------------------


def test_the_express_resolution_is_set_for_post_warranty_only(tmp_path: Path) -> None:
    settings = load(tmp_path, MINIMAL + '[tiers.post_warranty]\nexpress_resolution = "1d 12h"\n')
    assert settings.tiers[Tier.POST_WARRANTY].express_resolution == wd("1d12h")
    assert settings.tiers[Tier.VIP].express_resolution is None
    assert settings.tiers[Tier.WARRANTY].express_resolution is None
    variable = {**SECRETS, "MAILBOT_TIERS__POST_WARRANTY__EXPRESS_RESOLUTION": "3d"}
    from_variable = load(tmp_path, MINIMAL, variable)
    assert from_variable.tiers[Tier.POST_WARRANTY].express_resolution == wd("3d")


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (
            MINIMAL + '[tiers.vip]\nexpress_resolution = "1d"\n',
            SECRETS,
            "tiers.vip.express_resolution: unknown key: express is a post-warranty service",
        ),
        (
            MINIMAL,
            {**SECRETS, "MAILBOT_TIERS__WARRANTY__EXPRESS_RESOLUTION": "1d"},
            "MAILBOT_TIERS__WARRANTY__EXPRESS_RESOLUTION: no such setting",
        ),
        (
            MINIMAL + '[tiers.post_warranty]\nexpress_resolution = "soon"\n',
            SECRETS,
            "tiers.post_warranty.express_resolution: bad duration",
        ),
    ],
)
def test_express_resolution_problems_name_the_key(
    tmp_path: Path, text: str, environ: Mapping[str, str], expected: str
) -> None:
    message = load_error(tmp_path, text, environ)
    assert message.startswith(expected), message


@pytest.mark.parametrize(
    "table",
    [
        'express_resolution = "4h"',  # shorter than the default reminder 1d
        'resolution_reminders = ["3d"]',  # a file from before express: longer than 2d
    ],
)
def test_reminders_need_not_fit_the_express_window(tmp_path: Path, table: str) -> None:
    # Those longer than it are left out for express tickets (core.sla.planned_alerts).
    settings = load(tmp_path, MINIMAL + f"[tiers.post_warranty]\n{table}\n", SECRETS)
    assert settings.tiers[Tier.POST_WARRANTY].resolution_reminders


# --- [web] --------------------------------------------------------------------------


def with_web(line: str) -> str:
    return MINIMAL + f"\n[web]\n{line}\n"


def test_web_defaults(tmp_path: Path) -> None:
    web = load(tmp_path).web
    assert (web.bind, web.base_url, web.trusted_proxies) == ("127.0.0.1:8080", "", ())
    assert (web.submissions_per_ip_hour, web.submissions_per_ip_day) == (5, 20)
    assert web.submissions_per_hour == 200
    assert web.max_request_size == 30 * 1024**2
    assert web.staff_session == timedelta(hours=8)
    assert (web.metrics_token, web.secure_cookies) == ("", False)


def test_web_keys_from_the_file_and_the_environment(tmp_path: Path) -> None:
    text = with_web(
        'bind = "[::1]:8443"\nbase_url = "https://help.example.com/support/"\n'
        'trusted_proxies = ["10.0.0.0/8", "::ffff:192.0.2.0/120", "2001:db8::1"]\n'
        'max_request_size = "5MB"\nstaff_session = "1h"'
    )
    environ = {**SECRETS, "MAILBOT_WEB__METRICS_TOKEN": "t0ken",
               "MAILBOT_WEB__SUBMISSIONS_PER_IP_HOUR": "7",
               "MAILBOT_WEB__TRUSTED_PROXIES": "127.0.0.1/32, ::1"}  # fmt: skip
    web = load(tmp_path, text, environ).web
    assert (web.bind, web.base_url, web.secure_cookies) == (
        "[::1]:8443",
        "https://help.example.com/support",
        True,
    )
    assert web.trusted_proxies == ("127.0.0.1/32", "::1/128")
    assert (web.submissions_per_ip_hour, web.max_request_size) == (7, 5 * 1024**2)
    assert (web.staff_session, web.metrics_token) == (timedelta(hours=1), "t0ken")


def test_the_metrics_token_comes_from_a_systemd_credential(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "web_metrics_token").write_text("cred-token\n", encoding="utf-8")
    environ = {**SECRETS, "CREDENTIALS_DIRECTORY": str(credentials)}
    assert load(tmp_path, environ=environ).web.metrics_token == "cred-token"


def test_the_proxies_in_the_file_keep_their_networks(tmp_path: Path) -> None:
    web = load(tmp_path, with_web('trusted_proxies = ["::ffff:10.0.0.0/104"]')).web
    assert web.trusted_proxies == ("10.0.0.0/8",)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('bind = "localhost"', 'web.bind: expected host:port like "127.0.0.1:8080"'),
        ('bind = "::1:8080"', "web.bind: expected host:port"),
        ('bind = "[127.0.0.1]:8080"', "web.bind: expected host:port"),
        ('bind = "127.0.0.1:70000"', "web.bind: expected host:port"),
        ("bind = 8080", "web.bind: expected a string, got 8080"),
        ('base_url = "help.example.com"', 'web.base_url: expected "" or an address like'),
        ('base_url = "ftp://help.example.com"', "web.base_url: expected"),
        ('base_url = "https://help.example.com/?a=1"', "web.base_url: expected"),
        ('base_url = "https://help.example.com/#x"', "web.base_url: expected"),
        ('trusted_proxies = "10.0.0.0/8"', "web.trusted_proxies: expected a list of IP networks"),
        ('trusted_proxies = ["proxy.local"]', "web.trusted_proxies: expected a list of IP netw"),
        ("trusted_proxies = [10]", "web.trusted_proxies: expected a list of IP networks"),
        ("submissions_per_ip_hour = -1", "web.submissions_per_ip_hour: expected a whole number"),
        ('submissions_per_ip_hour = "5"', "web.submissions_per_ip_hour: expected a whole"),
        ("submissions_per_ip_day = 1000000", "web.submissions_per_ip_day: expected a whole num"),
        ("submissions_per_hour = 10001", "web.submissions_per_hour: expected a whole number"),
        ('max_request_size = "lots"', 'web.max_request_size: expected a size like "25MB"'),
        ('max_request_size = "2GB"', 'web.max_request_size: expected a size of at most "1GB"'),
        ('staff_session = "soon"', "web.staff_session: bad duration"),
        ('staff_session = "0s"', "web.staff_session: bad duration"),
        ('colour = "red"', "web.colour: unknown key; expected one of bind, base_url"),
        (
            'metrics_token = "s3cret"',
            "web.metrics_token: a secret does not belong in the file; set"
            " MAILBOT_WEB__METRICS_TOKEN in the environment or in",
        ),
    ],
)
def test_each_web_problem_names_the_key(tmp_path: Path, line: str, expected: str) -> None:
    message = load_error(tmp_path, with_web(line))
    assert message.startswith(expected), message
    assert "\n" not in message


def test_a_web_problem_from_a_variable_names_it(tmp_path: Path) -> None:
    message = load_error(tmp_path, MINIMAL, {**SECRETS, "MAILBOT_WEB__BIND": "nowhere"})
    assert message.startswith("web.bind (from MAILBOT_WEB__BIND): expected host:port")


def test_a_web_problem_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, with_web('bind = "nowhere"'))
    assert main(["--config", str(path), "check-config", "--offline"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "web.bind: expected host:port" in err


# --- OAuth2 logins (issue 16) -------------------------------------------------------

OAUTH2 = (
    MINIMAL.replace('username = "support"', 'username = "support"\nauth = "oauth2"').replace(
        'host = "smtp.example.com"',
        'host = "smtp.example.com"\nusername = "s@example.com"\nauth = "oauth2"',
    )
    + """
[oauth2]
client_id = "mailbot"
scope = "mail"
token_url = "https://login.example.com/oauth2/token"
"""
)
OAUTH2_SECRET = {"MAILBOT_OAUTH2__CLIENT_SECRET": "app-secret"}
MICROSOFT = OAUTH2.replace('scope = "mail"\ntoken_url = "https://login.example.com/oauth2/token"\n',
                           'provider = "microsoft"\ntenant = "contoso.onmicrosoft.com"\n')  # fmt: skip


def test_microsoft_needs_the_tenant_the_client_and_its_secret_and_no_token_url(
    tmp_path: Path,
) -> None:
    oauth2 = load(tmp_path, MICROSOFT, OAUTH2_SECRET).oauth2

    assert (oauth2.provider, oauth2.tenant, oauth2.client_id, oauth2.flow) == (
        "microsoft", "contoso.onmicrosoft.com", "mailbot", "client_credentials"
    )  # fmt: skip
    assert (oauth2.client_secret, oauth2.token_url, oauth2.scope) == ("app-secret", "", "")


def test_a_users_own_sign_in_needs_no_secret_in_the_environment_only_a_login_later(
    tmp_path: Path,
) -> None:
    """flow refresh_token / device_code: the refresh token comes from mailbot oauth login
    (the daemon reports a missing one as a refusal, and picks a login up when it comes)."""
    delegated = MICROSOFT.replace('client_id = "mailbot"',
                                  'client_id = "mailbot"\nflow = "device_code"')  # fmt: skip
    generic = OAUTH2.replace('scope = "mail"', 'flow = "refresh_token"\ndevice_authorization_url'
                             ' = "https://login.example.com/oauth2/device"')  # fmt: skip

    microsoft = load(tmp_path, delegated, {}).oauth2
    organizations = load(tmp_path, delegated.replace('"contoso.onmicrosoft.com"',
                                                     '"organizations"'), {}).oauth2  # fmt: skip
    device = load(tmp_path, generic, {}).oauth2

    assert (microsoft.flow, microsoft.client_secret, microsoft.refresh_token) == (
        "device_code", "", ""
    )  # fmt: skip
    assert organizations.tenant == "organizations"
    assert device.device_authorization_url == "https://login.example.com/oauth2/device"


def test_googles_installed_app_needs_its_client_id_and_secret(tmp_path: Path) -> None:
    installed = GOOGLE.replace('provider = "google"',
                               'provider = "google"\nflow = "refresh_token"\nclient_id = "c"')  # fmt: skip

    oauth2 = load(tmp_path, installed, OAUTH2_SECRET).oauth2

    assert (oauth2.flow, oauth2.client_id, oauth2.client_secret) == (
        "refresh_token",
        "c",
        "app-secret",
    )
    assert load_error(tmp_path, installed, {}).startswith(
        'oauth2.client_secret: missing; needed with flow = "refresh_token"'
    )


GOOGLE = OAUTH2.replace('client_id = "mailbot"\nscope = "mail"\ntoken_url = "https://login.example.com/oauth2/token"\n',
                        'provider = "google"\n').replace('username = "support"', 'username = "s@example.com"')  # fmt: skip
KEY = {"type": "service_account", "client_email": "mailbot@p.iam.gserviceaccount.com",
       "private_key": "-----BEGIN PRIVATE KEY-----\n...", "token_uri": "https://oauth2.googleapis.com/token"}  # fmt: skip


def google_key(directory: Path, key: Mapping[str, str] = KEY) -> dict[str, str]:
    path = directory / "sa.json"
    path.write_text(json.dumps(key), encoding="utf-8")
    return {"MAILBOT_OAUTH2__SERVICE_ACCOUNT_FILE": str(path)}


def test_google_needs_only_the_service_account_key_from_the_environment(tmp_path: Path) -> None:
    oauth2 = load(tmp_path, GOOGLE, google_key(tmp_path)).oauth2

    assert (oauth2.provider, oauth2.flow) == ("google", "service_account")
    assert oauth2.service_account_file == str(tmp_path / "sa.json")


def test_googles_key_file_may_be_the_systemd_credential_itself(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "oauth2_service_account").write_text(json.dumps(KEY), encoding="utf-8")

    oauth2 = load(tmp_path, GOOGLE, {"CREDENTIALS_DIRECTORY": str(credentials)}).oauth2

    assert oauth2.service_account_file == str(credentials / "oauth2_service_account")


def test_google_config_errors_name_the_key_and_never_quote_the_key(tmp_path: Path) -> None:
    def error(text: str = GOOGLE, key: Mapping[str, str] | None = KEY) -> str:
        return load_error(tmp_path, text, google_key(tmp_path, key) if key else {})

    assert error(key=None).startswith(
        'oauth2.service_account_file: missing; needed with flow = "service_account": set'
        " MAILBOT_OAUTH2__SERVICE_ACCOUNT_FILE"
    )
    assert "credential oauth2_service_account" in error(key=None)
    wrong = error(key={**KEY, "type": "authorized_user"})
    assert "is not a service account's key" in wrong and "PRIVATE KEY" not in wrong
    lacking = error(key={k: v for k, v in KEY.items() if k != "client_email"})
    assert lacking.endswith("lacks client_email")
    assert error(GOOGLE + 'service_account_file = "/etc/sa.json"\n').startswith(
        "oauth2.service_account_file: the key file's path does not belong in the file"
    )
    assert error(GOOGLE.replace("flow", "x") + 'flow = "client_credentials"\n').startswith(
        'oauth2.flow: with provider = "google" "service_account" or "refresh_token"'
    )
    assert error(
        GOOGLE.replace('username = "s@example.com"', 'username = "support"', 1)
    ).startswith('smtp.username: with provider = "google" the token is for one mailbox')
    both = GOOGLE.replace('username = "s@example.com"', 'username = "support"')
    assert error(both).startswith('imap.username: with provider = "google" the username is the'
                                  " mailbox's address")  # fmt: skip
    generic = OAUTH2.replace('scope = "mail"', 'flow = "service_account"')
    assert load_error(tmp_path, generic, OAUTH2_SECRET).startswith(
        'oauth2.flow: "service_account" is for provider = "google"'
    )


def test_google_without_google_auth_installed_is_a_config_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "google.oauth2", None)

    assert load_error(tmp_path, GOOGLE, google_key(tmp_path)) == (
        'oauth2.provider: "google" needs the Python package google-auth, which is not'
        " installed: install mailbot with its oauth extra, pip install 'mailbot[oauth]'"
    )


def test_microsoft_without_msal_installed_is_one_config_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "msal", None)  # as if not installed: imports fail
    path = write_config(tmp_path, MICROSOFT)
    monkeypatch.setenv("MAILBOT_OAUTH2__CLIENT_SECRET", "app-secret")

    code = main(["--config", str(path), "check-config", "--offline"])

    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.endswith(
        'oauth2.provider: "microsoft" needs the Python package msal, which is not installed:'
        " install mailbot with its oauth extra, pip install 'mailbot[oauth]'"
    )


def test_microsoft_unused_needs_no_msal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msal", None)
    text = MICROSOFT.replace('auth = "oauth2"', 'auth = "password"')

    settings = load(tmp_path, text, {"MAILBOT_IMAP__PASSWORD": "i", "MAILBOT_SMTP__PASSWORD": "s"})

    assert settings.oauth2.provider == "microsoft"


def test_oauth2_logins_need_no_passwords_but_the_client_secret(tmp_path: Path) -> None:
    settings = load(tmp_path, OAUTH2, OAUTH2_SECRET)

    assert (settings.imap.auth, settings.smtp.auth) == ("oauth2", "oauth2")
    assert (settings.imap.password, settings.smtp.password) == ("", "")
    oauth2 = settings.oauth2
    assert (oauth2.provider, oauth2.flow, oauth2.client_id, oauth2.scope) == (
        "generic", "client_credentials", "mailbot", "mail"
    )  # fmt: skip
    assert (oauth2.token_url, oauth2.client_secret) == (
        "https://login.example.com/oauth2/token", "app-secret"
    )  # fmt: skip


def test_the_default_is_password_and_oauth2_unused_needs_nothing(tmp_path: Path) -> None:
    settings = load(tmp_path)

    assert (settings.imap.auth, settings.smtp.auth) == ("password", "password")
    assert settings.oauth2.client_secret == "" and settings.oauth2.token_url == ""


def test_oauth2_secrets_come_from_systemd_credentials(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "oauth2_client_secret").write_text("cred-secret\n", encoding="utf-8")
    (credentials / "oauth2_refresh_token").write_text("cred-refresh\n", encoding="utf-8")
    text = OAUTH2.replace('client_id = "mailbot"', 'client_id = "mailbot"\nflow = "refresh_token"')

    settings = load(tmp_path, text, {"CREDENTIALS_DIRECTORY": str(credentials)})

    assert settings.oauth2.flow == "refresh_token"
    assert (settings.oauth2.client_secret, settings.oauth2.refresh_token) == (
        "cred-secret", "cred-refresh"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (OAUTH2, {}, "oauth2.client_secret: missing; needed with flow = \"client_credentials\": "
         "set MAILBOT_OAUTH2__CLIENT_SECRET"),
        (OAUTH2.replace('client_id = "mailbot"', 'client_id = "m"\nflow = "device_code"'), {},
         'oauth2.flow: "device_code" is for provider = "microsoft"; with provider = "generic"'),
        (OAUTH2.replace('scope = "mail"', 'device_authorization_url = "device"'), OAUTH2_SECRET,
         "oauth2.device_authorization_url: expected the device authorization endpoint's address,"
         ' like "https://login.example.com/oauth2/device", got "device"'),
        (OAUTH2.replace('token_url = "https://login.example.com/oauth2/token"', ""),
         OAUTH2_SECRET, "oauth2.token_url: missing; needed with auth = \"oauth2\""),
        (OAUTH2.replace('client_id = "mailbot"', ""), OAUTH2_SECRET,
         "oauth2.client_id: missing; needed with auth = \"oauth2\""),
        (MICROSOFT.replace('tenant = "contoso.onmicrosoft.com"', ""), OAUTH2_SECRET,
         'oauth2.tenant: missing; needed with provider = "microsoft": the directory (tenant) ID'),
        (MICROSOFT.replace('"contoso.onmicrosoft.com"', '"common"'), OAUTH2_SECRET,
         'oauth2.tenant: expected the directory (tenant) ID (a GUID) or the organisation\'s'
         ' domain like "contoso.onmicrosoft.com", got "common"'),
        (MICROSOFT.replace('"contoso.onmicrosoft.com"', '"https://login.microsoftonline.com/x"'),
         OAUTH2_SECRET, "oauth2.tenant: expected the directory (tenant) ID"),
        (MICROSOFT.replace('client_id = "mailbot"', 'client_id = "m"\nflow = "refresh_token"'),
         {**OAUTH2_SECRET, "MAILBOT_OAUTH2__REFRESH_TOKEN": "r"},
         'oauth2.flow: with provider = "microsoft" "client_credentials" or "device_code"'),
        (MICROSOFT.replace('client_id = "mailbot"', ""), OAUTH2_SECRET,
         "oauth2.client_id: missing; needed with auth = \"oauth2\""),
        (MICROSOFT, {}, "oauth2.client_secret: missing; needed with flow = \"client_credentials\""),
        (OAUTH2.replace('scope = "mail"', 'provider = "okta"'), OAUTH2_SECRET,
         'oauth2.provider: expected one of generic, microsoft, google, got "okta"'),
        (OAUTH2.replace('scope = "mail"', 'flow = "password"'), OAUTH2_SECRET,
         'oauth2.flow: expected one of client_credentials, refresh_token, service_account,'
         ' device_code, got "password"'),
        (OAUTH2.replace('auth = "oauth2"', 'auth = "kerberos"', 1), OAUTH2_SECRET,
         'imap.auth: expected one of password, oauth2, got "kerberos"'),
        (OAUTH2.replace('token_url = "https://', 'token_url = "ftp://'), OAUTH2_SECRET,
         "oauth2.token_url: expected the token endpoint's address"),
        (OAUTH2.replace('scope = "mail"', 'client_secret = "s"'), OAUTH2_SECRET,
         "oauth2.client_secret: a secret does not belong in the file; set"
         " MAILBOT_OAUTH2__CLIENT_SECRET"),
        (OAUTH2.replace('scope = "mail"', 'refresh_token = "r"'), OAUTH2_SECRET,
         "oauth2.refresh_token: a secret does not belong in the file"),
        (OAUTH2.replace('username = "s@example.com"\n', ""), OAUTH2_SECRET,
         'smtp.username: missing; needed with auth = "oauth2"'),
    ],
)  # fmt: skip
def test_oauth2_config_errors_name_the_key(
    tmp_path: Path, text: str, environ: Mapping[str, str], expected: str
) -> None:
    assert load_error(tmp_path, text, environ).startswith(expected)


def test_an_oauth2_config_error_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, OAUTH2.replace('scope = "mail"', 'provider = "okta"'))

    code = main(["--config", str(path), "check-config", "--offline"])

    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "oauth2.provider" in err and len(err.splitlines()) == 1
