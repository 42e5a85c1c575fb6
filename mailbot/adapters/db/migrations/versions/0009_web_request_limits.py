"""The web side's request limits in the database (issue 15): ``web_request`` holds the
lost-link and staff sign-in requests, counted in each web process's memory before, so
that a restart forgot them and two web processes counted apart.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 17:26:11.078579
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("client", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("web_request", schema=None) as batch_op:
        batch_op.create_index("ix_web_request_kind_at", ["kind", "at"], unique=False)
        batch_op.create_index(
            "ix_web_request_kind_client_at", ["kind", "client", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("web_request", schema=None) as batch_op:
        batch_op.drop_index("ix_web_request_kind_client_at")
        batch_op.drop_index("ix_web_request_kind_at")

    op.drop_table("web_request")
