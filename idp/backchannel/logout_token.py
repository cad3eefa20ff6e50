"""The Logout Token (OIDC Back-Channel Logout 1.0 §2.4): a JWT signed like the client's ID
tokens, explicitly typed ``logout+jwt`` (§4.1, RFC 8725 §3.11) so that it cannot pass for an
ID token, and without ``nonce`` (so that an ID-token check refuses it)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet

from idp import extensions
from idp.models import Client

#: §2.4: the ``events`` member that declares a logout token.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4 (``exp``): "a short time ... two minutes or less is RECOMMENDED".
LOGOUT_TOKEN_TTL = 120
#: §2.4, header: "explicitly typed".
LOGOUT_TOKEN_TYP = "logout+jwt"


def logout_token_claims(client: Client, subject: str, sid: str | None) -> dict[str, Any]:
    """``iss``, ``aud``, ``iat``, ``exp``, a random ``jti``, ``events``, ``sub`` and, when the
    session is known, ``sid`` (§2.4: sub and/or sid; without sid every session of ``sub``)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": extensions.settings().issuer,
        "aud": client.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_TTL,
        "jti": secrets.token_urlsafe(16),
        "events": {LOGOUT_EVENT: {}},
        "sub": subject,
    }
    if sid:
        claims["sid"] = sid
    return claims


def build_logout_token(client: Client, subject: str, sid: str | None) -> str:
    """Sign with the key and algorithm of the client's ID tokens (§2.4: "the same keys")."""
    alg = client.id_token_signed_response_alg or "RS256"
    key = extensions.keys().signing_key(alg)
    header = {"alg": alg, "kid": key.kid, "typ": LOGOUT_TOKEN_TYP}
    claims = logout_token_claims(client, subject, sid)
    return jwt.encode(header, claims, KeySet([key]), algorithms=[alg])
