"""Where settings come from: the TOML file, ``MAILBOT_*`` variables (the environment over
the ``.env`` beside the file) and systemd credentials.

The file and the variables are each read into nested tables (``{"imap": {"port":
993}}``), one pydantic-settings source each; pydantic-settings merges them, the
variables winning, and mailbot.config checks the result. Empty values are left
out of both (rule 2 of mailbot.config), so an empty value never hides another.
A variable's value arrives as ``EnvText``, so each kind of value knows to read
it as text; ``Load.where`` names the variable in messages about it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from mailbot.config_values import EnvText
from mailbot.errors import ConfigError

PREFIX = "MAILBOT_"
_CALENDAR_NAME = re.compile(r"[a-z][a-z0-9_]*")
# "" on purpose: this calendar has no public holidays (the other keys' "" is "not set").
_BLANK_MEANS_NONE = re.compile(r"calendars\.[^.]+\.country")


def variable(path: str) -> str:
    """The variable that sets the dotted key ``path``, e.g. MAILBOT_IMAP__PORT."""
    return PREFIX + path.upper().replace(".", "__")


class Layer(PydanticBaseSettingsSource):
    """One layer of raw values as nested tables: the variables, or the TOML file."""

    def __init__(self, settings_cls: type[BaseSettings], tables: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.tables = tables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.tables.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self.tables


@dataclass(frozen=True)
class Load:
    """The raw settings of one load, and how to talk about them."""

    file: Path
    # The environment over the .env beside the file: for the variables systemd sets too.
    environ: Mapping[str, str]
    toml: dict[str, Any]
    variables: dict[str, Any]
    # Which variable set which dotted key: {"imap.port": "MAILBOT_IMAP__PORT"}.
    origin: Mapping[str, str]
    # The problem with the first variable that names no setting, if any: reported after
    # the file's own shape, as the file is read first.
    unknown: ConfigError | None = None

    def layers(self, settings_cls: type[BaseSettings]) -> tuple[Layer, Layer]:
        """The sources in pydantic-settings' order: the first wins."""
        return Layer(settings_cls, self.variables), Layer(settings_cls, self.toml)

    def given(self, path: str) -> bool:
        """True when the file or a variable sets ``path`` (to anything but "")."""
        return path in self.origin or _lookup(self.toml, path) not in (None, "")

    def where(self, path: str) -> str:
        """The key for messages: ``tiers.vip.calendar (from MAILBOT_TIERS__VIP__CALENDAR)``."""
        return f"{path} (from {self.origin[path]})" if path in self.origin else path

    def resolve(self, path: Path) -> Path:
        """A path from the configuration: relative ones are relative to the config file."""
        return self.file.absolute().parent / path

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {where}: {problem}")

    def missing(self, path: str) -> ConfigError:
        section = path.rpartition(".")[0]
        return self.fail(path, f"missing; set it in [{section}] or as {variable(path)}")

    def secret_home(self, path: str, credential: str) -> str:
        """Where the secret ``path`` is given instead of the file, for messages."""
        return (
            f"set {variable(path)} in the environment or in {self.file.parent / '.env'}"
            f" (or give the service the systemd credential {credential})"
        )

    def credential(self, name: str) -> str:
        """The systemd credential ``name`` (LoadCredential=), "" when there is none."""
        directory = self.environ.get("CREDENTIALS_DIRECTORY")
        if not directory or not (Path(directory) / name).is_file():
            return ""
        try:
            # systemd passes the file as written; editors add a final newline.
            return (Path(directory) / name).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail(name, f"cannot read the systemd credential: {exc}") from exc


# pydantic-settings asks the settings class for its sources; the one load under way
# (this file, this environment) reaches them through here.
LOADING: ContextVar[Load] = ContextVar("mailbot.config_sources.LOADING")


@contextmanager
def loading(load: Load) -> Iterator[Load]:
    token = LOADING.set(load)
    try:
        yield load
    finally:
        LOADING.reset(token)


def read_load(file: Path, environ: Mapping[str, str], *, is_known: Callable[[str], bool]) -> Load:
    """Read the file, the .env beside it and ``environ``; ``is_known`` tells which dotted
    keys a variable may set. Raises ConfigError for a file that cannot be read and a
    calendar name that is no name; a variable naming no setting waits in ``unknown``."""
    toml = _without_empty(_read_toml(file))
    env = {**_read_dotenv(file), **environ}
    load = Load(file, env, toml, *_variables(file, env, is_known))
    _check_calendar_names(load)
    return load


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


def _without_empty(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The TOML tables without their "" values (not set), but for a calendar's country."""
    kept: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            kept[name] = _without_empty(value, f"{prefix}{name}.")
        elif value != "" or _BLANK_MEANS_NONE.fullmatch(prefix + name):
            kept[name] = value
    return kept


def _variables(
    file: Path, env: Mapping[str, str], is_known: Callable[[str], bool]
) -> tuple[dict[str, Any], dict[str, str], ConfigError | None]:
    """``MAILBOT_SECTION__KEY`` variables as nested tables of EnvText, their origins, and
    the problem with the first one that names no key.

    Variables without ``__`` (such as MAILBOT_CONFIG) are not settings and are left
    alone; one with ``__`` that names no key is a typo and an error. Empty ones set
    nothing, so that the file's value stays in force (but name their calendar).
    """
    tables: dict[str, Any] = {}
    origin: dict[str, str] = {}
    unknown: ConfigError | None = None
    for name, text in env.items():
        if not name.startswith(PREFIX) or "__" not in name:
            continue
        path = name.removeprefix(PREFIX).lower().replace("__", ".")
        if not is_known(path):
            unknown = unknown or ConfigError(
                f"{file}: {name}: no such setting {path}; expected MAILBOT_<SECTION>__<KEY>"
                " naming a key of the configuration, e.g. MAILBOT_IMAP__HOST"
            )
            continue
        *outer, key = path.split(".")
        target = tables
        for table in outer:
            target = target.setdefault(table, {})
        if text:
            target[key] = EnvText(text)
            origin[path] = name
    return tables, origin, unknown


def _check_calendar_names(load: Load) -> None:
    names = set(load.variables.get("calendars", {}))
    calendars = load.toml.get("calendars")
    names |= set(calendars) if isinstance(calendars, dict) else set()
    for name in sorted(names):
        if _CALENDAR_NAME.fullmatch(name) is None:
            raise load.fail(
                f"calendars.{name}",
                "expected a calendar name of lower-case letters, digits and _, starting with"
                " a letter (like business)",
            )


def _lookup(tables: Mapping[str, Any], path: str) -> object:
    value: object = tables
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value
