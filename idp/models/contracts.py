"""A contract (the tenant, SPEC Words) and its registered lines (A2)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import utcnow


class Contract(db.Model):  # type: ignore[name-defined,misc]
    """One customer (tenant): plan, 2FA and access route are contract-wide (SPEC Words)."""

    __tablename__ = "contracts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(16), default="basic")  # basic | trial
    two_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When 2FA was last turned on: browsers remembered before do not count (L3).
    two_factor_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    access_route: Mapped[str] = mapped_column(String(20), default="line+internet")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | cancelled
    trial_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: C3: when the contractor cancelled; ``idp purge`` deletes the users and data after the
    #: retention period (``IDP_CANCELLED_RETENTION_DAYS``) and then sets ``purged_at``.
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: C4: contract information, shown in the account menu and changed on ``basic``.
    company_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    department: Mapped[str] = mapped_column(String(200), default="", server_default="")
    contact_person: Mapped[str] = mapped_column(String(200), default="", server_default="")
    address: Mapped[str] = mapped_column(String(400), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    billing_email: Mapped[str] = mapped_column(String(320), default="", server_default="")


class LineNumber(db.Model):  # type: ignore[name-defined,misc]
    """A2: a contract's registered line (NTT FLET'S number), unique within the contract."""

    __tablename__ = "line_numbers"
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    #: L9 West Japan: ``notify`` or ``do_not_notify``, chosen at the first access; None: not yet.
    notification: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
