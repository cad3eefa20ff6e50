"""Durable state (DESIGN.md, State). Schema changes go through Alembic (``idp/migrations``)."""

from __future__ import annotations

import uuid
from datetime import UTC
from datetime import datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import Float
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine import Result
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.oidc.clients import OAuthClientMixin
from idp.search_grams import fold
from idp.search_grams import user_grams


class Base(DeclarativeBase):
    pass


# Objects stay usable after a commit without a reload (one request = one short unit of
# work; state that other requests change is re-read by primary key where it matters).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


def utcnow() -> datetime:
    return datetime.now(UTC)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE run through ``db.session.execute`` matched (typed as a
    ``Result``; for such a statement it is a ``CursorResult``)."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of an UPDATE or DELETE: {result!r}")
    return result.rowcount


def new_id() -> str:
    return uuid.uuid4().hex


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


class User(db.Model):  # type: ignore[name-defined,misc]
    """A person in one contract with exactly one login method (SPEC Words)."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("contracts.id"), index=True)
    #: As entered (shown back to the person); ``email_key`` is the case-folded unique key (L2).
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    #: G2: the name as searched (NFKC + casefold: ＴＡＮＡＫＡ, tanaka and Tanaka alike), kept
    #: in step with ``name`` on every insert and update (``_keep_name_key`` below).
    name_key: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="user")  # contractor | admin | user
    login_method: Mapped[str] = mapped_column(String(16), default="password")
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: Consecutive wrong passwords, incremented atomically before each check (K1).
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Bumped on every password or email change: mailed links sent before are void (X4).
    state_version: Mapped[int] = mapped_column(Integer, default=1)
    #: Bumped by each "this was not me" notice and its revert (X6): the notice's link is
    #: bound to it, so that only a later email or method change voids it, not a password
    #: change or reset (which would otherwise let whoever made the change void the link).
    identity_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: Set when the user completed 2FA enrollment; cleared by resets (T2). Devices live in
    #: ``second_factors``.
    two_factor_enrolled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: G4: set while an administrator has disabled the account; no sign-in passes the gate.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: G7: the id the customer's directory knows the user by (SCIM ``externalId``, RFC 7643
    #: §3.1), set and read by SCIM only; case-exact and not unique.
    external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    # G2, X9: the admin list's keyset orders within one contract (sort key, then id).
    __table_args__ = (
        Index("ix_users_contract_email", "contract_id", "email_key"),
        Index("ix_users_contract_name", "contract_id", "name_key", "id"),
        Index("ix_users_contract_created", "contract_id", "created_at", "id"),
        # The rare filters (admins, locked accounts) and their capped count: an index each,
        # so that neither scans the whole contract.
        Index("ix_users_contract_role", "contract_id", "role"),
        Index(
            "ix_users_contract_locked",
            "contract_id",
            postgresql_where=text("locked_at IS NOT NULL"),
            sqlite_where=text("locked_at IS NOT NULL"),
        ),
        Index(
            "ix_users_contract_disabled",
            "contract_id",
            postgresql_where=text("disabled_at IS NOT NULL"),
            sqlite_where=text("disabled_at IS NOT NULL"),
        ),
    )


def name_key(name: str) -> str:
    """G2: how a name is compared when searched (``idp.search_grams.fold``)."""
    return fold(name)


class UserSearchGram(db.Model):  # type: ignore[name-defined,misc]
    """G2, X9: one bigram a user is found by (``idp/search_grams.py``), kept in step with the
    user's name and email by the listeners below on every ORM insert and update."""

    __tablename__ = "user_search_grams"
    contract_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    gram: Mapped[str] = mapped_column(String(8), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


def index_search_grams(connection: Any, users: list[tuple[str, str, str, str]]) -> None:
    """(Re)write the bigrams of ``users`` — (id, contract id, name key, email key) each — in
    the caller's transaction; bulk loads that bypass the ORM call it themselves."""
    ids = [user_id for user_id, _contract, _name, _email in users]
    if not ids:
        return
    table = UserSearchGram.__table__
    connection.execute(delete(table).where(table.c.user_id.in_(ids)))
    rows = [
        {"contract_id": contract_id, "gram": gram, "user_id": user_id}
        for user_id, contract_id, name, email in users
        for gram in sorted(user_grams(name, email))
    ]
    if rows:
        connection.execute(insert(table), rows)


@event.listens_for(User, "before_insert")
@event.listens_for(User, "before_update")
def _keep_name_key(_mapper: Any, _connection: Any, user: User) -> None:
    user.name_key = name_key(user.name)


@event.listens_for(User, "after_insert")
def _index_new_user(_mapper: Any, connection: Any, user: User) -> None:
    index_search_grams(connection, [(user.id, user.contract_id, user.name_key, user.email_key)])


@event.listens_for(User, "after_update")
def _reindex_changed_user(_mapper: Any, connection: Any, user: User) -> None:
    state: Any = inspect(user)
    if any(state.attrs[name].history.has_changes() for name in ("name", "email_key")):
        index_search_grams(connection, [(user.id, user.contract_id, user.name_key, user.email_key)])


class SecondFactor(db.Model):  # type: ignore[name-defined,misc]
    """An enrolled second factor: ``sms`` (number), ``totp`` (encrypted secret), ``passkey``
    (WebAuthn credential) or ``recovery`` (the recovery code's hash, L6)."""

    __tablename__ = "second_factors"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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


class Client(db.Model, OAuthClientMixin):  # type: ignore[name-defined,misc]
    """A registered relying party."""

    __tablename__ = "clients"
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: SHA-256 hex of the high-entropy secret (DESIGN.md, Cost on the hot paths); None: public.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str] = mapped_column(Text, default="openid profile email offline_access contract")
    #: First-party client: no consent page.
    is_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: PKCE (S256) required; a legacy confidential client may be registered without it.
    require_pkce: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Refresh tokens even without ``offline_access``.
    receives_refresh_tokens: Mapped[bool] = mapped_column(Boolean, default=False)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    #: OIDC Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed; None: not sent.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    #: §2.2: the client needs ``sid`` in every logout token (one token per session then).
    backchannel_logout_session_required: Mapped[bool] = mapped_column(Boolean, default=False)
    #: RFC 6749 grants the client may use: a relying party ``authorization_code`` and
    #: ``refresh_token``; a service client (the admin API's, G7) ``client_credentials`` only.
    grant_types: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: ["authorization_code", "refresh_token"]
    )
    #: G7: a service client acts on this one contract and no other; None for relying parties.
    contract_id: Mapped[str | None] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScimToken(db.Model):  # type: ignore[name-defined,misc]
    """G7: a bearer token of one contract's SCIM client (a customer's directory provisioning
    its users, RFC 7644 §2). Only its SHA-256 is kept (256 random bits: a hash lookup, no
    password hash); the token itself is shown once by ``idp scim token``."""

    __tablename__ = "scim_tokens"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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


