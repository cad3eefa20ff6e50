"""ID token checks that do not depend on the upstream (OIDC Core §3.1.3.7): the signature with
a key that fits the algorithm, the registered claims, ``azp``, ``nonce`` and ``auth_time``.

:class:`~brokers.oidc.OidcBroker.validate_id_token` runs them in order around its hooks
(``validate_issuer``, ``validate_claims``); joserfc does the JOSE work.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from joserfc import jwt
from joserfc.errors import ClaimError
from joserfc.errors import ExpiredTokenError
from joserfc.errors import JoseError
from joserfc.errors import MissingClaimError
from joserfc.jwk import Key
from joserfc.jwk import OctKey
from joserfc.jwk import import_key
from joserfc.jws import JWSRegistry

from brokers.base import BrokerError

#: JWS algorithms a verification key of each ``kty`` may be used with (RFC 7518 §3, RFC 9864).
#: ``none`` is never accepted; ``oct`` (HMAC with the client secret) only with ``allow_hs256``.
ALGORITHMS_BY_KEY_TYPE: Mapping[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"Ed25519"}),
}
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
#: Clock skew allowed on ``exp``, ``iat`` and ``auth_time``.
DEFAULT_LEEWAY = 120

#: ``load_jwks(force)``: the published keys; ``force`` fetches them again.
JwksLoader = Callable[[bool], list[dict[str, Any]]]


def constant_time_equal(a: object, b: object) -> bool:
    """Two non-empty strings are equal, compared in constant time (``state``, ``nonce``)."""
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


def unverified_header(id_token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, to pick the key; verified afterwards with the key."""
    try:
        segment = id_token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, IndexError) as error:
        raise BrokerError("invalid_id_token", "not a compact JWS") from error
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise BrokerError("invalid_id_token", "no alg in the header")
    return header


def verify_signature(
    id_token: str, load_jwks: JwksLoader, *, allow_hs256: bool, client_secret: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The claims of a token whose signature verifies, and the published JWK that verified it
    (``None`` for HMAC with the client secret).

    :raises BrokerError: ``invalid_id_token``.
    """
    header = unverified_header(id_token)
    alg = header["alg"]
    if alg in HMAC_ALGORITHMS:
        if not allow_hs256:
            raise BrokerError("invalid_id_token", f"{alg} is not enabled")
        return decode(id_token, OctKey.import_key(client_secret), alg), None
    kid = header.get("kid")
    candidates = candidate_keys(load_jwks(False), alg, kid)
    if not candidates:
        # a key rotation we have not seen yet: fetch the JWKS once more (OIDC Core §10.1.1)
        candidates = candidate_keys(load_jwks(True), alg, kid)
    if not candidates:
        raise BrokerError("invalid_id_token", "no published key fits the token")
    failure: BrokerError | None = None
    for published in candidates:
        try:
            key = import_key(published)
        except (JoseError, ValueError, TypeError) as error:
            failure = BrokerError("invalid_id_token", "unusable published key")
            failure.__cause__ = error
            continue
        try:
            return decode(id_token, key, alg), published
        except BrokerError as error:
            failure = error
    assert failure is not None
    raise failure


def candidate_keys(jwks: list[dict[str, Any]], alg: str, kid: object) -> list[dict[str, Any]]:
    """Keys that may have signed a token with ``alg`` and ``kid`` (``None``: kid-less)."""
    fitting = [
        key
        for key in jwks
        if alg in ALGORITHMS_BY_KEY_TYPE.get(str(key.get("kty")), frozenset())
        and key.get("use", "sig") == "sig"
        and key.get("alg", alg) == alg
    ]
    if kid is None:
        return fitting
    return [key for key in fitting if key.get("kid") == kid]


def decode(id_token: str, key: Key, alg: str) -> dict[str, Any]:
    """The claims of ``id_token`` if ``key`` verifies it with ``alg``."""
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    try:
        token = jwt.decode(id_token, key, algorithms=[alg], registry=registry)
    except (JoseError, ValueError, TypeError) as error:
        raise BrokerError("invalid_id_token", "signature") from error
    return dict(token.claims)


def validate_registered_claims(
    claims: Mapping[str, Any], *, client_id: str, now: int, leeway: int
) -> None:
    """``iss`` present, ``aud`` contains ``client_id``, ``exp``/``iat`` within ``leeway``; ``azp``
    equals ``client_id`` when present, and is required when ``aud`` has several values.

    :raises BrokerError: ``invalid_id_token``.
    """
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(dict(claims))
    except ExpiredTokenError as error:
        raise BrokerError("invalid_id_token", "expired") from error
    except MissingClaimError as error:
        raise BrokerError("invalid_id_token", f"missing {error.claim}") from error
    except ClaimError as error:
        raise BrokerError("invalid_id_token", error.claim) from error
    except JoseError as error:
        raise BrokerError("invalid_id_token", error.error) from error
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (azp is not None or len(audiences) > 1) and azp != client_id:
        raise BrokerError("invalid_id_token", "azp")


def validate_auth_time(
    claims: Mapping[str, Any], max_age: object, *, now: float, leeway: int
) -> None:
    """``auth_time`` within ``max_age`` when we sent ``max_age`` (OIDC Core §3.1.3.7 step 13).
    Upstreams that ignore ``max_age`` (Microsoft) send no ``auth_time``: nothing to hold."""
    auth_time = claims.get("auth_time")
    if not isinstance(max_age, int) or auth_time is None:
        return
    if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool):
        raise BrokerError("invalid_id_token", "auth_time")
    if auth_time + max_age + leeway < now:
        raise BrokerError("invalid_id_token", "auth_time older than max_age")
