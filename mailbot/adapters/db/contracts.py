"""Contracts and their customers and addresses: read as core values, imported by id.

Every function takes the session as a keyword argument and never commits:
the use case that calls it owns the transaction.
"""

from __future__ import annotations

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
)
from mailbot.core.contracts import Contract, ContractIndex
from mailbot.core.tiers import Tier

# Where a session keeps the contracts it loaded (``Session.info``).
_CONTRACTS = "mailbot.contracts"

# The contracts' version: a counter row given a new random value by every import that
# changes a contract, so that every process (and every instance of mailbot on one
# PostgreSQL) sees the change at its next read. Random, not counted up: a database made
# again from nothing can never hand back a version an old index was read at.
VERSION = "contracts"

# Per engine (one per database a process opens), the index of every contract and the
# version it was read at. Weak: an engine disposed of takes its index with it.
_indexes: WeakKeyDictionary[Any, tuple[int | None, ContractIndex]] = WeakKeyDictionary()
_indexes_lock = threading.Lock()


def contract_index(*, session: Session) -> ContractIndex:
    """Every contract, indexed by address and domain; read from the database again only
    when the version says they changed (one small query otherwise)."""
    version = session.get(CounterRow, VERSION)
    current = version.value if version is not None else None
    engine = session.get_bind()
    with _indexes_lock:
        known = _indexes.get(engine)
    if known is not None and known[0] == current:
        return known[1]
    index = ContractIndex.of(load_contracts(session=session))
    with _indexes_lock:
        _indexes[engine] = (current, index)
    return index


def load_contracts(*, session: Session) -> list[Contract]:
    """Every contract, read once per session: a batch of mails matches them all against
    one reading (they change only by ``import_contracts``, which forgets the reading)."""
    cached: list[Contract] | None = session.info.get(_CONTRACTS)
    if cached is None:
        rows = session.exec(select(ContractRow, CustomerRow).join(CustomerRow)).all()
        # Grouped in one pass: filtering every address row for every contract was
        # quadratic (4.8 s for 2,000 contracts, on each status page of a VIP ticket).
        own: dict[str, list[ContractAddressRow]] = defaultdict(list)
        for address in session.exec(select(ContractAddressRow)).all():
            own[address.contract_id].append(address)
        cached = [_contract(row, customer.name, own[row.id]) for row, customer in rows]
        session.info[_CONTRACTS] = cached
    return list(cached)


def _contract(row: ContractRow, customer: str, own: Sequence[ContractAddressRow]) -> Contract:
    """The contract of ``row``, whose addresses and domains are ``own``."""
    return Contract(
        id=row.id,
        customer=customer,
        tier=Tier(row.tier),
        addresses=frozenset(a.value for a in own if not a.is_domain),
        domains=frozenset(a.value for a in own if a.is_domain),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        language=row.language,
        nip=row.nip,
        monthly_fee=Decimal(row.monthly_fee) if row.monthly_fee else None,
        package_hours=Decimal(row.package_hours),
        free_unjustified=row.free_unjustified,
        hourly_rate=Decimal(row.hourly_rate) if row.hourly_rate else None,
        ip_allowlist=tuple(row.ip_allowlist.split()),
        procedures=row.procedures,
        phone=row.phone,
        billing_email=row.billing_email,
        require_authentication=row.require_authentication,
    )


@dataclass(frozen=True)
class ImportReport:
    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]


def import_contracts(contracts: Iterable[Contract], *, session: Session) -> ImportReport:
    """Insert or update contracts by id; the same input twice changes nothing."""
    current = {c.id: c for c in load_contracts(session=session)}
    session.info.pop(_CONTRACTS, None)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    for contract in contracts:
        before = current.get(contract.id)
        if before == contract:
            unchanged.append(contract.id)
            continue
        _write_contract(contract, session=session)
        (updated if before else added).append(contract.id)
    if added or updated:
        _new_version(session=session)
    return ImportReport(tuple(added), tuple(updated), tuple(unchanged))


def _new_version(*, session: Session) -> None:
    row = session.get(CounterRow, VERSION) or CounterRow(name=VERSION)
    row.value = secrets.randbits(31)  # the column is a 32-bit integer on PostgreSQL
    session.add(row)
    session.flush()


def _customer_id(name: str, *, session: Session) -> int:
    customer = session.exec(select(CustomerRow).where(CustomerRow.name == name)).first()
    if customer is None:
        customer = CustomerRow(name=name)
        session.add(customer)
        session.flush()
    assert customer.id is not None
    return customer.id


def _write_contract(contract: Contract, *, session: Session) -> None:
    row = session.get(ContractRow, contract.id) or ContractRow(
        id=contract.id, customer_id=0, tier="", valid_from=contract.valid_from
    )
    row.customer_id = _customer_id(contract.customer, session=session)
    row.tier = contract.tier.value
    row.valid_from = contract.valid_from
    row.valid_until = contract.valid_until
    row.language = contract.language
    row.require_authentication = contract.require_authentication
    _write_billing(row, contract)
    session.add(row)
    session.flush()
    session.execute(
        sa.delete(ContractAddressRow).where(col(ContractAddressRow.contract_id) == contract.id)
    )
    for value in sorted(contract.addresses):
        session.add(ContractAddressRow(contract_id=contract.id, value=value, is_domain=False))
    for value in sorted(contract.domains):
        session.add(ContractAddressRow(contract_id=contract.id, value=value, is_domain=True))
    session.flush()


def _write_billing(row: ContractRow, contract: Contract) -> None:
    def text(amount: Decimal | None) -> str:
        return "" if amount is None else str(amount)

    row.nip = contract.nip
    row.monthly_fee = text(contract.monthly_fee)
    row.package_hours = text(contract.package_hours)
    row.free_unjustified = contract.free_unjustified
    row.hourly_rate = text(contract.hourly_rate)
    row.ip_allowlist = " ".join(contract.ip_allowlist)
    row.procedures = contract.procedures
    row.phone = contract.phone
    row.billing_email = contract.billing_email


def contract_by_id(contract_id: str | None, *, session: Session) -> Contract | None:
    """The contract ``contract_id`` names (None for none): from the session's reading of
    them all when it has one, else read alone."""
    if contract_id is None:
        return None
    cached: list[Contract] | None = session.info.get(_CONTRACTS)
    if cached is not None:
        return next((c for c in cached if c.id == contract_id), None)
    found = session.exec(
        select(ContractRow, CustomerRow).join(CustomerRow).where(ContractRow.id == contract_id)
    ).first()
    if found is None:
        return None
    row, customer = found
    own = session.exec(
        select(ContractAddressRow).where(ContractAddressRow.contract_id == contract_id)
    ).all()
    return _contract(row, customer.name, own)


def contract_customer_id(contract_id: str, *, session: Session) -> int | None:
    row = session.get(ContractRow, contract_id)
    return row.customer_id if row else None


def contract_tier(contract_id: str, *, session: Session) -> str:
    """The tier contract ``contract_id`` gives ("" when there is no such contract)."""
    row = session.get(ContractRow, contract_id)
    return row.tier if row is not None else ""


def contract_customer(contract_id: str | None, *, session: Session) -> str:
    if contract_id is None:
        return ""
    row = session.exec(
        select(CustomerRow.name).join(ContractRow).where(ContractRow.id == contract_id)
    ).first()
    return row or ""
