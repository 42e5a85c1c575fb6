"""``web_submission.language`` (issue 18): the language of the form's page, which becomes
the ticket's (and the confirmation mail's) when the contract sets none; "pl" for the
submissions stored so far, the language they were all answered in.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 20:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("web_submission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(), nullable=False, server_default="pl"))


def downgrade() -> None:
    with op.batch_alter_table("web_submission", schema=None) as batch_op:
        batch_op.drop_column("language")
