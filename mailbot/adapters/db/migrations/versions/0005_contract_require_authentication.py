"""A contract may require an authenticated sender for its tier (issue 5).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 11:49:39.029412
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        # NULL, the contract does not say: its tier's default applies, as it did before.
        batch_op.add_column(sa.Column("require_authentication", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_column("require_authentication")
