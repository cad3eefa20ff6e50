"""Users (SPEC Words) and the bigrams they are searched by (G2, X9), kept in step by the
ORM listeners below: importing this module registers them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import utcnow
from idp.search_grams import fold
from idp.search_grams import user_grams


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
