"""What a user signs in with beside the password: second factors (L6), upstream identities
(L7), a contract's AD connection (L8, D1) and remembered browsers (X2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import utcnow


class SecondFactor(db.Model):  # type: ignore[name-defined,misc]
    """An enrolled second factor: ``sms`` (number), ``totp`` (encrypted secret), ``passkey``
    (WebAuthn credential) or ``recovery`` (the recovery code's hash, L6)."""

    __tablename__ = "second_factors"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UpstreamIdentity(db.Model):  # type: ignore[name-defined,misc]
    """L7: an upstream identity bound to a user, keyed by (provider, issuer, subject); the
    email is kept for display only — nothing is ever found or linked by it."""

    __tablename__ = "upstream_identities"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("provider", "issuer", "subject", name="uq_upstream_identity"),
    )


class AdConnection(db.Model):  # type: ignore[name-defined,misc]
    """L8, D1: a contract's Active Directory, reached by its connection ID (``adfs-`` + 18):
    through its AD FS (OpenID Connect) or, without AD FS, a direct LDAP bind."""

    __tablename__ = "ad_connections"
    connection_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(8), default="adfs")  # adfs | ldap
    #: AD FS: issuer, client_id, resource. LDAP: url, base_dn, bind_dn, start_tls, ca_pem.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The client secret or the service account's password, sealed (IDP_ENCRYPTION_KEY).
    secret_sealed: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RememberedBrowser(db.Model):  # type: ignore[name-defined,misc]
    """X2: "remember this browser", one record per (user, browser); the cookie holds the
    record id and a random token whose SHA-256 is kept here."""

    __tablename__ = "remembered_browsers"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(40))
