"""The web side (issue 15): submissions from the forms, staff sessions, used one-time
nonces, and the nonce a ticket's status links are bound to (NULL for tickets from before:
they get one with their first link).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:49:53.766974
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_session",
        sa.Column("id_hash", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    op.create_table(
        "used_nonce",
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_table(
        "web_submission",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(), nullable=False),
        sa.Column("form", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("express", sa.Boolean(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("ticket_number", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("web_submission", schema=None) as batch_op:
        batch_op.create_index("ix_web_submission_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_web_submission_ip_created_at", ["ip", "created_at"], unique=False)

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_nonce", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("link_nonce")

    with op.batch_alter_table("web_submission", schema=None) as batch_op:
        batch_op.drop_index("ix_web_submission_ip_created_at")
        batch_op.drop_index("ix_web_submission_created_at")

    op.drop_table("web_submission")
    op.drop_table("used_nonce")
    op.drop_table("staff_session")
