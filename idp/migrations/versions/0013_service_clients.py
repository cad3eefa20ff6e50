"""service clients: grant types and the contract a client-credentials client acts on

Revision ID: 0013
Revises: 0007
Create Date: 2026-12-02 14:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "grant_types",
                sa.JSON(),
                nullable=False,
                server_default=sa.text('\'["authorization_code", "refresh_token"]\''),
            )
        )
        batch_op.add_column(sa.Column("contract_id", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_clients_contract_id"), ["contract_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_clients_contract_id_contracts",
            "contracts",
            ["contract_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint("fk_clients_contract_id_contracts", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_clients_contract_id"))
        batch_op.drop_column("contract_id")
        batch_op.drop_column("grant_types")
