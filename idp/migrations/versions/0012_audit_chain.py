"""tamper-evident audit log (X8) and the columns and indexes of the contract's log (G6)

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-02 14:30:00

Existing events keep ``actor`` NULL (it stays in ``details``) and start unsealed: the first
seal (the next event, or ``idp audit seal``) chains them in id order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_audit_events_contract_at", ["contract_id", "at"])
        batch.create_index("ix_audit_events_contract_user_at", ["contract_id", "user_id", "at"])
        batch.create_index("ix_audit_events_contract_event_at", ["contract_id", "event", "at"])
        batch.create_index("uq_audit_events_chain_seq", ["contract_id", "seq"], unique=True)
        batch.create_index(
            "ix_audit_events_unsealed",
            ["contract_id", "id"],
            sqlite_where=sa.text("seq IS NULL"),
            postgresql_where=sa.text("seq IS NULL"),
        )
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_seq", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("chain"),
    )


def downgrade() -> None:
    op.drop_table("audit_chain_heads")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_unsealed")
        batch.drop_index("uq_audit_events_chain_seq")
        batch.drop_index("ix_audit_events_contract_event_at")
        batch.drop_index("ix_audit_events_contract_user_at")
        batch.drop_index("ix_audit_events_contract_at")
        batch.drop_column("hash")
        batch.drop_column("seq")
        batch.drop_column("actor")
