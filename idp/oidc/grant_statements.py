"""The token endpoint's reads and writes, as prebuilt SQLAlchemy Core statements on the
request's one transaction (issue 13; DESIGN.md "Cost on the hot paths").

The ORM's per-statement work (identity map, unit of work, loading) was most of a refresh
grant's CPU; these statements are built once at import and run on the grant's connection
(:mod:`idp.oidc.grant_transaction`), so that a grant stays one transaction: the claim of
the refresh token, the family read, the new refresh token and the audit event commit
together, and so does the access token with the SQL store (a Redis store gets it right
after that commit, see :func:`idp.oidc.server.save_token`).

- :data:`CLAIM` is the one statement that claims a refresh token: ``UPDATE … SET used_at
  WHERE token_hash AND used_at IS NULL AND not expired AND its family is the client's and
  live RETURNING …`` (SQLite ≥ 3.35, PostgreSQL). Of parallel uses exactly one gets the row.
- :data:`FAMILY` reads the token family once, with its user and the user's contract: what
  the policies (O2), the audit event and the ID token need. The contract's line numbers are
  read only when the sign-in came by a line (X5); an internet session never needs them.
- :data:`CLAIM_AND_READ` is both in one statement, on PostgreSQL (one round trip less).

Objects built from these rows (``User``, ``TokenFamily``, ``Contract``) are transient: never
added to the session, they only carry the columns to the code that reads them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import exists
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from idp.contracts.contract import contract_state
from idp.models import Contract
from idp.models import LineNumber
from idp.models import RefreshToken
from idp.models import TokenFamily
from idp.models import User
from idp.models import transient
from idp.oidc.grant_transaction import connection
from idp.vocabulary import AccessRoute
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role
from idp.vocabulary import Target
from policies.decision import Decision
from policies.sign_in import SignInContext
from policies.sign_in import check_sign_in

_TOKENS = RefreshToken.__table__
_FAMILIES = TokenFamily.__table__
_USERS = User.__table__
_CONTRACTS = Contract.__table__
_LINES = LineNumber.__table__

#: The user's columns a grant reads: the policies' and the ID token's claims.
_USER_COLUMNS = (
    "id",
    "contract_id",
    "email",
    "email_verified",
    "name",
    "role",
    "login_method",
    "locale",
    "locked_at",
    "disabled_at",
)
_CONTRACT_COLUMNS = ("plan", "status", "trial_started_at", "access_route")

#: A refresh token that can be claimed: this one, unused, not expired ...
_CLAIMABLE = (
    _TOKENS.c.token_hash == bindparam("b_token_hash"),
    _TOKENS.c.used_at.is_(None),
    _TOKENS.c.expires_at > bindparam("b_now"),
)
#: ... of a family of the asking client that is not revoked.
_OF_LIVE_FAMILY = (
    _FAMILIES.c.id == _TOKENS.c.family_id,
    _FAMILIES.c.client_id == bindparam("b_client_id"),
    _FAMILIES.c.revoked_at.is_(None),
)

CLAIM = (
    update(_TOKENS)
    .where(*_CLAIMABLE, exists().where(*_OF_LIVE_FAMILY))
    .values(used_at=bindparam("b_now"))
    .returning(_TOKENS.c.family_id, _TOKENS.c.scope, _TOKENS.c.issued_at, _TOKENS.c.expires_at)
)

#: Why a refresh token could not be claimed (the refusal path only).
UNCLAIMED = (
    select(
        _TOKENS.c.family_id,
        _TOKENS.c.used_at,
        _FAMILIES.c.client_id,
        _FAMILIES.c.user_id,
        _FAMILIES.c.revoked_at,
    )
    .join(_FAMILIES, _FAMILIES.c.id == _TOKENS.c.family_id)
    .where(_TOKENS.c.token_hash == bindparam("token_hash"))
)

#: What :data:`FAMILY` reads: the family, its user, the user's contract.
_FAMILY_COLUMNS = (
    _FAMILIES.c.client_id,
    _FAMILIES.c.scope,
    _FAMILIES.c.session,
    _FAMILIES.c.revoked_at,
    *(_USERS.c[name] for name in _USER_COLUMNS),
    *(_CONTRACTS.c[name].label("contract_" + name) for name in _CONTRACT_COLUMNS),
)

#: PostgreSQL: :data:`CLAIM` and :data:`FAMILY` in one statement and one round trip
#: (``UPDATE … FROM`` the family, user and contract ``… RETURNING`` their columns; SQLite's
#: ``RETURNING`` may name only the updated table). The family's conditions are CLAIM's; a
#: family whose user or contract is gone claims nothing, as CLAIM then FAMILY read None.
CLAIM_AND_READ = (
    update(_TOKENS)
    .where(
        *_CLAIMABLE,
        *_OF_LIVE_FAMILY,
        _USERS.c.id == _FAMILIES.c.user_id,
        _CONTRACTS.c.id == _USERS.c.contract_id,
    )
    .values(used_at=bindparam("b_now"))
    .returning(
        _TOKENS.c.family_id.label("token_family_id"),
        _TOKENS.c.scope.label("token_scope"),
        _TOKENS.c.issued_at.label("token_issued_at"),
        _TOKENS.c.expires_at.label("token_expires_at"),
        *_FAMILY_COLUMNS,
    )
)

FAMILY = (
    select(*_FAMILY_COLUMNS)
    .select_from(
        _FAMILIES.join(_USERS, _USERS.c.id == _FAMILIES.c.user_id).join(
            _CONTRACTS, _CONTRACTS.c.id == _USERS.c.contract_id
        )
    )
    .where(_FAMILIES.c.id == bindparam("family_id"))
)

LINES = select(_LINES.c.number, _LINES.c.notification).where(
    _LINES.c.contract_id == bindparam("contract_id")
)

INSERT_REFRESH = insert(_TOKENS)


@dataclass
class GrantFamily:
    """A token family as one grant reads it: the family, its user and the user's contract
    (transient objects: columns only)."""

    family: TokenFamily
    user: User
    contract: Contract

    @property
    def session(self) -> dict[str, Any]:
        return dict(self.family.session or {})

    @property
    def is_revoked(self) -> bool:
        return self.family.revoked_at is not None


def read_family(family_id: str) -> GrantFamily | None:
    """The family, its user and contract in one statement; None when gone."""
    row = connection().execute(FAMILY, {"family_id": family_id}).mappings().first()
    return None if row is None else _grant_family(family_id, row)


def _grant_family(family_id: str, row: Any) -> GrantFamily:
    family = transient(
        TokenFamily,
        {
            "id": family_id,
            "user_id": row["id"],
            "client_id": row["client_id"],
            "scope": row["scope"],
            "session": row["session"] or {},
            "revoked_at": row["revoked_at"],
        },
    )
    user = transient(User, {name: row[name] for name in _USER_COLUMNS})
    contract = transient(
        Contract,
        {
            "id": row["contract_id"],
            **{name: row["contract_" + name] for name in _CONTRACT_COLUMNS},
        },
    )
    return GrantFamily(family, user, contract)


def line_choices(contract_id: str) -> dict[str, str | None]:
    """A2, L9: the contract's lines and their notification choice."""
    rows = connection().execute(LINES, {"contract_id": contract_id})
    return {number: notification for number, notification in rows}


