"""ID tokens (OIDC Core §2, §3.1.3.6): signed for the code grant and, where it is worth its
signature, on refresh.

**ID token on refresh** (OIDC Core §12.2: the response "might not contain an id_token"):
only when ``openid`` is in the token's scope and the refresh request names ``openid`` in its
``scope`` (§12.1's example) or the client registered ES256 (:class:`RefreshIdToken`).
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.grants.util import create_half_hash
from authlib.oidc.core.grants.util import is_openid_scope
from joserfc import jwt
from joserfc.jwk import KeySet

from idp import extensions
from idp.models import TokenFamily
from idp.oidc.claims import release_claims
from idp.oidc.codes import AuthorizationCode
from idp.oidc.codes import family_of


class IdTokenSigner:
    """Signs ID tokens (RS256 by default, ES256 when the client registered it)."""

    def encode(
        self,
        request: OAuth2Request,
        token: dict[str, Any],
        family: TokenFamily,
        nonce: str | None,
        requested: dict[str, Any] | None,
    ) -> str:
        settings = extensions.settings()
        client = request.client
        alg = client.id_token_signed_response_alg or "RS256"
        key = extensions.keys().signing_key(alg)
        now = int(time.time())
        session = family.session or {}
        claims: dict[str, Any] = {
            "iss": settings.issuer,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + settings.id_token_ttl,
            "auth_time": session.get("auth_time"),
            "amr": session.get("amr"),
            "acr": session.get("acr"),
        }
        if session.get("sid"):
            claims["sid"] = session["sid"]
        route = session.get("route") or {}
        # O1, X5: whether this sign-in came through line authentication, and from where.
        claims["line_auth"] = route.get("kind") == "line"
        if claims["line_auth"]:
            claims["line_area"] = route.get("area")
        if nonce:
            claims["nonce"] = nonce
        at_hash = create_half_hash(token["access_token"], alg)
        if at_hash is not None:
            claims["at_hash"] = at_hash.decode()
        claims.update(release_claims(request.user.user, token["scope"]))
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, KeySet([key]), algorithms=[alg])


class OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    """OIDC Core §3.1 on the code grant: authlib validates ``prompt``/``nonce``; we sign."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # Codes are single-use and the nonce is echoed to its own client only.
        return False

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if not is_openid_scope(token.get("scope")):
            return token
        code: AuthorizationCode = grant.request.authorization_code
        family = family_of(code)
        token["id_token"] = IdTokenSigner().encode(
            grant.request,
            token,
            family,
            code.get_nonce(),
            code.data.get("claims", {}).get("id_token"),
        )
        return token


class RefreshIdToken:
    """OIDC Core §12.2: a refresh response "might not contain an id_token"; ours carries one
    (with the original ``auth_time``, ``sid``, ``acr``, ``amr``) only where it is worth its
    signature, when ``openid`` is in the token's scope and either

    - the refresh request asks for one: its ``scope`` names ``openid`` (as OIDC Core §12.1's
      example request does), or
    - the client registered ``id_token_signed_response_alg=ES256`` (a P-256 signature costs
      about a fifth of an RS256 one here, ~0.06 ms: cheap enough to always send).

    A plain rotation of an RS256 client (``grant_type`` and ``refresh_token`` only) gets
    access and refresh tokens without an ID token: nothing in it would be new (the sign-in's
    claims do not change on refresh) and its RS256 signature was the largest single cost of
    a lean refresh."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if not is_openid_scope(token.get("scope")) or not is_id_token_wanted(grant.request):
            return token
        issued = grant.request.refresh_token
        token["id_token"] = IdTokenSigner().encode(grant.request, token, issued.family, None, None)
        return token


def is_id_token_wanted(request: OAuth2Request) -> bool:
    """See :class:`RefreshIdToken`."""
    if request.client.id_token_signed_response_alg == "ES256":
        return True
    return "openid" in (scope_to_list(request.payload.scope) or [])
