"""NTT docomo d account (d アカウント・コネクト, OpenID Connect), as UPSTREAMS.md "NTT docomo
d account" describes it.

What differs from :class:`~brokers.oidc.OidcBroker`:

- Issuer ``https://conf.uw.docomo.ne.jp/`` **with** its trailing slash, compared exactly
  (discovery ``issuer`` and ID token ``iss``): an issuer without the slash is refused.
- Every endpoint is configurable: ``discovery_url``, and the ``*_endpoint``/``jwks_uri``
  overrides of the base (older clients used ``/common/token``). The manual is issued to
  registered RPs only, so nothing here relies on metadata d account does not publish.
- Token endpoint client authentication: HTTP Basic (``client_secret_basic``).
- ID token algorithm pinned by ``id_token_alg``: ``RS256`` (JWKS whose single key has no
  ``kid``; the base picks the one RSA key) or ``HS256`` (HMAC with the client secret, for an
  RP registered that way). A token signed with the other algorithm is refused.
- Scope ``openid`` plus DOCOMO-assigned scope ids; ``extra_authorize_params`` for parameters
  seen in practice, e.g. ``authif=1`` (all accounts, not only docomo-line subscribers).
- No PKCE metadata: PKCE only when ``use_pkce`` is set.
- ``prompt=login`` for a fresh sign-in; no account chooser (L10: the page asks the person to
  sign out at d account), no ``max_age`` (not published), no ``login_hint`` (our hint is an
  email address, which d account has no use for).
- Subject ``sub`` (opaque, pairwise). Email only in the paid attribute tier and never
  verified. No ``amr``/``acr``: the identity says "federated, method unknown".

Settings: ``IDP_BROKER_DACCOUNT_<KEY>``, the OpenID Connect ones with d account's defaults plus
``ID_TOKEN_ALG`` (:data:`DACCOUNT_SETTINGS`; the README's table is generated from it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.id_token import unverified_header
from brokers.oidc import OidcBroker
from brokers.oidc_settings import OIDC_SETTINGS
from brokers.settings import Kind
from brokers.settings import Setting
from brokers.settings import replace_setting

DACCOUNT_ISSUER = "https://conf.uw.docomo.ne.jp/"
DACCOUNT_DISCOVERY_URL = f"{DACCOUNT_ISSUER}.well-known/openid-configuration"
#: ID token algorithms a d account RP can be registered for.
ID_TOKEN_ALGORITHMS = ("RS256", "HS256")

DACCOUNT_SETTINGS = (
    *replace_setting(
        replace_setting(
            replace_setting(
                replace_setting(OIDC_SETTINGS, "issuer", condition="no", default=DACCOUNT_ISSUER),
                "discovery_url",
                condition="no",
            ),
            "scopes",
            default="openid",
            meaning="`openid` plus DOCOMO-assigned scope ids",
        ),
        "use_pkce",
        default="false",
    ),
    Setting(
        "id_token_alg",
        Kind.CHOICE,
        "as the RP is registered; `HS256` is verified with the secret",
        default="RS256",
        choices=ID_TOKEN_ALGORITHMS,
    ),
)


class DAccountBroker(OidcBroker):
    """d account; every endpoint can be moved by configuration.

    :param issuer: ``https://conf.uw.docomo.ne.jp/`` unless a test points elsewhere; with
        ``discovery_url`` only the document moves, the issuer stays.
    :param id_token_alg: ``RS256`` (JWKS) or ``HS256`` (client secret), as registered.
    :param use_pkce: send an S256 ``code_challenge``; off, as d account publishes no PKCE.
    """

    name = "daccount"
    default_scopes = ("openid",)
    default_discovery_url = DACCOUNT_DISCOVERY_URL
    SETTINGS = DACCOUNT_SETTINGS

    def __init__(
        self,
        *,
        issuer: str | None = None,
        id_token_alg: str = "RS256",
        use_pkce: bool = False,
        **settings: Any,
    ) -> None:
        if id_token_alg not in ID_TOKEN_ALGORITHMS:
            raise ValueError(f"id_token_alg must be RS256 or HS256, not {id_token_alg!r}")
        if settings.pop("allow_hs256", False) and id_token_alg != "HS256":
            raise ValueError("d account: set id_token_alg to HS256 rather than allow_hs256")
        settings.setdefault("token_endpoint_auth_method", "client_secret_basic")
        super().__init__(
            issuer=issuer or DACCOUNT_ISSUER,
            use_pkce=use_pkce,
            allow_hs256=id_token_alg == "HS256",
            **settings,
        )
        self.id_token_alg = id_token_alg

    @classmethod
    def settings_from_config(cls, values: Mapping[str, Any], env_prefix: str) -> dict[str, Any]:
        return {"id_token_alg": values["id_token_alg"]} if "id_token_alg" in values else {}

    def prompt_params(self, request: UpstreamRequest) -> dict[str, str]:
        return {"prompt": "login"} if request.force_login else {}

    def validate_id_token(self, id_token: str, kept: Mapping[str, Any]) -> dict[str, Any]:
        # The algorithm the RP is registered for, before any key is chosen (RFC 8725 §3.1).
        if unverified_header(id_token)["alg"] != self.id_token_alg:
            raise BrokerError("invalid_id_token", f"alg is not {self.id_token_alg}")
        return super().validate_id_token(id_token, kept)

    def identity_from_claims(
        self, claims: Mapping[str, Any], token: Mapping[str, Any]
    ) -> BrokeredIdentity:
        identity = super().identity_from_claims(claims, token)
        return dataclasses.replace(
            identity, email_verified=False, upstream_amr=(), upstream_acr=None
        )
