"""No statement mailbot runs reads a whole table that grows with the history (issue 17):
the query plans of ``bench.query_plans`` over the demo and the CLI's, the staff board's,
the status page's, /metrics' and /healthz's reads, on SQLite."""

from __future__ import annotations

import io
from pathlib import Path

from bench.query_plans import collecting, exercise, scans
from mailbot.demo import _run_pipeline

# Tables that stay small: contracts are read whole on purpose (one index, kept).
SMALL = {"contract", "contract_address", "alembic_version"}


def allowed(tables: list[str], statement: str) -> bool:
    if set(tables) <= SMALL:
        return True
    # Migration 0002 fills a new column once; /metrics' first-response histogram sums the
    # whole history by nature.
    return statement.startswith("UPDATE message SET author") or (
        tables == ["ticket"] and "julianday(ticket.first_response_at)" in statement
    )


def test_no_statement_scans_a_growing_table(tmp_path: Path) -> None:
    with collecting() as statements:
        desk = _run_pipeline(tmp_path / "demo", bind="127.0.0.1:8080", out=io.StringIO())
        try:
            exercise(desk)
            found = scans(desk, statements)
        finally:
            desk.engine.dispose()
    assert len(statements) > 50  # the listener saw the desk at work
    assert [(t, s) for t, s in found if not allowed(t, s)] == []
