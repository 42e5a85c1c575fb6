"""The outbox names the one recipient of each automatic mail, indexed, for the per-sender cap.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:56:46.800793
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        # Rows from before count for no one: the cap starts afresh for an hour.
        batch_op.add_column(
            sa.Column("capped_address", sa.String(), nullable=False, server_default="")
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_capped_address"), ["capped_address"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_capped_address"))
        batch_op.drop_column("capped_address")
