"""Contracts read from the database: all at once, or one by its id."""

from __future__ import annotations

import dataclasses

from mailbot.adapters.db import (
    Session,
    contract_by_id,
    import_contracts,
    load_contracts,
    make_engine,
)
from tests import factories

VIP = dataclasses.replace(
    factories.VIP, domains=frozenset({"acme.pl"}), ip_allowlist=("203.0.113.0/24",)
)


def test_one_contract_is_read_alone_or_from_the_sessions_reading(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            import_contracts([VIP, factories.WARRANTY], session=session)
            session.commit()
        with Session(engine) as session:  # nothing read yet: the one contract alone
            assert contract_by_id(VIP.id, session=session) == VIP
            assert contract_by_id(factories.WARRANTY.id, session=session) == factories.WARRANTY
            assert contract_by_id("nobody", session=session) is None
            assert contract_by_id(None, session=session) is None
        with Session(engine) as session:  # after reading them all, from that reading
            assert sorted(load_contracts(session=session), key=lambda c: c.id) == [
                VIP,
                factories.WARRANTY,
            ]
            assert contract_by_id(factories.WARRANTY.id, session=session) == factories.WARRANTY
    finally:
        engine.dispose()
