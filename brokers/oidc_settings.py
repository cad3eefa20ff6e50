"""The settings of an OpenID Connect upstream, ``IDP_BROKER_<NAME>_<KEY>``: the table every
OIDC broker shares (:data:`OIDC_SETTINGS`, which a subclass extends) and how the parsed values
become :class:`~brokers.oidc.OidcBroker` keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokers.settings import Kind
from brokers.settings import Setting

TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
DEFAULT_TIMEOUT = 10.0
#: Discovery members a setting may replace (``IDP_BROKER_<NAME>_TOKEN_ENDPOINT`` …).
METADATA_OVERRIDES = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")

#: The settings every OpenID Connect upstream reads, ``IDP_BROKER_<NAME>_<KEY>``.
OIDC_SETTINGS: tuple[Setting, ...] = (
    Setting("client_id", Kind.TEXT, "our client id at the upstream", required=True),
    Setting(
        "client_secret",
        Kind.SECRET,
        "our client secret",
        condition="yes, unless auth method `none`",
    ),
    Setting(
        "issuer",
        Kind.URL,
        "issuer; discovery under it must name it",
        condition="this or `DISCOVERY_URL`",
    ),
    Setting("discovery_url", Kind.URL, "discovery document URL", condition="this or `ISSUER`"),
    Setting("scopes", Kind.WORDS, "requested scopes", default="openid email profile"),
    Setting(
        "token_endpoint_auth_method",
        Kind.CHOICE,
        "client authentication at the token endpoint",
        default="client_secret_basic",
        choices=TOKEN_ENDPOINT_AUTH_METHODS,
    ),
    Setting("use_pkce", Kind.BOOL, "S256 code challenge", default="true"),
    Setting("timeout", Kind.SECONDS, "per upstream HTTP request", default="10"),
    Setting("allow_hs256", Kind.BOOL, "HS256 ID tokens, verified with the secret", default="false"),
    Setting("extra_authorize_params", Kind.PARAMS, "added to every authorization request"),
    *(Setting(key, Kind.URL, "replaces the discovered value") for key in METADATA_OVERRIDES),
)


def oidc_arguments(
    values: Mapping[str, Any], env_prefix: str, *, has_default_discovery: bool
) -> dict[str, Any]:
    """Constructor keyword arguments from the parsed common settings.

    :param values: :func:`brokers.settings.parse_settings` of the class's ``SETTINGS``.
    :param has_default_discovery: the class knows its discovery URL (Google, d account).
    :raises ValueError: naming the variable when a combination is incomplete: neither
        ``ISSUER`` nor ``DISCOVERY_URL``; no ``CLIENT_SECRET`` unless the auth method is ``none``.
    """
    kwargs: dict[str, Any] = {
        "client_id": values["client_id"],
        "client_secret": values.get("client_secret", ""),
    }
    for key in (
        "issuer",
        "discovery_url",
        "token_endpoint_auth_method",
        "scopes",
        "use_pkce",
        "allow_hs256",
        "timeout",
        "extra_authorize_params",
    ):
        if key in values:
            kwargs[key] = values[key]
    overrides = {key: values[key] for key in METADATA_OVERRIDES if key in values}
    if overrides:
        kwargs["metadata_overrides"] = overrides
    if "issuer" not in kwargs and "discovery_url" not in kwargs and not has_default_discovery:
        raise ValueError(f"{env_prefix}ISSUER or {env_prefix}DISCOVERY_URL is not set")
    if not kwargs["client_secret"] and kwargs.get("token_endpoint_auth_method") != "none":
        raise ValueError(f"{env_prefix}CLIENT_SECRET is not set")
    return kwargs
