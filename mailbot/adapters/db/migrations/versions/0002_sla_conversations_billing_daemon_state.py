"""Everything since the walking skeleton: SLA, conversations, billing, daemon state.

New NOT NULL columns get a server default, so rows stored by the skeleton
upgrade: marks false, amounts and texts empty (the contract's package and
free unjustified tickets as the models default them), and the author of a
mail from its direction. UIDVALIDITY and UIDs become 64-bit (RFC 3501).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:01:39.521333
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "daemon_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("escalation", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("planned_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "key"),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "sla_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sla_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sla_event_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "time_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by", sa.String(), nullable=False),
        sa.Column("note", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["ticket.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_time_entry_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_time_entry_ticket_id"), ["ticket_id"], unique=False)

    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.add_column(sa.Column("nip", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("monthly_fee", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("package_hours", sa.String(), nullable=False, server_default="2")
        )
        batch_op.add_column(
            sa.Column("free_unjustified", sa.Integer(), nullable=False, server_default="4")
        )
        batch_op.add_column(
            sa.Column("hourly_rate", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("ip_allowlist", sa.String(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("procedures", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("phone", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("billing_email", sa.String(), nullable=False, server_default="")
        )

    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.alter_column(
            "uidvalidity",
            existing_type=sa.INTEGER(),
            type_=sa.BigInteger(),
            existing_nullable=False,
        )

    with op.batch_alter_table("mailbox_state", schema=None) as batch_op:
        batch_op.alter_column(
            "uidvalidity",
            existing_type=sa.INTEGER(),
            type_=sa.BigInteger(),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "last_uid", existing_type=sa.INTEGER(), type_=sa.BigInteger(), existing_nullable=False
        )

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("internal", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    # The skeleton stored only customers' mails and its own acknowledgements.
    op.execute(
        "UPDATE message SET author = CASE direction WHEN 'in' THEN 'customer' ELSE 'mailbot' END"
    )

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("paused_since", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("paused_seconds", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("assignee", sa.String(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("follows", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("next_alert_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("express", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("unjustified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("warranty", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_ticket_next_alert_at"), ["next_alert_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_next_alert_at"))
        batch_op.drop_column("warranty")
        batch_op.drop_column("unjustified")
        batch_op.drop_column("express")
        batch_op.drop_column("next_alert_at")
        batch_op.drop_column("follows")
        batch_op.drop_column("assignee")
        batch_op.drop_column("paused_seconds")
        batch_op.drop_column("paused_since")
        batch_op.drop_column("resolved_at")

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("internal")
        batch_op.drop_column("author")

    with op.batch_alter_table("mailbox_state", schema=None) as batch_op:
        batch_op.alter_column(
            "last_uid", existing_type=sa.BigInteger(), type_=sa.INTEGER(), existing_nullable=False
        )
        batch_op.alter_column(
            "uidvalidity",
            existing_type=sa.BigInteger(),
            type_=sa.INTEGER(),
            existing_nullable=False,
        )

    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.alter_column(
            "uidvalidity",
            existing_type=sa.BigInteger(),
            type_=sa.INTEGER(),
            existing_nullable=False,
        )

    with op.batch_alter_table("contract", schema=None) as batch_op:
        batch_op.drop_column("billing_email")
        batch_op.drop_column("phone")
        batch_op.drop_column("procedures")
        batch_op.drop_column("ip_allowlist")
        batch_op.drop_column("hourly_rate")
        batch_op.drop_column("free_unjustified")
        batch_op.drop_column("package_hours")
        batch_op.drop_column("monthly_fee")
        batch_op.drop_column("nip")

    with op.batch_alter_table("time_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_time_entry_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_time_entry_at"))

    op.drop_table("time_entry")
    with op.batch_alter_table("sla_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_event_ticket_id"))

    op.drop_table("sla_event")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_ticket_id"))

    op.drop_table("alert")
    op.drop_table("daemon_state")
