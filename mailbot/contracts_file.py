"""Read the contracts file (``support.contracts_file``): TOML, or CSV by the ``.csv`` suffix.

TOML has one ``[[contract]]`` table per contract; CSV has a header row with the
same names, lists separated by spaces and ISO dates (``2026-12-31``), and an
empty cell for a value that is not set. The file is checked as a whole: the
result is every contract, or a ConfigError naming the file, the contract (or
CSV row) and the field. Nothing is returned partially.

Billing keys (issue 6): amounts (``monthly_fee``, ``hourly_rate``,
``package_hours``) are strings or numbers read as Decimal, never through a
binary float (TOML floats are parsed as Decimal). Only a VIP contract has a
``monthly_fee``, at least ``MIN_VIP_MONTHLY_FEE``. ``procedures`` is the text
itself or, when it is one line naming an existing file (relative to the
contracts file), that file's text, read at import; a one-line value ending in
``.txt`` or ``.md`` that names no file is an error, not text.

``require_authentication`` (issue 5) is true or false (in CSV and ``contracts
set``: true/false, yes/no, 1/0); left out, the contract follows its tier's
default (VIP: ``[support] vip_requires_authentication``; others: false), decided
when a mail arrives, so the stored contract keeps "not set".
"""

from __future__ import annotations

import csv
import hashlib
import io
import ipaddress
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from mailbot.config import describe_value, is_domain_name, is_email_address
from mailbot.config_values import amount_in_range
from mailbot.core import contracts as contracts_module
from mailbot.core.contracts import Contract
from mailbot.core.tiers import Tier
from mailbot.errors import ConfigError

# A contract's own keys, named when a CSV header has an unknown column; _Row has these
# and then the billing keys (issue 6).
_FIELDS = (
    "id",
    "customer",
    "tier",
    "addresses",
    "domains",
    "valid_from",
    "valid_until",
    "language",
    "require_authentication",
)
_LIST_FIELDS = frozenset({"addresses", "domains", "ip_allowlist"})
_DATE_FIELDS = frozenset({"valid_from", "valid_until"})
_BOOL_FIELDS = frozenset({"require_authentication"})
# The words a CSV cell may use for a yes/no field (TOML has true and false).
_TRUE_WORDS = frozenset({"true", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "no", "0"})
_LANGUAGES = ("pl", "en")
# The price list: VIP service "from 290 PLN a month" (SERVICE_TERMS.md).
MIN_VIP_MONTHLY_FEE = Decimal(290)
_PROCEDURE_SUFFIXES = (".txt", ".md")
# Tickets a month (free_unjustified): more is a typo.
_MAX_COUNT = 10_000

# (label, fields): label says where a contract is, e.g. 'contract #3' or 'row 4'.
_Record = tuple[str, Mapping[str, object]]


def load_contracts_file(path: Path) -> list[Contract]:
    """Return every contract in ``path``, in file order; raise ConfigError on any problem."""
    return read_contracts_file(path).contracts


# Reads a file's bytes: a parameter, so that a test can change a file right after it is read.
ReadBytes = Callable[[Path], bytes]


@dataclass(frozen=True)
class ContractsFile:
    """The contracts of a file, the ``procedures`` files they named (each once, in the order
    first read) and the digest (``file_digest``) of the very bytes they were read from."""

    contracts: list[Contract]
    files: tuple[str, ...]
    digest: str


def read_contracts_file(path: Path, *, read_bytes: ReadBytes = Path.read_bytes) -> ContractsFile:
    """``load_contracts_file`` with the digest of what it read: each file is read once, and
    parsed and hashed from those bytes. Hashing the file again after parsing it would name
    content never imported if it changed in between, and the next start would skip it."""
    reads = _Reads(read_bytes, _reader_digest())
    contracts = _load(path, reads)
    return ContractsFile(contracts, tuple(str(p) for p in reads.named), reads.digest.hexdigest())


class _Reads:
    """The files one load reads, each read once: hashed as read into ``digest`` (the bytes
    are not kept), in the order ``file_digest`` hashes them."""

    def __init__(self, read_bytes: ReadBytes, digest: hashlib._Hash | None = None) -> None:
        self._read_bytes = read_bytes
        self.digest = digest if digest is not None else hashlib.sha256()
        self.named: list[Path] = []  # the procedures files
        self._texts: dict[Path, str] = {}

    def contracts_file(self, path: Path) -> bytes:
        content = self._read_bytes(path)
        _hash(self.digest, path, content)
        return content

    def procedures(self, path: Path) -> str:
        """The text of a procedures file (UnicodeDecodeError, OSError as reading raises)."""
        if path not in self._texts:
            content = self._read_bytes(path)
            text = content.decode("utf-8").strip()
            _hash(self.digest, path, content)
            self.named.append(path)
            self._texts[path] = text
        return self._texts[path]


