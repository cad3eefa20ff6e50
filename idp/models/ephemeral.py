"""The SQL-backed ephemeral store's table (used when Redis is not configured)."""

from __future__ import annotations

from sqlalchemy import Float
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db


class EphemeralEntry(db.Model):  # type: ignore[name-defined,misc]
    """Rows of the SQL-backed ephemeral store (used when Redis is not configured)."""

    __tablename__ = "ephemeral"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    counter: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_ephemeral_expires_at", "expires_at"),)
