"""G7: a contract's SCIM tokens — the bearer tokens with which the customer's directory
(Entra ID, Okta) provisions that contract's users through ``/scim/v2`` (RFC 7644 §2).

A token is 256 random bits, shown once when issued; only its SHA-256 is kept (a high-entropy
secret needs no password hash, and the lookup by hash is one index read on every request).
Each token acts on its own contract alone (G8). Revoking is immediate: the next request with
the token is refused."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import update

from idp import audit
from idp.actor import Actor
from idp.contracts.contract import get_contract
from idp.errors import NotFoundError
from idp.models import ScimToken
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.vocabulary import ContractStatus

#: A prefix that says what the token is (secret scanners, a pasted token in a ticket).
TOKEN_PREFIX = "wdscim_"
#: 32 bytes: 256 bits of randomness.
TOKEN_BYTES = 32


def hash_scim_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def find_scim_token(token: str) -> ScimToken | None:
    """The live token (not revoked, its contract active), or None."""
    row = db.session.query(ScimToken).filter_by(token_hash=hash_scim_token(token)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    contract = get_contract(row.contract_id)
    if contract.status != ContractStatus.ACTIVE:
        return None
    return row


@audit.change("scim_token_issue")
def issue_scim_token(actor: Actor, contract_id: str) -> tuple[ScimToken, str]:
    """A new SCIM token for ``contract_id``; returns the row and the token (shown once)."""
    if actor.contract_id is not None and actor.contract_id != contract_id:
        raise NotFoundError(f"no contract {contract_id}")
    contract = get_contract(contract_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row = ScimToken(contract_id=contract.id, token_hash=hash_scim_token(token))
    db.session.add(row)
    db.session.commit()
    audit.record(
        "scim_token_issue", "ok", None, contract_id=contract.id, actor=actor, target=row.id
    )
    return row, token


@audit.change("scim_token_revoke")
def revoke_scim_tokens(actor: Actor, contract_id: str, token_id: str | None = None) -> int:
    """Revoke the contract's live SCIM tokens, or only ``token_id``; returns how many.

    :raises NotFoundError: no such contract, or ``token_id`` is not a live token of it."""
    if actor.contract_id is not None and actor.contract_id != contract_id:
        raise NotFoundError(f"no contract {contract_id}")
    get_contract(contract_id)
    statement = update(ScimToken).where(
        ScimToken.contract_id == contract_id, ScimToken.revoked_at.is_(None)
    )
    if token_id is not None:
        statement = statement.where(ScimToken.id == token_id)
    revoked = rowcount(db.session.execute(statement.values(revoked_at=utcnow())))
    if token_id is not None and revoked == 0:
        db.session.rollback()
        raise NotFoundError(f"no live SCIM token {token_id} in contract {contract_id}")
    db.session.commit()
    audit.record(
        "scim_token_revoke",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        target=token_id,
        details={"revoked": revoked},
    )
    return revoked
