"""contract life: cancellation, retention and contract information (C3, C4)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: C4: contract information; existing contracts start with empty fields.
INFORMATION = (
    ("company_name", 200),
    ("department", 200),
    ("contact_person", 200),
    ("address", 400),
    ("phone", 32),
    ("billing_email", 320),
)


def upgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        batch.add_column(sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
        for name, length in INFORMATION:
            batch.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )


def downgrade() -> None:
    with op.batch_alter_table("contracts") as batch:
        for name, _length in reversed(INFORMATION):
            batch.drop_column(name)
        batch.drop_column("purged_at")
        batch.drop_column("cancelled_at")
