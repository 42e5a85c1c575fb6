"""Contracts read from the database: all at once, one by its id, or indexed and kept."""

from __future__ import annotations

import dataclasses

from mailbot.adapters.db import (
    Session,
    contract_by_id,
    contract_index,
    import_contracts,
    load_contracts,
    make_engine,
)
from tests import factories

VIP = dataclasses.replace(factories.VIP, domains=("acme.pl",), ip_allowlist=("203.0.113.0/24",))


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


def test_the_index_is_read_again_only_when_the_contracts_changed(database_url: str) -> None:
    daemon, other = make_engine(database_url), make_engine(database_url)  # two processes
    try:
        with Session(daemon) as session:
            import_contracts([VIP], session=session)
            session.commit()
        with Session(daemon) as session:
            first = contract_index(session=session)
        with Session(daemon) as session:
            assert contract_index(session=session) is first  # nothing changed: kept
        assert first.contracts == (VIP,) and first.by_domain["acme.pl"] == (VIP,)
        with Session(other) as session:  # an import elsewhere (a command, another instance)
            moved = dataclasses.replace(VIP, domains=("acme.com.pl",))
            import_contracts([moved, factories.WARRANTY], session=session)
            session.commit()
        with Session(daemon) as session:
            again = contract_index(session=session)
        assert again is not first and "acme.pl" not in again.by_domain
        assert again.by_domain["acme.com.pl"] == (moved,)
        with Session(other) as session:  # the same contracts again change nothing
            import_contracts([moved, factories.WARRANTY], session=session)
            session.commit()
        with Session(daemon) as session:
            assert contract_index(session=session) is again
    finally:
        daemon.dispose()
        other.dispose()
