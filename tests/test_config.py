"""The configuration loader: TOML + .env + MAILBOT_* overrides + systemd credentials."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from mailbot.config import (
    DEFAULT_CONFIG_PATH,
    Settings,
    TierSettings,
    known_keys,
    load_settings,
    parse_duration,
)
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
    assert settings.tiers == {
        Tier.WARRANTY: TierSettings(timedelta(hours=24), timedelta(days=5)),
        Tier.VIP: TierSettings(timedelta(hours=1), timedelta(days=2)),
        Tier.POST_WARRANTY: TierSettings(timedelta(hours=24), timedelta(days=14)),
    }


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
    assert settings.tiers[Tier.VIP] == TierSettings(timedelta(hours=2), timedelta(hours=36))
    assert settings.tiers[Tier.WARRANTY].reaction == timedelta(hours=24)


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
            timedelta(minutes=30),
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
            "colours: unknown section; expected one of [billing], [database]",
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
    "text", ["", "soon", "0s", "0", 0, -5, "-5m", "1.5h", "30m1h", "1h1h", "2w", "1H", "h", True]
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
        key for key in known_keys() if key.endswith(".password") and key_variable(key) in text
    }

    assert sorted(set(known_keys()) - documented) == []
    assert "password" not in {key.rpartition(".")[2] for key in flat_keys(tomllib.loads(text))}


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