def _load(path: Path, reads: _Reads) -> list[Contract]:
    records = (
        _csv_records(path, reads) if path.suffix.lower() == ".csv" else _toml_records(path, reads)
    )
    contracts: list[Contract] = []
    first_label: dict[str, str] = {}
    for label, fields in records:
        where = _where(label, fields)
        try:
            contract = _contract(fields, base=path.parent, reads=reads)
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


def _read_text(path: Path, reads: _Reads) -> str:
    """The file's text; an empty file, or one with a NUL byte, is refused (ConfigError).

    An empty file is a truncated or failed export more often than a choice: a file
    meant to hold no contracts says so with its CSV header row or a TOML comment.
    No database can store a NUL byte in text (PostgreSQL refuses it).
    """
    try:
        # utf-8-sig: spreadsheet programs start CSV files with a byte-order mark.
        text = reads.contracts_file(path).decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the contracts file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from exc
    if not text.strip():
        raise ConfigError(
            f"{path}: the file is empty; a file with no contracts yet needs at least its"
            " header row (CSV) or a comment (TOML)"
        )
    if "\0" in text:
        line = text.count("\n", 0, text.index("\0")) + 1
        raise ConfigError(f"{path}: line {line}: a NUL byte; the file must be plain text")
    return text


def _toml_records(path: Path, reads: _Reads) -> Iterator[_Record]:
    try:
        # Decimal, not float: an amount like 290.10 must arrive exactly.
        document = tomllib.loads(_read_text(path, reads), parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for name in document:
        if name != "contract":
            raise ConfigError(f"{path}: {name}: unknown key; expected [[contract]] tables")
    tables = document.pop("contract", [])
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise ConfigError(
            f"{path}: contract: expected [[contract]] tables, got {describe_value(tables)}"
        )
    # Each table is let go once its contract is made: the parsed document of 20,000
    # contracts beside all their contracts was about 20 MB more at the daemon's peak.
    tables.reverse()
    number = 0
    while tables:
        number += 1
        yield f"contract #{number}", tables.pop()


def _csv_records(path: Path, reads: _Reads) -> Iterator[_Record]:
    reader = csv.DictReader(io.StringIO(_read_text(path, reads), newline=""))
    _check_header(path, reader.fieldnames or [])
    for row in reader:
        # reader.line_num is the file line the row ends on; the header is row 1.
        label = f"row {reader.line_num}"
        if None in row:
            raise ConfigError(f"{path}: {label}: more values than the header has columns")
        yield label, _from_csv(row)


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
        elif name in _BOOL_FIELDS:
            fields[name] = _csv_bool(text)
        else:
            fields[name] = text
    return fields


def _csv_date(text: str) -> object:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def _csv_bool(text: str) -> object:
    word = text.lower()
    return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else text


# --- checking one contract ----------------------------------------------------


# The code that turns a contracts file into contracts.
_READER = (Path(__file__), Path(contracts_module.__file__))


def file_digest(path: Path, files: Iterable[str | Path] = ()) -> str:
    """The SHA-256 of the contracts file and of the ``procedures`` files it names, in the
    order given, and of the code that reads them (this module and the contract's defaults
    in mailbot.core.contracts: an upgrade may read the same file otherwise): the same
    digest, the same contracts (an import can be skipped). A file that cannot be read
    counts as its error, so a change to or from unreadable shows."""
    digest = _reader_digest()
    for name in (path, *files):
        _hash(digest, name, _content(Path(name)))
    return digest.hexdigest()


def _reader_digest() -> hashlib._Hash:
    """A SHA-256 that has taken in the reader's code, the first part of every digest."""
    digest = hashlib.sha256()
    for name in _READER:
        _hash(digest, name, _content(name))
    return digest


def _content(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror}".encode()


def _hash(digest: hashlib._Hash, name: str | Path, content: bytes) -> None:
    digest.update(f"{name}\0{len(content)}\0".encode())
    digest.update(content)


def _contract(fields: Mapping[str, object], *, base: Path, reads: _Reads | None = None) -> Contract:
    """Build one Contract; raise ValueError("field: what is wrong") for the first problem.
    ``reads``: the load it is part of (a procedures file is read once a load)."""
    reads = reads or _Reads(Path.read_bytes)
    try:
        row = _Row.model_validate(fields, context={"base": base, "reads": reads})
    except ValidationError as exc:
        raise ValueError(_first_problem(exc)) from None
    # Keys left out keep Contract's defaults (None is "not set" for every key of _Row).
    values = {name: getattr(row, name) for name in _Row.model_fields}
    return Contract(**{name: value for name, value in values.items() if value is not None})


def _first_problem(error: ValidationError) -> str:
    """pydantic's complaint in our words; an unknown key first, as it may explain the rest."""
    problems = error.errors()
    unknown = [problem for problem in problems if problem["type"] == "extra_forbidden"]
    problem = (unknown or problems)[0]
    name = ".".join(str(part) for part in problem["loc"])
    if problem["type"] == "extra_forbidden":
        return f"{name}: unknown key; expected one of {', '.join(_Row.model_fields)}"
    if problem["type"] == "missing":
        return f"{name}: missing"
    reason = str(problem.get("ctx", {}).get("error", problem["msg"]))
    return f"{name}: {reason}" if name else reason


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {describe_value(value)}")
    return value


def _tier(value: object) -> Tier:
    names = ", ".join(tier.value for tier in Tier)
    if not isinstance(value, str) or value.lower() not in {tier.value for tier in Tier}:
        raise ValueError(f"expected one of {names}, got {describe_value(value)}")
    return Tier(value.lower())


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"expected true or false, got {describe_value(value)}")


