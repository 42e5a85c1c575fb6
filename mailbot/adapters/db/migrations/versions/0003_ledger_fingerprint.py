"""The ledger remembers each mail's content fingerprint (mailbot.core.fingerprint).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:53:49.661203
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        # Rows from before have no fingerprint: "" (they match any content).
        batch_op.add_column(
            sa.Column("fingerprint", sa.String(), nullable=False, server_default="")
        )
        batch_op.create_index(batch_op.f("ix_ledger_fingerprint"), ["fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_fingerprint"))
        batch_op.drop_column("fingerprint")
