"""Read the contracts file (``support.contracts_file``): TOML, or CSV by the ``.csv`` suffix.

TOML has one ``[[contract]]`` table per contract; CSV has a header row with the
same names, lists separated by spaces and ISO dates (``2026-12-31``), and an
empty cell for a value that is not set. The file is checked as a whole: the
result is every contract, or a ConfigError naming the file, the contract (or
CSV row) and the field. Nothing is returned partially.
"""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

from mailbot.config import describe_value, is_email_address
from mailbot.core.contracts import Contract
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError

T = TypeVar("T")

_FIELDS = (
    "id",
    "customer",
    "tier",
    "addresses",
    "domains",
    "valid_from",
    "valid_until",
    "language",
)
# Billing keys (issue 6) are allowed now so that one contracts file serves both
# releases; they are not stored until billing reads them.
_BILLING_FIELDS = (
    "nip",
    "monthly_fee",
    "package_hours",
    "free_unjustified",
    "hourly_rate",
    "ip_allowlist",
    "procedures",
    "phone",
    "billing_email",
)
_KNOWN = frozenset(_FIELDS + _BILLING_FIELDS)
_LIST_FIELDS = frozenset({"addresses", "domains"})
_DATE_FIELDS = frozenset({"valid_from", "valid_until"})
_LANGUAGES = ("pl", "en")

# (label, fields): label says where a contract is, e.g. 'contract #3' or 'row 4'.
_Record = tuple[str, Mapping[str, object]]


def load_contracts_file(path: Path) -> list[Contract]:
    """Return every contract in ``path``, in file order; raise ConfigError on any problem."""
    records = _csv_records(path) if path.suffix.lower() == ".csv" else _toml_records(path)
    contracts: list[Contract] = []
    first_label: dict[str, str] = {}
    for label, fields in records:
        where = _where(label, fields)
        try:
            contract = _contract(fields)
        except ValueError as exc:
            raise ConfigError(f"{path}: {where}: {exc}") from None
        if contract.id in first_label:
            raise ConfigError(
                f"{path}: {where}: id: duplicate id {describe_value(contract.id)},"
                f" already used by {first_label[contract.id]}"
            )
        first_label[contract.id] = label
        contracts.append(contract)
    return contracts


def _where(label: str, fields: Mapping[str, object]) -> str:
    contract_id = fields.get("id")
    return f"{label} (id {describe_value(contract_id)})" if isinstance(contract_id, str) else label


# --- reading the two formats --------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: spreadsheet programs start CSV files with a byte-order mark.
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the contracts file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc


def _toml_records(path: Path) -> list[_Record]:
    try:
        document = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for name in document:
        if name != "contract":
            raise ConfigError(f"{path}: {name}: unknown key; expected [[contract]] tables")
    tables = document.get("contract", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise ConfigError(
            f"{path}: contract: expected [[contract]] tables, got {describe_value(tables)}"
        )
    return [(f"contract #{number}", table) for number, table in enumerate(tables, start=1)]


def _csv_records(path: Path) -> list[_Record]:
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    _check_header(path, reader.fieldnames or [])
    records: list[_Record] = []
    for row in reader:
        # reader.line_num is the file line the row ends on; the header is row 1.
        label = f"row {reader.line_num}"
        if None in row:
            raise ConfigError(f"{path}: {label}: more values than the header has columns")
        records.append((label, _from_csv(row)))
    return records


def _check_header(path: Path, columns: Iterable[str]) -> None:
    seen: set[str] = set()
    for column in columns:
        if column not in _KNOWN:
            expected = ", ".join(_FIELDS)
            raise ConfigError(
                f"{path}: column {describe_value(column)}: unknown column; expected {expected}"
            )
        if column in seen:
            raise ConfigError(f"{path}: column {describe_value(column)}: appears twice")
        seen.add(column)


def _from_csv(row: Mapping[str, str | None]) -> dict[str, object]:
    """A CSV row as the TOML table it stands for; empty cells are left out.

    A date that does not parse stays a string, so the check reports it the
    same way as in TOML.
    """
    fields: dict[str, object] = {}
    for name, cell in row.items():
        text = (cell or "").strip()
        if not text:
            continue
        if name in _LIST_FIELDS:
            fields[name] = text.split()
        elif name in _DATE_FIELDS:
            fields[name] = _csv_date(text)
        else:
            fields[name] = text
    return fields


def _csv_date(text: str) -> object:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


# --- checking one contract ----------------------------------------------------


def _contract(fields: Mapping[str, object]) -> Contract:
    """Build one Contract; raise ValueError("field: what is wrong") for the first problem."""
    for name in fields:
        if name not in _KNOWN:
            raise ValueError(f"{name}: unknown key; expected one of {', '.join(_FIELDS)}")
    contract = Contract(
        id=_required(fields, "id", _text),
        customer=_required(fields, "customer", _text),
        tier=_required(fields, "tier", _tier),
        addresses=frozenset(_optional(fields, "addresses", _addresses) or ()),
        domains=frozenset(_optional(fields, "domains", _domains) or ()),
        valid_from=_required(fields, "valid_from", _date),
        valid_until=_optional(fields, "valid_until", _date),
        language=_optional(fields, "language", _language) or "pl",
    )
    if contract.valid_until is not None and contract.valid_until < contract.valid_from:
        raise ValueError(
            f"valid_until: {contract.valid_until} is before valid_from {contract.valid_from}"
        )
    return contract


def _optional(fields: Mapping[str, object], name: str, check: Callable[[object], T]) -> T | None:
    if name not in fields:
        return None
    try:
        return check(fields[name])
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _required(fields: Mapping[str, object], name: str, check: Callable[[object], T]) -> T:
    value = _optional(fields, name, check)
    if value is None:
        raise ValueError(f"{name}: missing")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {describe_value(value)}")
    return value


def _tier(value: object) -> Tier:
    names = ", ".join(tier.value for tier in Tier)
    if not isinstance(value, str) or value.lower() not in {tier.value for tier in Tier}:
        raise ValueError(f"expected one of {names}, got {describe_value(value)}")
    return Tier(value.lower())


def _strings(value: object, item: Callable[[str], bool], expected: str) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of {expected}, got {describe_value(value)}")
    bad = [entry for entry in value if not isinstance(entry, str) or not item(entry)]
    if bad:
        raise ValueError(f"expected a list of {expected}, got {describe_value(bad[0])} in it")
    return [entry.lower() for entry in value]


def _addresses(value: object) -> list[str]:
    return _strings(value, is_email_address, "e-mail addresses")


def _is_domain(text: str) -> bool:
    return bool(text) and "@" not in text and not any(c.isspace() for c in text)


def _domains(value: object) -> list[str]:
    return _strings(value, _is_domain, "domain names like acme.pl (no @)")


def _date(value: object) -> date:
    # A TOML datetime is a date subclass, but a contract runs by whole days.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError(f"expected a date like 2026-12-31, got {describe_value(value)}")


def _language(value: object) -> str:
    if not isinstance(value, str) or value.lower() not in _LANGUAGES:
        raise ValueError(f"expected one of {', '.join(_LANGUAGES)}, got {describe_value(value)}")
    return value.lower()
