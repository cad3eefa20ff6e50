"""The OpenID Connect code flow against one upstream: the base of every OIDC broker.

OIDC Core §3.1 (authorization code flow) with RFC 7636 PKCE (S256), the per-login values kept
server-side by our login transaction (UPSTREAMS.md "Rules for every connector"). authlib's
requests client (:class:`~authlib.integrations.requests_client.OAuth2Session`) builds the
authorization URL and redeems the code; joserfc verifies the ID token. The Flask
integration's ``authorize_redirect`` is not used: it keeps ``state``/``nonce`` in the cookie
session.

What the base does, so a subclass does not:

- discovery (``{issuer}/.well-known/openid-configuration`` or ``discovery_url``), cached for
  ``discovery_ttl`` seconds; ``metadata_overrides`` replaces single endpoints after discovery;
- JWKS, cached for ``jwks_ttl`` seconds and fetched again once when the token names an unknown
  ``kid``; a token without ``kid`` is verified with the single key of the right type;
- ``state`` (checked in constant time), ``nonce``, PKCE verifier; the token request with the
  configured client authentication; every failure as :class:`BrokerError` with a reason code
  from :data:`brokers.base.REASONS` -- no other exception escapes ``start``/``finish``;
- ID token checks, in this order (reason in brackets): signature with an algorithm that fits
  the key type, never ``none``; ``HS256``/``384``/``512`` with the client secret only when
  ``allow_hs256`` [invalid_id_token] -> :meth:`OidcBroker.validate_issuer` [wrong_issuer] ->
  ``aud`` contains our client id, ``azp`` equals it when present and is required when ``aud``
  has several values, ``exp``/``iat`` with ``leeway`` [invalid_id_token] -> ``nonce``
  [nonce_mismatch] -> ``auth_time`` within ``max_age`` when we sent ``max_age`` and the token
  has ``auth_time`` [invalid_id_token] -> :meth:`OidcBroker.validate_claims` -> ``sub``
  [no_subject] -> :meth:`OidcBroker.identity_from_claims`.

How a subclass uses it (``google.py`` and ``microsoft.py`` are the worked examples)::

    class ExampleBroker(OidcBroker):
        name = "example"                      # registry name and BrokeredIdentity.provider
        default_scopes = ("openid", "email")  # when the constructor gets no ``scopes``

        def prompt_params(self, request: UpstreamRequest) -> dict[str, str]:
            # what the upstream understands of force_login / max_age / select_account
            return {"prompt": "login"} if request.force_login else {}

        def identity_from_claims(self, claims, token) -> BrokeredIdentity:
            identity = super().identity_from_claims(claims, token)  # sub, email, amr, acr, name
            return dataclasses.replace(identity, email_verified=False)

Hooks (override only what differs; raise :class:`BrokerError` to refuse):

- ``prompt_params(request: UpstreamRequest) -> dict[str, str]``: ``prompt``/``max_age``/
  ``login_hint``. Default: ``prompt=login`` on ``force_login`` and ``select_account`` on
  ``select_account`` (space separated when both), ``max_age`` when given, ``login_hint``.
- ``authorize_params(request: UpstreamRequest) -> dict[str, str]``: every extra authorization
  parameter. Default: ``extra_authorize_params`` then ``prompt_params``. Add ``resource``,
  ``hd``, ``authif`` here.
- ``uses_pkce(metadata: Mapping[str, Any]) -> bool``: default the ``use_pkce`` setting (AD FS:
  only when discovery lists ``code_challenge_methods_supported``).
- ``validate_issuer(claims: Mapping[str, Any], signing_key: Mapping[str, Any] | None) -> None``:
  default ``iss`` == discovery ``issuer`` exactly, else ``wrong_issuer``. ``signing_key`` is
  the published JWK (as in the JWKS, e.g. with Microsoft's ``issuer`` member) that verified the
  token; ``None`` for HS256.
- ``validate_claims(claims: Mapping[str, Any]) -> None``: extra checks after the standard ones
  (Google ``hd``). Default: none.
- ``identity_from_claims(claims: Mapping[str, Any], token: Mapping[str, Any])
  -> BrokeredIdentity``: default provider ``name``, issuer = discovery ``issuer``, subject
  ``sub``, ``email``, ``email_verified`` only when exactly ``true``, ``amr``, ``acr``, ``name``.
  ``token`` is the token response (for :meth:`OidcBroker.fetch_userinfo`).
- ``settings_from_config(config, env_prefix) -> dict[str, Any]`` (classmethod): the subclass's
  own ``IDP_BROKER_<NAME>_*`` settings as constructor keyword arguments.

Helpers for subclasses: :attr:`OidcBroker.issuer` (the discovery issuer, fetched on first use),
:meth:`OidcBroker.load_metadata`, :meth:`OidcBroker.fetch_userinfo` (``token`` -> claims, for
upstreams that put attributes only there), and :func:`require_setting` for ``from_config``.

Class attributes: ``name``; ``default_scopes``; ``default_discovery_url`` (used when neither
``issuer`` nor ``discovery_url`` is given, e.g. Google's). Construction from the
``IDP_BROKER_<NAME>_*`` environment is :meth:`OidcBroker.from_config`; a subclass adds its own
settings by overriding :meth:`OidcBroker.settings_from_config` (see ``registry.py``).

Tokens, codes and verifiers are never logged; log lines carry the reason code only.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

import requests
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.integrations.base_client import OAuthError  # type: ignore[import-untyped]
from authlib.integrations.requests_client import OAuth2Session  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import ClaimError
from joserfc.errors import ExpiredTokenError
from joserfc.errors import JoseError
from joserfc.errors import MissingClaimError
from joserfc.jwk import Key
from joserfc.jwk import OctKey
from joserfc.jwk import import_key
from joserfc.jws import JWSRegistry

from brokers.base import Broker
from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest

logger = logging.getLogger(__name__)

#: JWS algorithms a verification key of each ``kty`` may be used with (RFC 7518 §3, RFC 9864).
#: ``none`` is never accepted; ``oct`` (HMAC with the client secret) only with ``allow_hs256``.
ALGORITHMS_BY_KEY_TYPE: Mapping[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512"}),
    "OKP": frozenset({"Ed25519"}),
}
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
#: Discovery members without which the code flow cannot run.
REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint")
DEFAULT_TIMEOUT = 10.0
DEFAULT_CACHE_TTL = 3600.0
#: Clock skew allowed on ``exp``, ``iat`` and ``auth_time``.
DEFAULT_LEEWAY = 120

B = TypeVar("B", bound="OidcBroker")


def require_setting(config: Mapping[str, str], key: str, env_prefix: str) -> str:
    """``config[key]``, or :class:`ValueError` naming the environment variable that is unset.

    :param env_prefix: e.g. ``IDP_BROKER_GOOGLE_``; the message names ``{env_prefix}{KEY}``.
    """
    value = config.get(key, "").strip()
    if not value:
        raise ValueError(f"{env_prefix}{key.upper()} is not set")
    return value


def _parse_bool(value: str, env_name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{env_name} must be true or false, not {value!r}")


def _unverified_header(id_token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, to pick the key; verified afterwards with the key."""
    try:
        segment = id_token.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, IndexError) as error:
        raise BrokerError("invalid_id_token", "not a compact JWS") from error
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise BrokerError("invalid_id_token", "no alg in the header")
    return header


