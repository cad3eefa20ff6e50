"""Which claims a relying party receives, by scope and by the ``claims`` request parameter
(OIDC Core §5.4, §5.5)."""

from __future__ import annotations

import json
from typing import Any

from authlib.oauth2.rfc6749 import scope_to_list

from idp.models import User

#: Claims each scope releases; ``contract`` is ours (SPEC O1).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "locale"),
    "email": ("email", "email_verified"),
    "contract": ("contract_id", "role", "login_method"),
}
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


class ClaimsRequestError(ValueError):
    """The ``claims`` parameter is not a JSON object of the form OIDC Core §5.5 gives."""


def parse_claims_request(raw: str | None) -> dict[str, dict[str, Any]]:
    """Parse and check the ``claims`` parameter.

    :returns: ``{"id_token": {...}, "userinfo": {...}}``, the members that were given.
    """
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply
        raise ClaimsRequestError("claims is not valid JSON") from error
    if not isinstance(value, dict):
        raise ClaimsRequestError("claims must be a JSON object")
    parsed: dict[str, dict[str, Any]] = {}
    for member in ("id_token", "userinfo"):
        section = value.get(member)
        if section is None:
            continue
        if not isinstance(section, dict) or not all(
            v is None or isinstance(v, dict) for v in section.values()
        ):
            raise ClaimsRequestError(f"claims.{member} must map claim names to null or objects")
        parsed[member] = section
    return parsed


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


def requested_acr(acr_values: str | None, claims: str | None) -> tuple[str, ...]:
    """The acr values an RP asked for, in its order: ``acr_values`` (OIDC Core §3.1.2.1) or
    an ``acr`` member of the ``claims`` parameter's ``id_token`` (§5.5.1.1)."""
    if acr_values:
        return tuple(acr_values.split())
    try:
        acr = parse_claims_request(claims).get("id_token", {}).get("acr") or {}
    except ClaimsRequestError:
        return ()
    if isinstance(acr.get("values"), list):
        return tuple(v for v in acr["values"] if isinstance(v, str))
    if isinstance(acr.get("value"), str):
        return (acr["value"],)
    return ()
