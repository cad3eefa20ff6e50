"""user disabled: an administrator disables an account (G4)

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_users_contract_disabled",
            ["contract_id"],
            postgresql_where=sa.text("disabled_at IS NOT NULL"),
            sqlite_where=sa.text("disabled_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_contract_disabled")
        batch_op.drop_column("disabled_at")
