"""Which claims a relying party receives, by scope and by the ``claims`` request parameter
(OIDC Core §5.4, §5.5)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list

from idp.models import User
from policies.claims_request import ClaimsRequestError
from policies.claims_request import parse_claims_request

#: Claims each scope releases; ``contract`` is ours (SPEC O1).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "locale"),
    "email": ("email", "email_verified"),
    "contract": ("contract_id", "role", "login_method"),
}
__all__ = [
    "SCOPE_CLAIMS",
    "SUPPORTED_CLAIMS",
    "ClaimsRequestError",
    "available_claims",
    "parse_claims_request",
    "release_claims",
]

SUPPORTED_CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "line_auth",
    "line_area",
    *(claim for claims in SCOPE_CLAIMS.values() for claim in claims),
)


def available_claims(user: User) -> dict[str, Any]:
    claims = {
        "name": user.name,
        "locale": user.locale,
        "email": user.email,
        "email_verified": bool(user.email_verified),
        "contract_id": user.contract_id,
        "role": user.role,
        "login_method": user.login_method,
    }
    # An unknown name is left out rather than made up (OIDC Core §5.1: claims are optional).
    return {k: v for k, v in claims.items() if v not in (None, "")}


def release_claims(user: User, scope: str) -> dict[str, Any]:
    """``sub`` plus the claims of the granted scopes, and nothing else.

    The consent page asks per scope, and a trusted client's scopes are capped by its
    registration (``Client.get_allowed_scope``), so the scopes are what the user agreed to.
    The ``claims`` request parameter (OIDC Core §5.5) cannot widen them: the OP may leave
    out requested claims, and we do for every claim a granted scope does not cover.
    """
    everything = available_claims(user)
    names: set[str] = set()
    for s in scope_to_list(scope) or []:
        names.update(SCOPE_CLAIMS.get(s, ()))
    claims: dict[str, Any] = {"sub": user.id}
    claims.update({name: everything[name] for name in sorted(names) if name in everything})
    return claims
