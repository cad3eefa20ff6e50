"""The upstreams we broker, by registry name, built from the ``IDP_BROKER_<NAME>_*`` settings.

:func:`build_broker` receives one broker's settings with the prefix stripped and the keys in
lower case (``IDP_BROKER_GOOGLE_CLIENT_ID`` -> ``client_id``) and raises :class:`ValueError`
naming the environment variable when a required one is missing, so startup stops (STYLE §7).

Settings of every OpenID Connect broker (:meth:`brokers.oidc.OidcBroker.from_config`), each
``IDP_BROKER_<NAME>_<SETTING>``:

| Setting | Required | Meaning |
| --- | --- | --- |
| `CLIENT_ID` | yes | our client id at the upstream |
| `CLIENT_SECRET` | yes, unless auth method `none` | our client secret |
| `ISSUER` | this or `DISCOVERY_URL` (1) | issuer; discovery under it must name it |
| `DISCOVERY_URL` | this or `ISSUER` (1) | discovery document URL |
| `SCOPES` | no | space-separated (default per broker) |
| `TOKEN_ENDPOINT_AUTH_METHOD` | no | `client_secret_basic` (default), `_post`, `none` |
| `USE_PKCE` | no | `true` (default) or `false`: S256 code challenge |
| `TIMEOUT` | no | seconds per upstream HTTP request, default `10` |
| `ALLOW_HS256` | no | `true`: HS256 ID tokens, verified with the secret |
| `EXTRA_AUTHORIZE_PARAMS` | no | added to every authorization request, `a=1&b=2` |
| `AUTHORIZATION_ENDPOINT` | no | replaces the discovered value |
| `TOKEN_ENDPOINT` | no | replaces the discovered value |
| `USERINFO_ENDPOINT` | no | replaces the discovered value |
| `JWKS_URI` | no | replaces the discovered value |

(1) not needed when the broker has a default (Google, Microsoft).

Per broker:

| Broker | Setting | Default | Meaning |
| --- | --- | --- | --- |
| `google` | `ISSUER` | `https://accounts.google.com` | change only for a test double |
| `google` | `HOSTED_DOMAIN` | unset | Workspace domain: sent as `hd`; `hd` claim must match |
| `google` | `SCOPES` | `openid email profile` | |
| `microsoft` | `TENANT` | `common` | `organizations`, `consumers` or a tenant id |
| `microsoft` | `AUTHORITY` | (2) | discovery: `{AUTHORITY}/.well-known/openid-configuration` |
| `microsoft` | `SCOPES` | `openid profile email` | `profile` brings `oid` and `tid` |

(2) ``https://login.microsoftonline.com/{TENANT}/v2.0``. A tenant other than `common` also
narrows the accepted `tid` (`consumers`: personal accounts only; `organizations`: work only).
"""

from __future__ import annotations

from collections.abc import Mapping

from brokers.base import Broker
from brokers.daccount import DAccountBroker
from brokers.facebook import FacebookBroker
from brokers.google import GoogleBroker
from brokers.microsoft import MicrosoftBroker
from brokers.oidc import OidcBroker

ENV_PREFIX = "IDP_BROKER_"

#: Registry name -> broker class. One line per upstream (STYLE §3).
BROKER_CLASSES: dict[str, type[Broker]] = {
    "google": GoogleBroker,
    "microsoft": MicrosoftBroker,
    "facebook": FacebookBroker,
    "daccount": DAccountBroker,
    # Other upstreams register here, e.g. "facebook": FacebookBroker, "daccount": DAccountBroker.
}


def build_broker(name: str, config: Mapping[str, str]) -> Broker:
    """The broker ``name`` from its settings (``IDP_BROKER_<NAME>_*``, prefix stripped).

    :raises ValueError: unknown broker, or a missing or malformed setting (names the variable).
    """
    try:
        broker_class = BROKER_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown broker {name!r}; known: {', '.join(BROKER_CLASSES)}") from None
    env_prefix = f"{ENV_PREFIX}{name.upper()}_"
    settings = {key.lower(): value for key, value in config.items()}
    if issubclass(broker_class, OidcBroker):
        return broker_class.from_config(settings, env_prefix)
    # A broker that is not OpenID Connect (Facebook) builds itself the same way: give it a
    # ``from_config(config, env_prefix)`` classmethod and add its branch here.
    from_config = getattr(broker_class, "from_config", None)
    if from_config is None:
        raise ValueError(f"broker {name!r} cannot be built from settings")
    broker = from_config(settings, env_prefix)
    if not isinstance(broker, Broker):
        raise TypeError(f"{broker_class.__name__}.from_config returned {type(broker).__name__}")
    return broker
