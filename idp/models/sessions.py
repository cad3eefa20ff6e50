"""What a sign-in leaves behind: SSO session records (X2, X7), token families and refresh
tokens (RFC 9700), and back-channel logouts still to deliver (X7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import utcnow


class SsoSessionRecord(db.Model):  # type: ignore[name-defined,misc]
    """X2, X7: the durable trace of an SSO session, so that a person can list and end their
    sessions one by one. Whether a session is live is the ephemeral store's answer (its
    record, expiry and the "signed out everywhere" marker, :mod:`idp.sso`); this row only
    says what to show: the device, an approximate place, when it was used. No address is
    kept: ``network`` is the address cut to its network (IPv4 /24, IPv6 /48)."""

    __tablename__ = "sso_sessions"
    #: The session's ``sid`` (not a credential: tokens carry it).
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    #: ``203.0.113.x`` or ``2001:db8:1::/48``; empty when unknown.
    network: Mapped[str] = mapped_column(String(64), default="")
    #: The sign-in came through line authentication (the session's route, L9).
    line_auth: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Updated at most every few minutes when the session answers /authorize or the menu.
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TokenFamily(db.Model):  # type: ignore[name-defined,misc]
    """Everything issued from one authorization code: revoked as a whole on code or
    refresh-token reuse, on logout, or when a policy no longer holds."""

    __tablename__ = "token_families"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.client_id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    #: The sign-in this family came from: auth_time, amr, acr, route, session id.
    session: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class RefreshToken(db.Model):  # type: ignore[name-defined,misc]
    """A refresh token, stored as its SHA-256; rotated on every use (RFC 9700 §4.14)."""

    __tablename__ = "refresh_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(
        ForeignKey("token_families.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float)


class BackchannelLogout(db.Model):  # type: ignore[name-defined,misc]
    """X7: a logout token still to be delivered to a client's ``backchannel_logout_uri``
    (OIDC Back-Channel Logout 1.0 §2.5), retried with backoff while the client is down.

    The row holds no token: each attempt signs a fresh one (new ``jti``, short ``exp``).
    ``subject`` is not a foreign key, so that a deleted user's clients are still told."""

    __tablename__ = "backchannel_logouts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("clients.client_id", ondelete="CASCADE"), index=True
    )
    #: The user id (``sub``).
    subject: Mapped[str] = mapped_column(String(32))
    #: The session (``sid``); None: every session of ``subject`` at the client.
    sid: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Due at or after this time; an attempt in progress pushes it out (a lease).
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    #: Why the last attempt failed (``HTTP 503``, ``ConnectionError``): never the token.
    last_error: Mapped[str | None] = mapped_column(String(200))
