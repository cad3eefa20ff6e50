"""audit events: fewer indexes to write per event (issue 13, "Speed")

Every grant writes one audit event; each index on ``audit_events`` is one more B-tree insert
in the grant's transaction. ``ix_audit_events_at`` served only ``idp purge``'s search for the
chains with old events (now: by chain on (contract_id, at)); ``ix_audit_events_user_id`` only
the user detail's recent sign-ins (now: within the user's contract on (contract_id, user_id,
at)). ``uq_audit_events_chain_seq`` keeps its uniqueness (X8) but holds only sealed events,
so that a new event's INSERT skips it and the sealer's UPDATE only adds the entry.
``ix_audit_events_contract_user_at`` holds only events about a user (every query on it names
one): a client's grant (client_credentials) skips it.

Plain CREATE/DROP INDEX on both databases (no batch copy of the table).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 12:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SEALED = sa.text("seq IS NOT NULL")
OF_A_USER = sa.text("user_id IS NOT NULL")
BY_USER = ("ix_audit_events_contract_user_at", "audit_events", ["contract_id", "user_id", "at"])


def upgrade() -> None:
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_index("ix_audit_events_user_id", table_name="audit_events")
    op.drop_index(BY_USER[0], table_name="audit_events")
    op.create_index(*BY_USER, postgresql_where=OF_A_USER, sqlite_where=OF_A_USER)
    op.drop_index("uq_audit_events_chain_seq", table_name="audit_events")
    op.create_index(
        "uq_audit_events_chain_seq",
        "audit_events",
        ["contract_id", "seq"],
        unique=True,
        postgresql_where=SEALED,
        sqlite_where=SEALED,
    )


def downgrade() -> None:
    op.drop_index(BY_USER[0], table_name="audit_events")
    op.create_index(*BY_USER)
    op.drop_index("uq_audit_events_chain_seq", table_name="audit_events")
    op.create_index(
        "uq_audit_events_chain_seq", "audit_events", ["contract_id", "seq"], unique=True
    )
    op.create_index("ix_audit_events_user_id", "audit_events", ["user_id"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