def _strings(value: object, item: Callable[[str], bool], expected: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list of {expected}, got {describe_value(value)}")
    bad = [entry for entry in value if not isinstance(entry, str) or not item(entry)]
    if bad:
        raise ValueError(f"expected a list of {expected}, got {describe_value(bad[0])} in it")
    return tuple(entry.lower() for entry in value)  # Contract sorts them, each once


def _addresses(value: object) -> tuple[str, ...]:
    return _strings(value, is_email_address, "e-mail addresses")


def _domains(value: object) -> tuple[str, ...]:
    return _strings(value, is_domain_name, "domain names like acme.pl (no @)")


def _date(value: object) -> date:
    # A TOML datetime is a date subclass, but a contract runs by whole days.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError(f"expected a date like 2026-12-31, got {describe_value(value)}")


def _language(value: object) -> str:
    if not isinstance(value, str) or value.lower() not in _LANGUAGES:
        raise ValueError(f"expected one of {', '.join(_LANGUAGES)}, got {describe_value(value)}")
    return value.lower()


def _decimal(value: object) -> Decimal:
    # TOML floats arrive as Decimal (parse_float); ints and strings are exact too.
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f'expected an amount like "120" or "120.50", got {describe_value(value)}')
    return amount_in_range(value.strip() if isinstance(value, str) else value, value)


def _money(value: object) -> Decimal:
    amount = _decimal(value)
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"expected whole grosz (at most 2 decimal places), got {amount}")
    return amount


def _hours(value: object) -> Decimal:
    hours = _decimal(value)
    if hours > 744:  # 31 days of 24 h: more than a month has
        raise ValueError(f"expected hours a month can hold, got {hours}")
    return hours


def _count(value: object) -> int:
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 9:
        value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT:
        return value
    raise ValueError(
        f"expected a whole number like 4, at most {_MAX_COUNT}, got {describe_value(value)}"
    )


