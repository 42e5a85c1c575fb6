"""Write the next revision: ``python -m mailbot.adapters.db.migrations.new "add x to ticket"``.

Autogenerate compares the models (mailbot/adapters/db/tables.py) with a scratch
SQLite database at head and writes ``versions/NNNN_add_x_to_ticket.py``. Read
it before committing: give new NOT NULL columns a ``server_default`` so rows
already stored upgrade, and check renames (autogenerate sees a drop and an add).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from mailbot.adapters.db.schema import _migration_connection, alembic_config, head_revision


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        print(
            'usage: python -m mailbot.adapters.db.migrations.new "what the revision does"',
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="mailbot-revision-") as scratch:
        engine = sa.create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            with _migration_connection(engine) as connection:
                config = alembic_config(connection)
                command.upgrade(config, "head")
                revision = f"{int(head_revision()) + 1:04d}"
                command.revision(config, argv[0], autogenerate=True, rev_id=revision)
        finally:
            engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
