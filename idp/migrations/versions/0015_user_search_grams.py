"""user search bigrams (G2, X9)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 14:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from idp.search_grams import user_grams

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_search_grams",
        sa.Column("contract_id", sa.String(length=32), nullable=False),
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contract_id", "gram", "user_id"),
    )
    with op.batch_alter_table("user_search_grams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_search_grams_user_id"), ["user_id"], unique=False)
    users = sa.table(
        "users",
        sa.column("id", sa.String),
        sa.column("contract_id", sa.String),
        sa.column("name_key", sa.String),
        sa.column("email_key", sa.String),
    )
    grams = sa.table(
        "user_search_grams",
        sa.column("contract_id", sa.String),
        sa.column("gram", sa.String),
        sa.column("user_id", sa.String),
    )
    bind = op.get_bind()
    rows = [
        {"contract_id": contract_id, "gram": gram, "user_id": user_id}
        for user_id, contract_id, name, email in bind.execute(
            sa.select(users.c.id, users.c.contract_id, users.c.name_key, users.c.email_key)
        ).all()
        for gram in sorted(user_grams(name or "", email or ""))
    ]
    if rows:
        bind.execute(sa.insert(grams), rows)


def downgrade() -> None:
    with op.batch_alter_table("user_search_grams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_search_grams_user_id"))
    op.drop_table("user_search_grams")
