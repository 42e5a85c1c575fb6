"""The desk's own secret keys (signed Message-IDs) and the contract an unverified ticket names.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "secret",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        # Tickets from before were never waiting for a confirmation.
        batch_op.add_column(sa.Column("unverified_contract_id", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("unverified_contract_id")
    op.drop_table("secret")
