"""Google sign-in (OpenID Connect), as UPSTREAMS.md "Google" describes it.

What differs from :class:`~brokers.oidc.OidcBroker`:

- ``iss`` is ``https://accounts.google.com`` or, in older tokens, ``accounts.google.com``
  (the issuer without its scheme); both are recorded as the discovery issuer.
- No ``prompt=login``: a fresh sign-in is ``prompt=select_account`` with ``max_age=0``. The
  chooser lets the person switch accounts (L10); ``max_age=0`` asks Google to authenticate
  again, and the base class holds the returned ``auth_time`` to it.
- Workspace restriction (``hosted_domain``): ``hd=<domain>`` is sent as a hint only; the
  decision is on the ``hd`` claim of the ID token (``invalid_id_token`` when it differs).
- No ``amr``/``acr`` from Google: the identity carries none ("federated, method unknown").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.oidc import OidcBroker
from brokers.oidc_settings import OIDC_SETTINGS
from brokers.settings import Kind
from brokers.settings import Setting
from brokers.settings import replace_setting

GOOGLE_ISSUER = "https://accounts.google.com"
GOOGLE_DISCOVERY_URL = f"{GOOGLE_ISSUER}/.well-known/openid-configuration"

GOOGLE_SETTINGS = (
    *replace_setting(
        replace_setting(OIDC_SETTINGS, "issuer", condition="no", default=GOOGLE_ISSUER),
        "discovery_url",
        condition="no",
    ),
    Setting("hosted_domain", Kind.TEXT, "Workspace domain: sent as `hd`; `hd` claim must match"),
)


class GoogleBroker(OidcBroker):
    """Google accounts; ``hosted_domain`` restricts sign-in to one Workspace domain."""

    name = "google"
    default_scopes = ("openid", "email", "profile")
    default_discovery_url = GOOGLE_DISCOVERY_URL
    SETTINGS = GOOGLE_SETTINGS

    def __init__(self, *, hosted_domain: str | None = None, **settings: Any) -> None:
        if settings.get("issuer") is None and settings.get("discovery_url") is None:
            settings["issuer"] = GOOGLE_ISSUER
        super().__init__(**settings)
        self.hosted_domain = hosted_domain.lower() if hosted_domain else None

    @classmethod
    def settings_from_config(cls, values: Mapping[str, Any], env_prefix: str) -> dict[str, Any]:
        return {"hosted_domain": values.get("hosted_domain")}

    def prompt_params(self, request: UpstreamRequest) -> dict[str, str]:
        params: dict[str, str] = {}
        if request.force_login or request.select_account:
            params["prompt"] = "select_account"
        if request.force_login:
            params["max_age"] = "0"
        elif request.max_age is not None:
            params["max_age"] = str(request.max_age)
        if request.login_hint:
            params["login_hint"] = request.login_hint
        return params

    def authorize_params(self, request: UpstreamRequest) -> dict[str, str]:
        params = super().authorize_params(request)
        if self.hosted_domain:
            params["hd"] = self.hosted_domain
        return params

    def validate_issuer(
        self, claims: Mapping[str, Any], signing_key: Mapping[str, Any] | None
    ) -> None:
        issuer = self.issuer
        legacy = issuer.split("://", 1)[-1]
        if claims.get("iss") not in (issuer, legacy):
            raise BrokerError("wrong_issuer", "iss is not Google's")

    def validate_claims(self, claims: Mapping[str, Any]) -> None:
        if self.hosted_domain is None:
            return
        hd = claims.get("hd")
        if not isinstance(hd, str) or hd.lower() != self.hosted_domain:
            raise BrokerError("invalid_id_token", "hd is not the contract's domain")
