"""The audit log (X3) and the heads of its hash chains (X8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import DateTime
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import utcnow


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """A security-relevant event with a reason code on every refusal (X3). Never a secret.

    X8: each contract's events (and, apart, the events of no contract) form a hash chain:
    ``seq`` numbers an event within its chain and ``hash`` covers the previous event's hash
    and this event's fields (``idp.audit_chain``). Both are NULL until the sealer chains the
    row, shortly after it was written (off the request thread)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    event: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(10))  # ok | refused | info
    reason: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(32))
    contract_id: Mapped[str | None] = mapped_column(String(32))
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    #: Who asked, as ``kind:id`` (``Actor.as_text``); None for a sign-in's own events.
    actor: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    hash: Mapped[str | None] = mapped_column(String(64))

    # Every index here costs each event's INSERT (the token path writes one per grant, issue
    # 13): each serves a query named beside it, and none other. No index on ``at`` alone nor
    # on ``user_id`` alone: purge finds old events by chain (contract, at), a user's recent
    # sign-ins are read within their contract (contract, user, at).
    __table_args__ = (
        # G6: one contract's log filtered by time, user or event.
        Index("ix_audit_events_contract_at", "contract_id", "at"),
        # G6 by user, the user detail: only events about a user (a client's grant is not).
        Index(
            "ix_audit_events_contract_user_at",
            "contract_id",
            "user_id",
            "at",
            sqlite_where=text("user_id IS NOT NULL"),
            postgresql_where=text("user_id IS NOT NULL"),
        ),
        Index("ix_audit_events_contract_event_at", "contract_id", "event", "at"),
        # G6, X9: by reason code (X3); most events have none, so only those that do.
        Index(
            "ix_audit_events_contract_reason_at",
            "contract_id",
            "reason",
            "at",
            sqlite_where=text("reason IS NOT NULL"),
            postgresql_where=text("reason IS NOT NULL"),
        ),
        # X8: one position per event in a contract's chain; verify walks a chain by it, purge
        # cuts it. Only sealed events have a position: an unsealed one is not in the index
        # (its INSERT skips it) and the sealer's UPDATE only adds the entry.
        Index(
            "uq_audit_events_chain_seq",
            "contract_id",
            "seq",
            unique=True,
            sqlite_where=text("seq IS NOT NULL"),
            postgresql_where=text("seq IS NOT NULL"),
        ),
        # X8: the sealer finds the rows not yet chained without scanning the table.
        Index(
            "ix_audit_events_unsealed",
            "contract_id",
            "id",
            sqlite_where=text("seq IS NULL"),
            postgresql_where=text("seq IS NULL"),
        ),
    )


class AuditChainHead(db.Model):  # type: ignore[name-defined,misc]
    """X8: the end of one audit chain (a contract's, or ``""`` for events of no contract).

    The sealer locks this row while it chains new events, so that two sealers never give out
    the same ``seq``. ``checkpoint_*`` is where verification starts: the genesis at first,
    then the last event ``idp purge`` deleted under the audit retention."""

    __tablename__ = "audit_chain_heads"
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    checkpoint_hash: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
