"""The demo frontend's side of OpenID Connect Back-Channel Logout 1.0: validating a logout
token as §2.6 says (joserfc checks the signature and the registered claims), and remembering
the ``jti`` values seen so that a replayed token is refused."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.demo.id_tokens import LEEWAY

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
#: ``typ`` values of an explicitly typed logout token (§2.4; RFC 7515 §4.1.9 allows the
#: media type with its ``application/`` prefix).
LOGOUT_TYPES = frozenset({"logout+jwt", "application/logout+jwt"})
ALGORITHMS = ["RS256", "ES256"]
#: Most ``jti`` values remembered.
MAX_SEEN = 10_000


class LogoutTokenError(Exception):
    """The token is not a valid logout token for us (§2.8: answer 400)."""


class UnknownKeyError(LogoutTokenError):
    """Signed with a key not in the JWKS we hold: fetch the JWKS again (a rotation)."""


class SeenTokens:
    """``jti`` values of accepted logout tokens, kept until their ``exp`` (§2.6 step 7)."""

    def __init__(self, limit: int = MAX_SEEN) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def add(self, jti: str, exp: float) -> bool:
        """Remember ``jti``; False if it was seen before (a replay)."""
        now = time.time()
        with self._lock:
            for old in [k for k, until in self._seen.items() if until + LEEWAY < now]:
                del self._seen[old]
            if jti in self._seen:
                return False
            self._seen[jti] = exp
            while len(self._seen) > self._limit:
                self._seen.popitem(last=False)
            return True


def validate_logout_token(
    token: str, jwks: KeySet, issuer: str, client_id: str, seen: SeenTokens
) -> dict[str, Any]:
    """§2.6: signature, ``typ``, ``iss``, ``aud``, ``iat``/``exp``, ``sub`` or ``sid``,
    ``events``, no ``nonce``, a ``jti`` not seen before. Returns the claims."""
    try:
        decoded = jwt.decode(token, jwks, algorithms=ALGORITHMS)
        claims: dict[str, Any] = dict(decoded.claims)
        jwt.JWTClaimsRegistry(
            leeway=LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(claims)
    except InvalidKeyIdError as error:
        raise UnknownKeyError(str(error)) from error
    except (JoseError, ValueError) as error:
        raise LogoutTokenError(f"{type(error).__name__}: {error}") from error
    if decoded.header.get("typ") not in LOGOUT_TYPES:
        raise LogoutTokenError("not typed logout+jwt")
    events = claims.get("events")
    if not isinstance(events, Mapping) or not isinstance(events.get(LOGOUT_EVENT), Mapping):
        raise LogoutTokenError("no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenError("a logout token has no nonce")
    if not isinstance(claims.get("sub"), str) and not isinstance(claims.get("sid"), str):
        raise LogoutTokenError("neither sub nor sid")
    if not seen.add(str(claims["jti"]), float(claims["exp"])):
        raise LogoutTokenError("jti seen before")
    return claims
