"""The OpenID Connect code flow against one upstream: the base of every OIDC broker.

OIDC Core §3.1 with RFC 7636 PKCE (S256); the per-login values are kept server-side by our
login transaction (UPSTREAMS.md "Rules for every connector"). The parts live beside it:
:mod:`brokers.code_flow` (authlib's client: authorization URL, callback, code redemption),
:mod:`brokers.discovery` (discovery and JWKS, cached), :mod:`brokers.id_token` (joserfc:
signature and claims), :mod:`brokers.settings` (the ``IDP_BROKER_<NAME>_*`` table).

What the base does, so a subclass does not:

- discovery (``{issuer}/.well-known/openid-configuration`` or ``discovery_url``), cached for
  ``discovery_ttl`` seconds; ``metadata_overrides`` replaces single endpoints after discovery;
  JWKS, cached for ``jwks_ttl`` seconds and fetched again once when the token names an unknown
  ``kid`` (:mod:`brokers.discovery`); a token without ``kid`` is verified with the single key
  of the right type (:mod:`brokers.id_token`);
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
- ``settings_from_config(values, env_prefix) -> dict[str, Any]`` (classmethod): the subclass's
  own ``IDP_BROKER_<NAME>_*`` settings (parsed by its ``SETTINGS`` table) as constructor
  keyword arguments.

Helpers for subclasses: :attr:`OidcBroker.issuer` (the discovery issuer, fetched on first use),
:meth:`OidcBroker.load_metadata`, :meth:`OidcBroker.fetch_userinfo` (``token`` -> claims, for
upstreams that put attributes only there).

Class attributes: ``name``; ``default_scopes``; ``default_discovery_url`` (used when neither
``issuer`` nor ``discovery_url`` is given, e.g. Google's). Construction from the
``IDP_BROKER_<NAME>_*`` environment is :meth:`OidcBroker.from_config`, checked by the class's
``SETTINGS`` table (:mod:`brokers.settings`); a subclass adds rows to :data:`OIDC_SETTINGS` and
turns them into keyword arguments in :meth:`OidcBroker.settings_from_config`.

Tokens, codes and verifiers are never logged; log lines carry the reason code only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import TypeVar

import requests
from joserfc.errors import JoseError

from brokers.base import Broker
from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.code_flow import CodeFlowClient
from brokers.discovery import DEFAULT_CACHE_TTL
from brokers.discovery import Discovery
from brokers.discovery import get_json
from brokers.id_token import DEFAULT_LEEWAY
from brokers.id_token import constant_time_equal
from brokers.id_token import validate_auth_time
from brokers.id_token import validate_registered_claims
from brokers.id_token import verify_signature
from brokers.oidc_settings import DEFAULT_TIMEOUT
from brokers.oidc_settings import OIDC_SETTINGS
from brokers.oidc_settings import TOKEN_ENDPOINT_AUTH_METHODS
from brokers.oidc_settings import oidc_arguments
from brokers.settings import Setting
from brokers.settings import parse_settings

logger = logging.getLogger(__name__)

B = TypeVar("B", bound="OidcBroker")


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
    SETTINGS: ClassVar[tuple[Setting, ...]] = OIDC_SETTINGS
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
        self.leeway = leeway
        self.clock = clock
        self.code_flow = CodeFlowClient(
            client_id, client_secret, token_endpoint_auth_method, self.scopes, timeout
        )
        self.discovery = Discovery(
            discovery_url,
            configured_issuer=issuer,
            metadata_overrides=metadata_overrides,
            timeout=timeout,
            discovery_ttl=discovery_ttl,
            jwks_ttl=jwks_ttl,
            clock=clock,
        )

    # -- construction from the environment -----------------------------------------------

    @classmethod
    def from_config(cls: type[B], config: Mapping[str, str], env_prefix: str) -> B:
        """A broker from ``IDP_BROKER_<NAME>_*`` settings (prefix stripped, keys lower-case),
        checked against the class's ``SETTINGS``; subclass settings go through
        :meth:`settings_from_config`.

        :raises ValueError: naming the environment variable that is missing or malformed.
        """
        values = parse_settings(cls.SETTINGS, config, env_prefix)
        own = cls.settings_from_config(values, env_prefix)
        has_default_discovery = cls.default_discovery_url is not None or "discovery_url" in own
        kwargs = oidc_arguments(values, env_prefix, has_default_discovery=has_default_discovery)
        kwargs.update(own)
        try:
            return cls(**kwargs)
        except ValueError as error:
            # a combination the constructor refuses (d account: ALLOW_HS256 with RS256)
            raise ValueError(f"{env_prefix}*: {error}") from error

    @classmethod
    def settings_from_config(cls, values: Mapping[str, Any], env_prefix: str) -> dict[str, Any]:
        """Constructor keyword arguments from the subclass's own settings (parsed by
        ``SETTINGS``). Default: none."""
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
        """The discovery document with the configured endpoints applied, cached.

        :raises BrokerError: ``timeout``, ``unreachable``, ``upstream_error``, ``wrong_issuer``.
        """
        return self.discovery.load_metadata()

    def load_jwks(self, *, force: bool = False) -> list[dict[str, Any]]:
        """The upstream's published keys, cached; ``force`` refetches."""
        return self.discovery.load_jwks(force=force)

    def fetch_userinfo(self, token: Mapping[str, Any]) -> dict[str, Any]:
        """The userinfo response for ``token`` (OIDC Core §5.3); the caller must check that its
        ``sub`` equals the ID token's (§5.3.2)."""
        endpoint = self.load_metadata().get("userinfo_endpoint")
        access_token = token.get("access_token")
        if not isinstance(endpoint, str) or not isinstance(access_token, str):
            raise BrokerError("upstream_error", "no userinfo endpoint or access token")
        return get_json(endpoint, "userinfo", self.timeout, bearer=access_token)

    # -- the flow ------------------------------------------------------------------------

    def start(self, request: UpstreamRequest) -> tuple[str, dict[str, Any]]:
        """The authorization URL and ``kept``: ``state``, ``nonce``, ``code_verifier``
        (``None`` without PKCE), ``redirect_uri`` and ``max_age`` (``None`` unless sent)."""
        metadata = self.load_metadata()
        params = self.authorize_params(request)
        url, kept = self.code_flow.authorization_url(
            metadata["authorization_endpoint"],
            request.redirect_uri,
            pkce=self.uses_pkce(metadata),
            params=params,
        )
        max_age = params.get("max_age")
        kept["max_age"] = int(max_age) if max_age is not None and max_age.isdigit() else None
        return url, kept

    def finish(self, callback: Mapping[str, str], kept: dict[str, Any]) -> BrokeredIdentity:
        """See :meth:`Broker.finish`; the checks and their order are in the module docstring."""
        try:
            try:
                code = self.code_flow.code_of(callback, kept)
                token = self.code_flow.redeem(self.load_metadata()["token_endpoint"], code, kept)
                id_token = token.get("id_token")
                if not isinstance(id_token, str) or not id_token:
                    raise BrokerError("invalid_id_token", "no id_token in the token response")
                claims = self.validate_id_token(id_token, kept)
                return self.identity_from_claims(claims, token)
            except (requests.RequestException, JoseError) as error:
                # a library error a hook did not wrap: still a refusal, never a 500
                raise BrokerError("upstream_error", type(error).__name__) from error
        except BrokerError as error:
            logger.info(
                "upstream sign-in failed", extra={"broker": self.name, "reason": error.reason}
            )
            raise

    def validate_id_token(self, id_token: str, kept: Mapping[str, Any]) -> dict[str, Any]:
        """The verified claims of ``id_token``; the checks are in the module docstring."""
        claims, signing_key = verify_signature(
            id_token,
            lambda force: self.load_jwks(force=force),
            allow_hs256=self.allow_hs256,
            client_secret=self.client_secret,
        )
        self.validate_issuer(claims, signing_key)
        validate_registered_claims(
            claims, client_id=self.client_id, now=int(self.clock()), leeway=self.leeway
        )
        if not constant_time_equal(claims.get("nonce"), kept.get("nonce")):
            raise BrokerError("nonce_mismatch")
        validate_auth_time(claims, kept.get("max_age"), now=self.clock(), leeway=self.leeway)
        self.validate_claims(claims)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise BrokerError("no_subject")
        return claims
