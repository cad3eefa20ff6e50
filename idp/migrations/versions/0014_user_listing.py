"""user listing: the searchable name and the admin list's keyset indexes (G2, X9)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 14:40:00.000000
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name_key", sa.String(length=200), nullable=False, server_default="")
        )
    users = sa.table("users", sa.column("id", sa.String), sa.column("name", sa.String))
    keyed = sa.table("users", sa.column("id", sa.String), sa.column("name_key", sa.String))
    bind = op.get_bind()
    for user_id, name in bind.execute(sa.select(users.c.id, users.c.name)).all():
        key = unicodedata.normalize("NFKC", name or "").casefold()
        bind.execute(sa.update(keyed).where(keyed.c.id == user_id).values(name_key=key))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_contract_email", ["contract_id", "email_key"])
        batch_op.create_index("ix_users_contract_name", ["contract_id", "name_key", "id"])
        batch_op.create_index("ix_users_contract_created", ["contract_id", "created_at", "id"])
        batch_op.create_index("ix_users_contract_role", ["contract_id", "role"])
        batch_op.create_index(
            "ix_users_contract_locked",
            ["contract_id"],
            postgresql_where=sa.text("locked_at IS NOT NULL"),
            sqlite_where=sa.text("locked_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_contract_locked")
        batch_op.drop_index("ix_users_contract_role")
        batch_op.drop_index("ix_users_contract_created")
        batch_op.drop_index("ix_users_contract_name")
        batch_op.drop_index("ix_users_contract_email")
        batch_op.drop_column("name_key")