def _networks(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(
            f"expected a list of IP addresses or networks, got {describe_value(value)}"
        )
    networks: list[str] = []
    for entry in value:
        try:
            networks.append(str(ipaddress.ip_network(str(entry).strip(), strict=False)))
        except ValueError:
            raise ValueError(
                f"expected a list of IP addresses or networks like 192.0.2.0/24, "
                f"got {describe_value(entry)} in it"
            ) from None
    return tuple(networks)


def _email(value: object) -> str:
    if not isinstance(value, str) or not is_email_address(value.strip()):
        raise ValueError(f"expected an e-mail address, got {describe_value(value)}")
    return value.strip().lower()


def _procedures(value: object, base: Path, reads: _Reads) -> str:
    """The text, or the text of the file it names (one line, relative to the contracts file),
    read through ``reads``."""
    text = _text(value).strip()
    if "\n" in text:
        return text
    path = (base / text).expanduser()
    try:
        if path.is_file():
            return reads.procedures(path)
    except (OSError, UnicodeDecodeError) as exc:
        # A long line of text is no file name (ENAMETOOLONG): it is the text itself.
        if not text.lower().endswith(_PROCEDURE_SUFFIXES):
            return text
        raise ValueError(f"cannot read {path}: {exc}") from None
    if text.lower().endswith(_PROCEDURE_SUFFIXES):
        raise ValueError(f"no such file: {path}")
    return text


def _procedures_in(value: object, info: ValidationInfo) -> str:
    base: Path = info.context["base"] if info.context else Path()
    reads: _Reads = info.context["reads"] if info.context else _Reads(Path.read_bytes)
    return _procedures(value, base, reads)


def _check(check: Callable[..., object]) -> PlainValidator:
    return PlainValidator(check)


class _Row(BaseModel):
    """One contract as the file writes it: each key checked by its function above, in this
    order (the first problem is the one reported); None is "not set"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, _check(_text)]
    customer: Annotated[str, _check(_text)]
    tier: Annotated[Tier, _check(_tier)]
    addresses: Annotated[tuple[str, ...], _check(_addresses)] = ()
    domains: Annotated[tuple[str, ...], _check(_domains)] = ()
    valid_from: Annotated[date, _check(_date)]
    valid_until: Annotated[date | None, _check(_date)] = None
    language: Annotated[str | None, _check(_language)] = None
    require_authentication: Annotated[bool | None, _check(_bool)] = None
    nip: Annotated[str | None, _check(_text)] = None
    monthly_fee: Annotated[Decimal | None, _check(_money)] = None
    package_hours: Annotated[Decimal | None, _check(_hours)] = None
    free_unjustified: Annotated[int | None, _check(_count)] = None
    hourly_rate: Annotated[Decimal | None, _check(_money)] = None
    ip_allowlist: Annotated[tuple[str, ...] | None, _check(_networks)] = None
    procedures: Annotated[str | None, _check(_procedures_in)] = None
    phone: Annotated[str | None, _check(_text)] = None
    billing_email: Annotated[str | None, _check(_email)] = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        fee = self.monthly_fee
        if fee is not None and self.tier is not Tier.VIP:
            raise ValueError(f"monthly_fee: only a VIP contract has a monthly fee, not {self.tier}")
        if fee is not None and fee < MIN_VIP_MONTHLY_FEE:
            raise ValueError(
                f"monthly_fee: a VIP fee is at least {MIN_VIP_MONTHLY_FEE} PLN net, got {fee}"
            )
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError(
                f"valid_until: {self.valid_until} is before valid_from {self.valid_from}"
            )
        return self


_KNOWN = frozenset(_Row.model_fields)


# --- changing one contract (mailbot contracts set / add-address) --------------------


def contract_fields(contract: Contract) -> dict[str, object]:
    """``contract`` as the TOML table that would give it (unset values left out)."""
    fields: dict[str, object] = {
        "id": contract.id,
        "customer": contract.customer,
        "tier": contract.tier.value,
        "addresses": sorted(contract.addresses),
        "domains": sorted(contract.domains),
        "valid_from": contract.valid_from,
        "valid_until": contract.valid_until,
        "language": contract.language,
        "require_authentication": contract.require_authentication,
        "nip": contract.nip,
        "monthly_fee": contract.monthly_fee,
        "package_hours": contract.package_hours,
        "free_unjustified": contract.free_unjustified,
        "hourly_rate": contract.hourly_rate,
        "ip_allowlist": list(contract.ip_allowlist),
        "procedures": contract.procedures,
        "phone": contract.phone,
        "billing_email": contract.billing_email,
    }
    return {name: value for name, value in fields.items() if value not in (None, "")}


def changed_contract(contract: Contract, key: str, text: str, *, base: Path) -> Contract:
    """``contract`` with ``key`` set from ``text``, read as a CSV cell is (lists separated
    by spaces, ISO dates; "" unsets it); ValueError("key: what is wrong") otherwise."""
    if key == "id" or key not in _KNOWN:
        settable = ", ".join(name for name in _Row.model_fields if name != "id")
        raise ValueError(f"{key}: cannot be set; expected one of {settable}")
    fields = _stored_fields(contract)
    fields.pop(key, None)
    fields.update(_from_csv({key: text}))
    changed = _contract(fields, base=base)
    return changed if key == "procedures" else replace(changed, procedures=contract.procedures)


def with_address(contract: Contract, value: str) -> Contract:
    """``contract`` with one more address (``a@b.pl``) or, without an @, domain."""
    key = "addresses" if "@" in value else "domains"
    fields = _stored_fields(contract)
    existing = contract.addresses if key == "addresses" else contract.domains
    fields[key] = [*sorted(existing), value.strip()]
    return replace(_contract(fields, base=Path()), procedures=contract.procedures)


def _stored_fields(contract: Contract) -> dict[str, object]:
    # The stored procedures are text already, never a file name to read again.
    fields = contract_fields(contract)
    fields.pop("procedures", None)
    return fields
