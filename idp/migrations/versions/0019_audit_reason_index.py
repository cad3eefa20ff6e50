"""audit log by reason code: an index on (contract_id, reason, at) for the events that have one
(G6, X9: a rare reason filter scanned the contract's whole log, 0.5-1 s at 1,000,000 events)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_audit_events_contract_reason_at",
        "audit_events",
        ["contract_id", "reason", "at"],
        postgresql_where=sa.text("reason IS NOT NULL"),
        sqlite_where=sa.text("reason IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_audit_events_contract_reason_at", table_name="audit_events")
