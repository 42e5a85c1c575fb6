"""Indexes for a long history (issue 17): every query the daemon, the CLI and the web side
run reads by index, found by the query plans of ``bench/query_plans.py``. The ledger by
time (the mails taken in the last hour) and by outcome (/metrics); tickets by status and
tier (the staff board, /metrics; replaces the index on status alone), by unmet deadline
(the overdue count of /healthz and ``mailbot status``) and by the unjustified mark
(billing).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 18:05:17.142205
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_processed_at"), ["processed_at"], unique=False)

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_status"))
        batch_op.create_index(
            "ix_ticket_reaction_open", ["first_response_at", "reaction_due"], unique=False
        )
        batch_op.create_index(
            "ix_ticket_resolution_open",
            ["resolved_at", "paused_since", "resolution_due"],
            unique=False,
        )
        batch_op.create_index("ix_ticket_status_tier", ["status", "tier"], unique=False)
        batch_op.create_index(batch_op.f("ix_ticket_unjustified"), ["unjustified"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_unjustified"))
        batch_op.drop_index("ix_ticket_status_tier")
        batch_op.drop_index("ix_ticket_resolution_open")
        batch_op.drop_index("ix_ticket_reaction_open")
        batch_op.create_index(batch_op.f("ix_ticket_status"), ["status"], unique=False)

    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_processed_at"))
        batch_op.drop_index(batch_op.f("ix_ledger_outcome"))