def check_refresh_policies(grant: GrantFamily) -> Decision:
    """O2, X5: the policies of a sign-in (``policies.sign_in``, as ``idp.login.gate``
    applies them) for the frontend, from the family read; lines only for a line session."""
    route = grant.session.get("route") or {"kind": "internet"}
    line = route.get("line") if route.get("kind") == "line" else None
    user, contract = grant.user, grant.contract
    context = SignInContext(
        contract=contract_state(contract),
        access_route=AccessRoute(contract.access_route),
        lines=line_choices(contract.id) if line is not None else {},
        role=Role(user.role),
        login_method=LoginMethod(user.login_method),
        is_locked=user.locked_at is not None,
        is_disabled=user.disabled_at is not None,
        target=Target.FRONTEND,
        line_number=line,
        line_area=route.get("area"),
    )
    return check_sign_in(context, datetime.now(UTC))


@dataclass(frozen=True)
class Claimed:
    family_id: str
    scope: str
    issued_at: float
    expires_at: float


def claim_refresh_token(
    token_hash: str, client_id: str
) -> tuple[Claimed, GrantFamily | None] | None:
    """Mark a live refresh token of ``client_id`` used, in one statement, and read its
    family (:func:`read_family`; on PostgreSQL in the same statement). None when it is not
    one (unknown, used, expired, another client's, or its family revoked); no family when
    it is gone meanwhile."""
    conn = connection()
    values = {"b_token_hash": token_hash, "b_client_id": client_id, "b_now": time.time()}
    if conn.dialect.name == "postgresql":
        row = conn.execute(CLAIM_AND_READ, values).mappings().first()
        if row is None:
            return None
        claimed = Claimed(
            row["token_family_id"],
            row["token_scope"],
            row["token_issued_at"],
            row["token_expires_at"],
        )
        return claimed, _grant_family(claimed.family_id, row)
    plain = conn.execute(CLAIM, values).first()
    if plain is None:
        return None
    claimed = Claimed(*plain)
    return claimed, read_family(claimed.family_id)


@dataclass(frozen=True)
class Unclaimed:
    family_id: str
    used_at: float | None
    client_id: str
    user_id: str
    is_family_revoked: bool


def why_unclaimed(token_hash: str) -> Unclaimed | None:
    row = connection().execute(UNCLAIMED, {"token_hash": token_hash}).first()
    if row is None:
        return None
    return Unclaimed(row[0], row[1], row[2], row[3], row[4] is not None)


def insert_refresh_token(token_hash: str, family_id: str, scope: str, ttl: int) -> None:
    now = time.time()
    connection().execute(
        INSERT_REFRESH,
        {
            "token_hash": token_hash,
            "family_id": family_id,
            "scope": scope,
            "issued_at": now,
            "expires_at": now + ttl,
        },
    )