def _constant_time_equal(a: object, b: object) -> bool:
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


class OidcBroker(Broker):
    """An OpenID Connect upstream: discovery, code flow with PKCE, ID token validation.

    :param client_id: our client id at the upstream.
    :param client_secret: our client secret (also the HS256 key when ``allow_hs256``).
    :param issuer: the upstream's issuer; discovery is ``{issuer}/.well-known/openid-configuration``
        and its ``issuer`` must equal this value (OIDC Discovery §4.3).
    :param discovery_url: discovery document URL when it is not under the issuer (Microsoft).
    :param scopes: requested scopes; ``default_scopes`` when not given.
    :param token_endpoint_auth_method: ``client_secret_basic``, ``client_secret_post`` or ``none``.
    :param extra_authorize_params: sent on every authorization request (d account ``authif``).
    :param use_pkce: send an S256 ``code_challenge`` (see :meth:`uses_pkce`).
    :param timeout: seconds for each HTTP request to the upstream.
    :param allow_hs256: accept HMAC-signed ID tokens, verified with the client secret.
    :param metadata_overrides: replace members of the discovery document (endpoints).
    :param discovery_ttl: seconds the discovery document is cached.
    :param jwks_ttl: seconds the JWKS is cached.
    :param leeway: seconds of clock skew on ``exp``, ``iat``, ``auth_time``.
    :param clock: ``time.time`` unless a test passes another.
    """

    name = "oidc"
    default_scopes: tuple[str, ...] = ("openid", "email", "profile")
    default_discovery_url: str | None = None

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        issuer: str | None = None,
        discovery_url: str | None = None,
        scopes: Sequence[str] | None = None,
        token_endpoint_auth_method: str = "client_secret_basic",
        extra_authorize_params: Mapping[str, str] | None = None,
        use_pkce: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        allow_hs256: bool = False,
        metadata_overrides: Mapping[str, Any] | None = None,
        discovery_ttl: float = DEFAULT_CACHE_TTL,
        jwks_ttl: float = DEFAULT_CACHE_TTL,
        leeway: int = DEFAULT_LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not client_id:
            raise ValueError("client_id is required")
        if token_endpoint_auth_method not in TOKEN_ENDPOINT_AUTH_METHODS:
            raise ValueError(f"unsupported token_endpoint_auth_method {token_endpoint_auth_method}")
        if allow_hs256 and not client_secret:
            raise ValueError("allow_hs256 needs the client secret")
        if discovery_url is None:
            if issuer:
                discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
            else:
                discovery_url = self.default_discovery_url
        if not discovery_url:
            raise ValueError("issuer or discovery_url is required")
        self.client_id = client_id
        self.client_secret = client_secret
        self.configured_issuer = issuer
        self.discovery_url = discovery_url
        self.scopes = tuple(scopes) if scopes else self.default_scopes
        self.token_endpoint_auth_method = token_endpoint_auth_method
        self.extra_authorize_params = dict(extra_authorize_params or {})
        self.use_pkce = use_pkce
        self.timeout = timeout
        self.allow_hs256 = allow_hs256
        self.metadata_overrides = dict(metadata_overrides or {})
        self.discovery_ttl = discovery_ttl
        self.jwks_ttl = jwks_ttl
        self.leeway = leeway
        self.clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_expires = 0.0
        self._jwks: list[dict[str, Any]] | None = None
        self._jwks_expires = 0.0

    # -- construction from the environment -----------------------------------------------

    @classmethod
    def from_config(cls: type[B], config: Mapping[str, str], env_prefix: str) -> B:
        """A broker from ``IDP_BROKER_<NAME>_*`` settings (prefix stripped, keys lower-case).

        Common settings: ``client_id``, ``client_secret`` (required); ``issuer`` or
        ``discovery_url`` (required unless the class has ``default_discovery_url``);
        ``scopes`` (space separated), ``token_endpoint_auth_method``, ``use_pkce``,
        ``timeout``, ``allow_hs256``, ``extra_authorize_params`` (``a=1&b=2``) and
        ``*_endpoint``/``jwks_uri`` overrides. Subclass settings: :meth:`settings_from_config`.

        :raises ValueError: naming the environment variable that is missing or malformed.
        """
        kwargs: dict[str, Any] = {
            "client_id": require_setting(config, "client_id", env_prefix),
            "client_secret": config.get("client_secret", ""),
        }
        for key in ("issuer", "discovery_url", "token_endpoint_auth_method"):
            if config.get(key):
                kwargs[key] = config[key]
        if config.get("scopes"):
            kwargs["scopes"] = tuple(config["scopes"].split())
        for key in ("use_pkce", "allow_hs256"):
            if config.get(key):
                kwargs[key] = _parse_bool(config[key], f"{env_prefix}{key.upper()}")
        if config.get("timeout"):
            try:
                kwargs["timeout"] = float(config["timeout"])
            except ValueError as error:
                raise ValueError(f"{env_prefix}TIMEOUT must be a number of seconds") from error
        if config.get("extra_authorize_params"):
            pairs = [p.partition("=") for p in config["extra_authorize_params"].split("&") if p]
            kwargs["extra_authorize_params"] = {k: v for k, _, v in pairs}
        overrides = {
            key: value
            for key, value in config.items()
            if value and (key.endswith("_endpoint") or key == "jwks_uri")
        }
        if overrides:
            kwargs["metadata_overrides"] = overrides
        kwargs.update(cls.settings_from_config(config, env_prefix))
        if "issuer" not in kwargs and "discovery_url" not in kwargs:
            if cls.default_discovery_url is None:
                raise ValueError(f"{env_prefix}ISSUER or {env_prefix}DISCOVERY_URL is not set")
        if not kwargs["client_secret"] and kwargs.get("token_endpoint_auth_method") != "none":
            raise ValueError(f"{env_prefix}CLIENT_SECRET is not set")
        return cls(**kwargs)

    @classmethod
    def settings_from_config(cls, config: Mapping[str, str], env_prefix: str) -> dict[str, Any]:
        """Constructor keyword arguments from the subclass's own settings. Default: none."""
        return {}

    # -- hooks ---------------------------------------------------------------------------

    def prompt_params(self, request: UpstreamRequest) -> dict[str, str]:
        """Map ``force_login``, ``select_account``, ``max_age``, ``login_hint`` (OIDC Core
        §3.1.2.1) to authorization request parameters."""
        params: dict[str, str] = {}
        prompt = []
        if request.force_login:
            prompt.append("login")
        if request.select_account:
            prompt.append("select_account")
        if prompt:
            params["prompt"] = " ".join(prompt)
        if request.max_age is not None:
            params["max_age"] = str(request.max_age)
        if request.login_hint:
            params["login_hint"] = request.login_hint
        return params

    def authorize_params(self, request: UpstreamRequest) -> dict[str, str]:
        """Every authorization request parameter beyond the protocol's own."""
        return {**self.extra_authorize_params, **self.prompt_params(request)}

    def uses_pkce(self, metadata: Mapping[str, Any]) -> bool:
        """Whether to send an S256 ``code_challenge`` to this upstream."""
        return self.use_pkce

    def validate_issuer(
        self, claims: Mapping[str, Any], signing_key: Mapping[str, Any] | None
    ) -> None:
        """Refuse a token whose ``iss`` is not the discovery issuer (OIDC Core §3.1.3.7 step 2).

        :param signing_key: the published JWK that verified the token; ``None`` for HS256.
        :raises BrokerError: ``wrong_issuer``.
        """
        if claims.get("iss") != self.issuer:
            raise BrokerError("wrong_issuer", "iss is not the discovery issuer")

    def validate_claims(self, claims: Mapping[str, Any]) -> None:
        """Upstream-specific checks after the standard ones. Default: none."""

    def identity_from_claims(
        self, claims: Mapping[str, Any], token: Mapping[str, Any]
    ) -> BrokeredIdentity:
        """The identity keyed on (``name``, discovery issuer, ``sub``) (L7).

        :param token: the token endpoint response (``access_token`` for :meth:`fetch_userinfo`).
        """
        amr = claims.get("amr")
        acr = claims.get("acr")
        email = claims.get("email")
        display_name = claims.get("name")
        return BrokeredIdentity(
            provider=self.name,
            issuer=self.issuer,
            subject=str(claims["sub"]),
            email=email if isinstance(email, str) and email else None,
            email_verified=claims.get("email_verified") is True,
            upstream_amr=tuple(v for v in amr if isinstance(v, str))
            if isinstance(amr, list)
            else (),
            upstream_acr=acr if isinstance(acr, str) else None,
            display_name=display_name if isinstance(display_name, str) else None,
        )

    # -- discovery and keys --------------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The discovery document's ``issuer`` (for Microsoft a ``{tenantid}`` template)."""
        return str(self.load_metadata()["issuer"])

    def load_metadata(self) -> dict[str, Any]:
        """The discovery document with ``metadata_overrides`` applied, cached.

        :raises BrokerError: ``timeout``, ``unreachable``, ``upstream_error``, ``wrong_issuer``.
        """
        now = self.clock()
        with self._lock:
            if self._metadata is not None and now < self._metadata_expires:
                return self._metadata
        document = self._get_json(self.discovery_url, "discovery")
        missing = [key for key in REQUIRED_METADATA if not isinstance(document.get(key), str)]
        if missing:
            raise BrokerError("upstream_error", f"discovery lacks {', '.join(missing)}")
        if self.configured_issuer is not None and document["issuer"] != self.configured_issuer:
            raise BrokerError("wrong_issuer", "discovery issuer is not the configured issuer")
        metadata = {**document, **self.metadata_overrides}
        with self._lock:
            self._metadata = metadata
            self._metadata_expires = now + self.discovery_ttl
        return metadata

    def load_jwks(self, *, force: bool = False) -> list[dict[str, Any]]:
        """The upstream's published keys (``keys`` of ``jwks_uri``), cached; ``force`` refetches."""
        now = self.clock()
        with self._lock:
            if not force and self._jwks is not None and now < self._jwks_expires:
                return self._jwks
        uri = self.load_metadata().get("jwks_uri")
        if not isinstance(uri, str):
            raise BrokerError("upstream_error", "discovery has no jwks_uri")
        document = self._get_json(uri, "jwks")
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise BrokerError("upstream_error", "jwks has no keys")
        jwks = [key for key in keys if isinstance(key, dict)]
        with self._lock:
            self._jwks = jwks
            self._jwks_expires = now + self.jwks_ttl
        return jwks

    def fetch_userinfo(self, token: Mapping[str, Any]) -> dict[str, Any]:
        """The userinfo response for ``token`` (OIDC Core §5.3); the caller must check that its
        ``sub`` equals the ID token's (§5.3.2)."""
        endpoint = self.load_metadata().get("userinfo_endpoint")
        access_token = token.get("access_token")
        if not isinstance(endpoint, str) or not isinstance(access_token, str):
            raise BrokerError("upstream_error", "no userinfo endpoint or access token")
        return self._get_json(endpoint, "userinfo", bearer=access_token)

    def _get_json(self, url: str, what: str, bearer: str | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            response = requests.get(url, headers=headers, timeout=self.timeout)
            response.raise_for_status()
            document = response.json()
        except requests.Timeout as error:
            raise BrokerError("timeout", what) from error
        except requests.ConnectionError as error:
            raise BrokerError("unreachable", what) from error
        except (requests.RequestException, ValueError) as error:
            raise BrokerError("upstream_error", f"{what}: {type(error).__name__}") from error
        if not isinstance(document, dict):
            raise BrokerError("upstream_error", f"{what} is not a JSON object")
        return document

    # -- the flow ------------------------------------------------------------------------

    def start(self, request: UpstreamRequest) -> tuple[str, dict[str, Any]]:
        """The authorization URL (``response_type=code``, default query response mode) and
        ``kept`` = ``state``, ``nonce``, ``code_verifier`` (``None`` without PKCE),
        ``redirect_uri`` and ``max_age`` (``None`` unless sent)."""
        metadata = self.load_metadata()
        pkce = self.uses_pkce(metadata)
        state = generate_token(32)
        nonce = generate_token(32)
        code_verifier = generate_token(64) if pkce else None
        params = self.authorize_params(request)
        with self._client(request.redirect_uri, pkce) as client:
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                code_verifier=code_verifier,
                nonce=nonce,
                **params,
            )
        max_age = params.get("max_age")
        kept = {
            "state": state,
            "nonce": nonce,
            "code_verifier": code_verifier,
            "redirect_uri": request.redirect_uri,
            "max_age": int(max_age) if max_age is not None and max_age.isdigit() else None,
        }
        return str(url), kept

    def finish(self, callback: Mapping[str, str], kept: dict[str, Any]) -> BrokeredIdentity:
        """See :meth:`Broker.finish`; the checks and their order are in the module docstring."""
        try:
            try:
                return self._finish(callback, kept)
            except (requests.RequestException, JoseError) as error:
                # a library error a hook did not wrap: still a refusal, never a 500
                raise BrokerError("upstream_error", type(error).__name__) from error
        except BrokerError as error:
            logger.info(
                "upstream sign-in failed", extra={"broker": self.name, "reason": error.reason}
            )
            raise

    def _finish(self, callback: Mapping[str, str], kept: Mapping[str, Any]) -> BrokeredIdentity:
        if not _constant_time_equal(callback.get("state"), kept.get("state")):
            raise BrokerError("bad_state")
        error = callback.get("error")
        if error:
            if error == "access_denied":
                raise BrokerError("access_denied")
            raise BrokerError("upstream_error", str(error)[:64])
        code = callback.get("code")
        if not code:
            raise BrokerError("missing_code")
        token = self._redeem_code(code, kept)
        id_token = token.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise BrokerError("invalid_id_token", "no id_token in the token response")
        claims = self.validate_id_token(id_token, kept)
        return self.identity_from_claims(claims, token)

    def _client(self, redirect_uri: str, pkce: bool) -> Any:
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            scope=" ".join(self.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256" if pkce else None,
            default_timeout=self.timeout,
        )

    def _redeem_code(self, code: str, kept: Mapping[str, Any]) -> dict[str, Any]:
        metadata = self.load_metadata()
        verifier = kept.get("code_verifier")
        extra = {"code_verifier": verifier} if isinstance(verifier, str) else {}
        try:
            with self._client(str(kept.get("redirect_uri")), verifier is not None) as client:
                token = client.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    timeout=self.timeout,
                    **extra,
                )
        except requests.Timeout as error:
            raise BrokerError("timeout", "token endpoint") from error
        except requests.ConnectionError as error:
            raise BrokerError("unreachable", "token endpoint") from error
        except OAuthError as error:
            raise BrokerError("token_error", str(error.error)[:64]) from error
        except (requests.RequestException, ValueError) as error:
            raise BrokerError("token_error", type(error).__name__) from error
        return dict(token)

    def validate_id_token(self, id_token: str, kept: Mapping[str, Any]) -> dict[str, Any]:
        """The verified claims of ``id_token``; the checks are in the module docstring."""
        claims, signing_key = self._verify_signature(id_token)
        self.validate_issuer(claims, signing_key)
        registry = jwt.JWTClaimsRegistry(
            now=int(self.clock()),
            leeway=self.leeway,
            iss={"essential": True},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
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
        if (azp is not None or len(audiences) > 1) and azp != self.client_id:
            raise BrokerError("invalid_id_token", "azp")
        if not _constant_time_equal(claims.get("nonce"), kept.get("nonce")):
            raise BrokerError("nonce_mismatch")
        self._validate_auth_time(claims, kept.get("max_age"))
        self.validate_claims(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise BrokerError("no_subject")
        return claims

    def _validate_auth_time(self, claims: Mapping[str, Any], max_age: object) -> None:
        # OIDC Core §3.1.3.7 step 13; upstreams that ignore max_age (Microsoft) send no auth_time
        auth_time = claims.get("auth_time")
        if not isinstance(max_age, int) or auth_time is None:
            return
        if not isinstance(auth_time, (int, float)) or isinstance(auth_time, bool):
            raise BrokerError("invalid_id_token", "auth_time")
        if auth_time + max_age + self.leeway < self.clock():
            raise BrokerError("invalid_id_token", "auth_time older than max_age")

    def _verify_signature(self, id_token: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        header = _unverified_header(id_token)
        alg = header["alg"]
        if alg in HMAC_ALGORITHMS:
            if not self.allow_hs256:
                raise BrokerError("invalid_id_token", f"{alg} is not enabled")
            return self._decode(id_token, OctKey.import_key(self.client_secret), alg), None
        kid = header.get("kid")
        candidates = self._candidate_keys(self.load_jwks(), alg, kid)
        if not candidates:
            # a key rotation we have not seen yet: fetch the JWKS once more (OIDC Core §10.1.1)
            candidates = self._candidate_keys(self.load_jwks(force=True), alg, kid)
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
                return self._decode(id_token, key, alg), published
            except BrokerError as error:
                failure = error
        assert failure is not None
        raise failure

    @staticmethod
    def _candidate_keys(jwks: list[dict[str, Any]], alg: str, kid: object) -> list[dict[str, Any]]:
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

    @staticmethod
    def _decode(id_token: str, key: Key, alg: str) -> dict[str, Any]:
        registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
        try:
            token = jwt.decode(id_token, key, algorithms=[alg], registry=registry)
        except (JoseError, ValueError, TypeError) as error:
            raise BrokerError("invalid_id_token", "signature") from error
        return dict(token.claims)
