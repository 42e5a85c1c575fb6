"""An outbox claim names its owner (instance, process, token), so a restart takes back
the claims of its own dead processes at once instead of after the stale limit.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        # NULL for rows claimed before: no owner known, such a claim waits for the stale limit.
        batch_op.add_column(sa.Column("claimed_by", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("claimed_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("claimed_started", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("claim_token", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
        batch_op.drop_column("claimed_started")
        batch_op.drop_column("claimed_pid")
        batch_op.drop_column("claimed_by")
