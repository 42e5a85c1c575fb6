"""``attachment.pruned_at`` (issue 17): when ``mailbot db prune`` removed the attachment's
stored bytes; NULL for every attachment stored so far (their files are kept).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 18:09:22.999868
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pruned_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_column("pruned_at")
