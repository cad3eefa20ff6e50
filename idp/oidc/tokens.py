"""Issued tokens: access tokens in the ephemeral store, refresh tokens and token families in
the database, all looked up by the SHA-256 of the token (a primary key, never a scan).

A service client's access token (client credentials, idp/oidc/service_grant.py) has no family
and no user: it names the contract the client acts on."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from authlib.oauth2.rfc6749 import TokenMixin
from sqlalchemy import update
from sqlalchemy.engine import Connection

from idp import extensions
from idp.audit import seal_soon
from idp.models import Client
from idp.models import Contract
from idp.models import RefreshToken
from idp.models import TokenFamily
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.oidc import grant_transaction
from idp.oidc.grant_statements import GrantFamily
from idp.vocabulary import ContractStatus

ACCESS_PREFIX = "at:"


#: Random bytes in an access or refresh token (RFC 6749 §10.10; RFC 9700 §4.14: 256 bits).
TOKEN_BYTES = 32


def new_secret() -> str:
    """A token or an authorization code: one ``os.urandom`` read of ``TOKEN_BYTES`` (authlib's
    defaults draw each of 42 or 48 characters from ``SystemRandom`` apart, a few per cent of
    a refresh or a consent POST)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def new_opaque_token(client: Any, grant_type: str, user: Any, scope: str) -> str:
    """A token generator for authlib (:func:`new_secret`)."""
    return new_secret()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class IssuedToken(TokenMixin):  # type: ignore[misc]
    """An access or refresh token as authlib's resource protector and endpoints see it."""

    kind: str  # access_token | refresh_token
    token_hash: str
    #: None for a service client's token (client credentials): no sign-in behind it.
    family_id: str | None
    client_id: str
    #: None for a service client's token.
    user_id: str | None
    scope: str
    issued_at: float
    expires_at: float
    used_at: float | None = None
    _family: TokenFamily | None = field(default=None, repr=False)
    #: The contract a service client's token acts on (G7); None for a person's token.
    contract_id: str | None = None
    #: A refresh token being redeemed: its family, user and contract as the grant read them
    #: (``idp.oidc.grants.RefreshTokenGrant``).
    grant: GrantFamily | None = field(default=None, repr=False)

    @property
    def is_service(self) -> bool:
        """A client-credentials token: it acts for its client on ``contract_id``."""
        return self.family_id is None

    @property
    def family(self) -> TokenFamily | None:
        if self._family is None and self.family_id is not None:
            self._family = db.session.get(TokenFamily, self.family_id)
        return self._family

    def check_client(self, client: Client) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - self.issued_at)

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_family_revoked(self) -> bool:
        """Revoked, rotated or gone — without the route check (the refresh grant applies the
        full policies itself, so it does not query the route twice). A service token ends
        with its client, or when the client no longer belongs to a live contract."""
        if self.is_service:
            return not self._is_service_client_live()
        family = self.family
        return family is None or family.revoked_at is not None or self.used_at is not None

    def _is_service_client_live(self) -> bool:
        client = self.get_client()
        if client is None or client.contract_id is None or client.contract_id != self.contract_id:
            return False
        contract = db.session.get(Contract, client.contract_id)
        return contract is not None and contract.status == ContractStatus.ACTIVE

    def is_revoked(self) -> bool:
        if self.is_family_revoked():
            return True
        if self.is_service:
            return False
        family = self.family
        assert family is not None
        # X5: a route that no longer holds (contract now line-only, line removed) ends it.
        from idp.login.gate import session_route_still_valid

        user = self.get_user()
        return user is None or not session_route_still_valid(
            user, (family.session or {}).get("route")
        )

    def get_user(self) -> User | None:
        return None if self.user_id is None else db.session.get(User, self.user_id)

    def get_client(self) -> Client | None:
        return db.session.get(Client, self.client_id)


def commit_with_access_token(token: str, family: TokenFamily, scope: str, expires_in: int) -> None:
    """Commit the grant's transaction with its access token (see :func:`_commit_with`)."""
    now = time.time()
    entry = {
        "f": family.id,
        "c": family.client_id,
        "u": family.user_id,
        "s": scope,
        "i": now,
        "e": now + expires_in,
    }
    _commit_with(token, entry, expires_in)


def commit_with_service_access_token(
    token: str, client: Client, scope: str, expires_in: int, write: Callable[[Connection], None]
) -> None:
    """A client-credentials token: no family, no user; the client's contract (``k``).

    ``write`` writes the grant's one row (its audit event) on the connection it is given: a
    Core connection of its own, not the ORM session's (issue 13: nothing else is read or
    written; the session's transaction machinery was a tenth of the grant). With the SQL
    store the row and the access token commit together; with Redis the row is the only
    statement, run in autocommit (on PostgreSQL no ``BEGIN`` and ``COMMIT`` round trips:
    one statement is its own transaction), and the token goes to Redis after it."""
    now = time.time()
    entry = {
        "f": None,
        "c": client.client_id,
        "u": None,
        "k": client.contract_id,
        "s": scope,
        "i": now,
        "e": now + expires_in,
    }
    store = extensions.store()
    key = ACCESS_PREFIX + token_hash(token)
    with db.engine.connect() as connection:
        joined = store.set_json_in(connection, key, entry, expires_in)
        if not joined:
            connection.execution_options(isolation_level="AUTOCOMMIT")
        write(connection)
        connection.commit()
    seal_soon()
    if not joined:
        store.set_json(key, entry, expires_in)


def _commit_with(token: str, entry: dict[str, Any], expires_in: int) -> None:
    """Commit the grant's transaction (idp.oidc.grant_transaction) and store the access
    token: on that transaction when the ephemeral store is the same database (the SQL
    store: one commit for the grant, issue 13), else in the store after the commit (Redis;
    a token is never usable before the rows it came from are committed)."""
    store = extensions.store()
    key = ACCESS_PREFIX + token_hash(token)
    joined = store.set_json_in(grant_transaction.connection(), key, entry, expires_in)
    grant_transaction.commit()
    if not joined:
        store.set_json(key, entry, expires_in)


def find_access_token(token: str) -> IssuedToken | None:
    if not isinstance(token, str) or not token:
        return None
    digest = token_hash(token)
    data = extensions.store().get_json(ACCESS_PREFIX + digest)
    if not data:
        return None
    return IssuedToken(
        "access_token",
        digest,
        data["f"],
        data["c"],
        data["u"],
        data["s"],
        data["i"],
        data["e"],
        contract_id=data.get("k"),
    )


def forget_access_token(issued: IssuedToken) -> None:
    extensions.store().delete(ACCESS_PREFIX + issued.token_hash)


def find_refresh_token(token: str) -> IssuedToken | None:
    if not isinstance(token, str) or not token:
        return None
    row = db.session.get(RefreshToken, token_hash(token))
    if row is None:
        return None
    family = db.session.get(TokenFamily, row.family_id)
    if family is None:
        return None
    return IssuedToken(
        "refresh_token",
        row.token_hash,
        row.family_id,
        family.client_id,
        family.user_id,
        row.scope,
        row.issued_at,
        row.expires_at,
        row.used_at,
        family,
    )


def revoke_family(family_id: str | None, reason: str) -> bool:
    """Revoke everything issued from one authorization code; True if it was live (a service
    token has no family: nothing to revoke)."""
    if family_id is None:
        return False
    result = db.session.execute(
        update(TokenFamily)
        .where(TokenFamily.id == family_id, TokenFamily.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    db.session.commit()
    return rowcount(result) == 1


def session_claims(family: TokenFamily) -> dict[str, Any]:
    return dict(family.session or {})
