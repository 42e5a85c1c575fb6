"""Contracts and their customers and addresses: read as core values, imported by id.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mailbot.adapters.db.tables import (
    ContractAddressRow,
    ContractRow,
    CounterRow,
    CustomerRow,
    SecretRow,
)
from mailbot.core.contracts import Contract, ContractIndex
from mailbot.core.tiers import Tier

# Where a session keeps the contracts it loaded (``Session.info``).
_CONTRACTS = "mailbot.contracts"
# Where a session keeps the index ``contract_index`` gave it: the version is read once per
# session (a batch of mails), not once per mail (a round trip each on PostgreSQL).
_INDEX = "mailbot.contract_index"
# Where a session keeps the customer ids of contracts it asked for (``Session.info``).
_CUSTOMER_IDS = "mailbot.contract_customers"

# The contracts' version: a counter row given a new random value by every import that
# changes a contract, so that every process (and every instance of mailbot on one
# PostgreSQL) sees the change at its next read. Random, not counted up: a database made
# again from nothing can never hand back a version an old index was read at.
VERSION = "contracts"


@dataclass(frozen=True)
class _Known:
    """The contracts as read at ``version``: indexed for matching, and by id."""

    version: int | None
    index: ContractIndex
    by_id: dict[str, Contract]


# Per engine (one per database a process opens), the index of every contract and the
# version it was read at. Weak: an engine disposed of takes its index with it.
_indexes: WeakKeyDictionary[Any, _Known] = WeakKeyDictionary()
_indexes_lock = threading.Lock()


def contract_index(*, session: Session) -> ContractIndex:
    """Every contract, indexed by address and domain; read from the database again only
    when the version says they changed (one small query a session otherwise)."""
    return _known(session).index


def _known(session: Session) -> _Known:
    """The contracts at the version this session reads, from the process's cache when
    that version is the one it holds."""
    seen: _Known | None = session.info.get(_INDEX)
    if seen is not None:
        return seen
    version = session.get(CounterRow, VERSION)
    current = version.value if version is not None else None
    engine = session.get_bind()
    with _indexes_lock:
        known = _indexes.get(engine)
    if known is None or known.version != current:
        index = ContractIndex.of(load_contracts(session=session))
        known = _Known(current, index, {c.id: c for c in index.contracts})
        with _indexes_lock:
            _indexes[engine] = known
    session.info[_INDEX] = known
    return known


def load_contracts(*, session: Session) -> list[Contract]:
    """Every contract, read once per session: a batch of mails matches them all against
    one reading (they change only by ``import_contracts``, which forgets the reading)."""
    cached: list[Contract] | None = session.info.get(_CONTRACTS)
    if cached is None:
        cached = session.info[_CONTRACTS] = _read(session=session)
    return list(cached)


def _read(*, session: Session, only: str | None = None) -> list[Contract]:
    """The contracts (or the one ``only`` names) as two plain queries: rows as tuples, not
    ORM objects (three times faster for 20,000 contracts), the addresses grouped in one
    pass (filtering every address row for every contract was quadratic)."""
    contract, customer = ContractRow.__table__, CustomerRow.__table__  # type: ignore[attr-defined]
    address = ContractAddressRow.__table__  # type: ignore[attr-defined]
    contracts = sa.select(contract, customer.c.name.label("customer_name")).join(
        customer, customer.c.id == contract.c.customer_id
    )
    addresses = sa.select(address.c.contract_id, address.c.value, address.c.is_domain)
    if only is not None:
        contracts = contracts.where(contract.c.id == only)
        addresses = addresses.where(address.c.contract_id == only)
    session.flush()  # what this session wrote is read too
    connection = session.connection()
    own: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for contract_id, value, is_domain in connection.execute(addresses):
        own[contract_id].append((value, is_domain))
    shared = _Shared()
    return [_contract(row, own.pop(row.id, ()), shared) for row in connection.execute(contracts)]


class _Shared(dict[object, Any]):
    """One object for equal values of the columns many contracts share (dates, amounts,
    languages, procedures): the daemon keeps every contract, and a Decimal and a date
    each were about 3 MB of 20,000 contracts. Keyed by the column and its stored value."""

    def __call__(self, column: str, value: Any, make: Any = None) -> Any:
        key = (column, value)
        if key not in self:
            self[key] = make(value) if make is not None else value
        return self[key]


def _contract(row: sa.Row[Any], own: Sequence[tuple[str, bool]], shared: _Shared) -> Contract:
    """The contract of ``row`` (a contract with its customer's name), whose addresses and
    domains are ``own``."""
    return Contract(
        id=row.id,
        customer=shared("customer", row.customer_name),
        tier=Tier(row.tier),
        addresses=tuple(value for value, is_domain in own if not is_domain),
        domains=tuple(value for value, is_domain in own if is_domain),
        valid_from=shared("valid_from", row.valid_from),
        valid_until=shared("valid_until", row.valid_until),
        language=shared("language", row.language),
        nip=row.nip,
        monthly_fee=shared("monthly_fee", row.monthly_fee, _amount),
        package_hours=shared("package_hours", row.package_hours, Decimal),
        free_unjustified=row.free_unjustified,
        hourly_rate=shared("hourly_rate", row.hourly_rate, _amount),
        ip_allowlist=shared("ip_allowlist", row.ip_allowlist, lambda text: tuple(text.split())),
        procedures=shared("procedures", row.procedures),
        phone=row.phone,
        billing_email=row.billing_email,
        require_authentication=row.require_authentication,
    )


def _amount(text: str) -> Decimal | None:
    return Decimal(text) if text else None


@dataclass(frozen=True)
class ImportReport:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]


def import_contracts(contracts: Iterable[Contract], *, session: Session) -> ImportReport:
    """Insert or update contracts by id; the same input twice changes nothing. The changed
    ones are written in a few bulk statements (20,000 contracts, one statement each, took
    27 s)."""
    current = {c.id: c for c in load_contracts(session=session)}
    session.info.pop(_CONTRACTS, None)
    session.info.pop(_INDEX, None)
    session.info.pop(_CUSTOMER_IDS, None)
    added: list[Contract] = []
    updated: list[Contract] = []
    unchanged: list[str] = []
    for contract in contracts:
        before = current.get(contract.id)
        if before == contract:
            unchanged.append(contract.id)
        else:
            (updated if before else added).append(contract)
    if added or updated:
        _write(added, updated, session=session)
        _new_version(session=session)
    return ImportReport(tuple(c.id for c in added), tuple(c.id for c in updated), tuple(unchanged))


# Ids in one IN (...) list: well under SQLite's and PostgreSQL's limits on parameters.
_CHUNK = 500


# Contracts written a statement: the rows of all 20,000 at once (a dict each, and one per
# address) were about 30 MB more at the daemon's peak, for no faster an import.
_WRITE_CHUNK = 1_000


def _write(added: Sequence[Contract], updated: Sequence[Contract], *, session: Session) -> None:
    """Write the contract rows of ``added`` and ``updated`` and all their addresses."""
    customers = _customer_ids({c.customer for c in (*added, *updated)}, session=session)
    for start in range(0, max(len(added), len(updated)), _WRITE_CHUNK):
        _write_chunk(
            added[start : start + _WRITE_CHUNK],
            updated[start : start + _WRITE_CHUNK],
            customers,
            session=session,
        )


def _write_chunk(
    added: Sequence[Contract],
    updated: Sequence[Contract],
    customers: dict[str, int],
    *,
    session: Session,
) -> None:
    contract = ContractRow.__table__  # type: ignore[attr-defined]
    address = ContractAddressRow.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    if added:
        connection.execute(sa.insert(contract), [_values(c, customers) for c in added])
    if updated:
        connection.execute(
            sa.update(contract).where(contract.c.id == sa.bindparam("key")),
            [{"key": c.id, **_values(c, customers)} for c in updated],
        )
        for start in range(0, len(updated), _CHUNK):
            ids = [c.id for c in updated[start : start + _CHUNK]]
            connection.execute(sa.delete(address).where(address.c.contract_id.in_(ids)))
    rows = [
        {"contract_id": c.id, "value": value, "is_domain": is_domain}
        for c in (*added, *updated)
        for is_domain, values in ((False, c.addresses), (True, c.domains))
        for value in values  # sorted already (Contract)
    ]
    if rows:
        connection.execute(sa.insert(address), rows)


def _customer_ids(names: set[str], *, session: Session) -> dict[str, int]:
    """The ids of the customers ``names``, those not there yet inserted."""
    customer = CustomerRow.__table__  # type: ignore[attr-defined]
    connection = session.connection()

    def known() -> dict[str, int]:
        found: dict[str, int] = {}
        ordered = sorted(names)
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            query = sa.select(customer.c.name, customer.c.id).where(customer.c.name.in_(chunk))
            found.update({name: id_ for name, id_ in connection.execute(query)})
        return found

    ids = known()
    missing = sorted(names - ids.keys())
    if missing:
        connection.execute(sa.insert(customer), [{"name": name} for name in missing])
        ids = known()
    return ids


def _values(contract: Contract, customers: dict[str, int]) -> dict[str, Any]:
    """The contract row's columns for ``contract``; amounts as decimal text ("" for none)."""

    def text(amount: Decimal | None) -> str:
        return "" if amount is None else str(amount)

    return {
        "id": contract.id,
        "customer_id": customers[contract.customer],
        "tier": contract.tier.value,
        "valid_from": contract.valid_from,
        "valid_until": contract.valid_until,
        "language": contract.language,
        "require_authentication": contract.require_authentication,
        "nip": contract.nip,
        "monthly_fee": text(contract.monthly_fee),
        "package_hours": text(contract.package_hours),
        "free_unjustified": contract.free_unjustified,
        "hourly_rate": text(contract.hourly_rate),
        "ip_allowlist": " ".join(contract.ip_allowlist),
        "procedures": contract.procedures,
        "phone": contract.phone,
        "billing_email": contract.billing_email,
    }


# The ``secret`` row that records the contracts file last imported (not a secret: the
# desk's own state, kept where the other such rows are, shared by every instance).
IMPORTED_FILE = "contracts_file"


@dataclass(frozen=True)
class ImportedFile:
    """The contracts file as last imported: its digest (``contracts_file.file_digest``), the
    ``procedures`` files it named, and the contracts version that import left."""

    digest: str
    files: tuple[str, ...]
    version: int | None


def imported_file(*, session: Session) -> ImportedFile | None:
    """The record of the last import of the contracts file; None if none, or if the
    contracts changed since by any other way (another version: it is stale)."""
    row = session.get(SecretRow, IMPORTED_FILE)
    if row is None:
        return None
    try:
        data = json.loads(row.value)
        found = ImportedFile(str(data["digest"]), tuple(map(str, data["files"])), data["version"])
    except (ValueError, KeyError, TypeError):
        return None
    current = session.get(CounterRow, VERSION)
    return found if found.version == (current.value if current else None) else None


def record_imported_file(digest: str, files: Sequence[str], *, session: Session) -> None:
    """Record the import just made (in its transaction), with the version it left."""
    session.flush()
    current = session.get(CounterRow, VERSION)
    value = {"digest": digest, "files": list(files),
             "version": current.value if current else None}  # fmt: skip
    row = session.get(SecretRow, IMPORTED_FILE) or SecretRow(name=IMPORTED_FILE, value="")
    row.value = json.dumps(value)
    session.add(row)


def _new_version(*, session: Session) -> None:
    row = session.get(CounterRow, VERSION) or CounterRow(name=VERSION)
    row.value = secrets.randbits(31)  # the column is a 32-bit integer on PostgreSQL
    session.add(row)
    session.flush()


def contract_by_id(contract_id: str | None, *, session: Session) -> Contract | None:
    """The contract ``contract_id`` names (None for none): from the session's index or
    reading of them all when it has one, else read alone."""
    if contract_id is None:
        return None
    seen: _Known | None = session.info.get(_INDEX)
    if seen is not None:
        return seen.by_id.get(contract_id)
    cached: list[Contract] | None = session.info.get(_CONTRACTS)
    if cached is not None:
        return next((c for c in cached if c.id == contract_id), None)
    found = _read(session=session, only=contract_id)
    return found[0] if found else None


def contract_customer_id(contract_id: str, *, session: Session) -> int | None:
    """The id of the customer of contract ``contract_id``; asked once per contract and
    session (every new ticket of a batch asks, and the session forgets unused rows)."""
    known: dict[str, int | None] = session.info.setdefault(_CUSTOMER_IDS, {})
    if contract_id not in known:
        row = session.get(ContractRow, contract_id)
        known[contract_id] = row.customer_id if row else None
    return known[contract_id]


def contract_tier(contract_id: str, *, session: Session) -> str:
    """The tier contract ``contract_id`` gives ("" when there is no such contract)."""
    row = session.get(ContractRow, contract_id)
    return row.tier if row is not None else ""


def contract_customer(contract_id: str | None, *, session: Session) -> str:
    if contract_id is None:
        return ""
    return contract_customers({contract_id}, session=session).get(contract_id, "")


def contract_customers(contract_ids: Iterable[str | None], *, session: Session) -> dict[str, str]:
    """The customer of each of ``contract_ids`` that names a contract, in one statement (a
    list of tickets asked once per ticket: 100 round trips to PostgreSQL)."""
    wanted = sorted({i for i in contract_ids if i})
    found: dict[str, str] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = session.exec(
            select(ContractRow.id, CustomerRow.name)
            .join(CustomerRow)
            .where(col(ContractRow.id).in_(wanted[start : start + _CHUNK]))
        )
        found.update({contract_id: name for contract_id, name in rows})
    return found
