"""Which statements read a whole table? The query plan of every statement mailbot runs.

Runs the demo (``mailbot demo``: mail in, tickets, a staff answer, reminders, the report),
then the reads of the CLI (``tickets list``, ``tickets show``), of the staff board, the
status page, /metrics and /healthz, and the month's invoice, with a listener that keeps
each distinct SELECT, UPDATE and DELETE; then asks SQLite for the plan of each
(``EXPLAIN QUERY PLAN``) and prints those that scan a table instead of reading it by
index. A scan is fine on a table that stays small (contracts, the schema's version) or
for an aggregate over the whole history that nothing narrows; anything else wants an
index (issue 17: a desk with years of history).

    .venv/bin/python -m bench.query_plans
"""

from __future__ import annotations

import io
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from mailbot.adapters import db as repo
from mailbot.adapters.db import Session
from mailbot.core.billing import Month
from mailbot.core.web_tokens import status_token
from mailbot.demo import _run_pipeline
from mailbot.usecases.desk import Desk
from mailbot.usecases.health import take_snapshot
from mailbot.usecases.reports import billing_invoice
from mailbot.usecases.status_links import new_nonce
from mailbot.usecases.views import ticket_detail, ticket_summaries
from mailbot.usecases.web_metrics import desk_figures
from mailbot.usecases.web_staff import board, staff_ticket
from mailbot.usecases.web_status import status_page
from mailbot.web.app import create_app

_SCAN = re.compile(r"SCAN (\w+)")


@contextmanager
def collecting() -> Iterator[dict[str, Any]]:
    """Each distinct statement run in the block, with its first parameters."""
    statements: dict[str, Any] = {}

    def keep(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        text = re.sub(r"\s+", " ", statement).strip()
        schema = "sqlite_master" in text or "PRAGMA" in text  # SQLAlchemy looking at tables
        if text.upper().startswith(("SELECT", "UPDATE", "DELETE")) and not schema:
            statements.setdefault(text, params[0] if many else params)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", keep)


def exercise(desk: Desk) -> None:
    """The reads the demo does not do itself."""
    now = desk.clock()
    ticket_summaries(desk.settings, limit=20)
    ticket_summaries(desk.settings, limit=20, due_before=now)
    ticket_detail(desk.settings, "SOL-1", now=now)
    take_snapshot(desk.engine, now=now, tz=desk.tz)
    board(desk)
    staff_ticket(desk, "SOL-1")
    desk_figures(desk)
    with Session(desk.engine) as session:
        billing_invoice(desk.settings, Month(now.year, now.month), session=session)
        ticket = repo.ticket_by_number("SOL-1", session=session)
        assert ticket is not None
        ticket.link_nonce = ticket.link_nonce or new_nonce()
        session.add(ticket)
        session.commit()
        token = status_token(desk.token_key, number=ticket.number, nonce=ticket.link_nonce)
    assert status_page(desk, token) is not None
    web = TestClient(create_app(desk))
    for path in ("/", "/zgloszenie/warranty", "/staff/login"):
        web.get(path)


def scans(desk: Desk, statements: dict[str, Any]) -> list[tuple[list[str], str]]:
    """The statements whose plan reads a whole table, with those tables."""
    found = []
    with desk.engine.connect() as connection:
        for statement, params in statements.items():
            try:
                plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params or ())
            except sa.exc.DBAPIError:
                continue  # a statement of the migrations, on a table since changed
            tables = [
                match.group(1)
                for row in plan
                if (match := _SCAN.match(row[3])) and "INDEX" not in row[3]
            ]
            tables = [t for t in tables if t != "CONSTANT"]
            if tables:
                found.append((tables, statement))
    return found


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, collecting() as statements:
        desk = _run_pipeline(Path(folder), bind="127.0.0.1:8080", out=io.StringIO())
        try:
            exercise(desk)
            found = scans(desk, statements)
        finally:
            desk.engine.dispose()
    print(f"{len(statements)} statements, {len(found)} of them scan a table:")
    for tables, statement in found:
        print(f"- {', '.join(tables)}: {statement[:160]}{' ...' if len(statement) > 160 else ''}")


if __name__ == "__main__":
    main()