class QueuedMail(db.Model):  # type: ignore[name-defined,misc]
    """A mail not sent yet (issue 13, "Faults"): every mail is queued here first, in the
    database all nodes share, and deleted once the SMTP server has accepted it
    (``idp/mail/queue.py``). While the server is down or answers 4xx it is retried with
    backoff; a 5xx answer or too many attempts drop it (audited).

    ``message`` is the whole RFC 5322 message, built once (its Message-ID stays the same on
    every attempt). It holds a link's secret: the row lives only until it is sent, and no
    log line carries it."""

    __tablename__ = "mail_queue"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: The mail's kind (``reset``, ``lock``, ...): counts and logs, never the address.
    purpose: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    #: The user the mail is about (for the audit event when it is dropped); no foreign key,
    #: so that a deleted user's queued mail does not stop the deletion.
    user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Due at or after this time; an attempt in progress pushes it out (a lease).
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    #: Why the last attempt failed (``SMTPServerDisconnected``, ``SMTP 451``): never the text.
    last_error: Mapped[str | None] = mapped_column(String(200))


class MailLink(db.Model):  # type: ignore[name-defined,misc]
    """A mailed link, stored as its SHA-256, single-use and bound to purpose, user and the
    account's ``state_version`` when sent (SPEC Links, X4)."""

    __tablename__ = "mail_links"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """A security-relevant event with a reason code on every refusal (X3). Never a secret.

    X8: each contract's events (and, apart, the events of no contract) form a hash chain:
    ``seq`` numbers an event within its chain and ``hash`` covers the previous event's hash
    and this event's fields (``idp.audit_chain``). Both are NULL until the sealer chains the
    row, shortly after it was written (off the request thread)."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(40))
    outcome: Mapped[str] = mapped_column(String(10))  # ok | refused | info
    reason: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    contract_id: Mapped[str | None] = mapped_column(String(32))
    client_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    #: Who asked, as ``kind:id`` (``Actor.as_text``); None for a sign-in's own events.
    actor: Mapped[str | None] = mapped_column(String(80))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        # G6: one contract's log filtered by time, user or event.
        Index("ix_audit_events_contract_at", "contract_id", "at"),
        Index("ix_audit_events_contract_user_at", "contract_id", "user_id", "at"),
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
        # X8: one position per event in a contract's chain; verify walks a chain by it.
        Index("uq_audit_events_chain_seq", "contract_id", "seq", unique=True),
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


class EphemeralEntry(db.Model):  # type: ignore[name-defined,misc]
    """Rows of the SQL-backed ephemeral store (used when Redis is not configured)."""

    __tablename__ = "ephemeral"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    counter: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_ephemeral_expires_at", "expires_at"),)


class Invitation(db.Model):  # type: ignore[name-defined,misc]
    """L10, G3: an invited user who has not registered yet (``registered_at`` None). The user
    row exists from the invitation on, without a method bound (no password hash, no upstream
    identity), so it cannot sign in and its email is taken; the mailed link is a
    ``mail_links`` row of purpose ``invite``. Resending and revoking (G3) act on this row."""

    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    #: The inviter as the audit names it (``kind:id``), for the pending list of G3.
    invited_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the last invitation mail was sent (G3 resend sends another).
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvitationJob(db.Model):  # type: ignore[name-defined,misc]
    """G3: a CSV upload of invitations, validated at upload and then invited row by row off
    the request thread (``idp/users/bulk_invite.py``). ``done`` counts rows with their final
    result (invited, already invited, or refused), ``failed`` the refused ones."""

    __tablename__ = "invitation_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    #: The actor as the audit names it (``kind:id``); the job invites in its name.
    actor: Mapped[str] = mapped_column(String(100))
    #: queued, running, finished.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: The language of the invitation mails.
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvitationJobRow(db.Model):  # type: ignore[name-defined,misc]
    """G3: one data row of an invitation upload and its result: ``pending`` (valid, to be
    invited), ``invited``, ``already_invited`` (nothing to do, no second mail) or
    ``error`` with a reason code."""

    __tablename__ = "invitation_job_rows"
    job_id: Mapped[str] = mapped_column(
        ForeignKey("invitation_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    #: The row's line in the file (the header is line 1).
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(400), default="")
    name: Mapped[str] = mapped_column(String(400), default="")
    role: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(40))
