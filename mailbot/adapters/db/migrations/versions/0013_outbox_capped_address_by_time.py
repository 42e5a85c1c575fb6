"""The per-sender cap's index (issue 17): ``outbox (capped_address, created_at)`` instead of
``capped_address`` alone. The cap counts an address's automatic mails of the last hour;
with the address alone, a planner that believed most mails went to one address (a SQLite
database someone ran ANALYZE on, say) scanned the outbox instead: 0.4 s a mail over a
long history (``python -m bench --history``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_capped_address"))
        batch_op.create_index(
            "ix_outbox_capped_address_created_at", ["capped_address", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_capped_address_created_at")
        batch_op.create_index(
            batch_op.f("ix_outbox_capped_address"), ["capped_address"], unique=False
        )
