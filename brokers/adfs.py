"""Active Directory through the contract's AD FS 2016+ (OpenID Connect), as UPSTREAMS.md
"Active Directory via the contract's AD FS" describes it (SPEC D1, L8).

What differs from :class:`~brokers.oidc.OidcBroker`:

- One broker per contract connection, built by ``idp/login/active_directory.py`` from the
  connection's settings: ``issuer`` is ``https://{fs}/adfs``, compared exactly with the
  discovery ``issuer`` and the ID token's ``iss`` (access tokens carry another issuer,
  ``http://{fs}/adfs/services/trust``; we validate only the ID token).
- ``resource``: the identifier of the customer's Web API in the Application Group. Without it
  AD FS falls back to ``urn:microsoft:userinfo``, whose MFA/issuance policies cannot be set.
- Scopes ``openid profile email allatclaims``: ``allatclaims`` puts the issuance rules' claims
  (``upn``, ``email``, ``amr``) into the ID token.
- PKCE S256 only when discovery lists ``code_challenge_methods_supported`` (AD FS 2019+).
- ``prompt``: AD FS accepts only ``login`` and ``none``, so ``force_login`` sends
  ``prompt=login`` and ``select_account`` sends nothing (AD FS has no account chooser).
  ``max_age`` is not sent: AD FS does not list it, and holding ``auth_time`` to a value it
  ignored would refuse an SSO session the person cannot end from our page.
- Subject ``sub``: a per-farm salted hash of (client id, anchor claim); ``upn`` and
  ``unique_name`` are mutable, display and ``login_hint`` only. ``email`` (else ``upn``) is a
  display value and never verified.
- ``amr`` as received, a single value included: AD FS writes a single-valued claim as a
  string. ``http://schemas.microsoft.com/claims/multipleauthn`` proves MFA; the login
  transaction maps it (``idp/login/brokered.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.oidc import OidcBroker
from brokers.oidc_settings import OIDC_SETTINGS
from brokers.settings import Kind
from brokers.settings import Setting

ADFS_SCOPES = ("openid", "profile", "email", "allatclaims")
#: The only PKCE method we send; AD FS 2019 lists it, AD FS 2016 lists none.
PKCE_METHOD = "S256"
#: Not read from the environment today (each contract's farm is an ``idp ad add`` connection);
#: the table keeps :meth:`AdfsBroker.from_config` honest for the day it is.
ADFS_SETTINGS = (
    *OIDC_SETTINGS,
    Setting("resource", Kind.TEXT, "the Web API identifier in the Application Group"),
)


class AdfsBroker(OidcBroker):
    """One contract's AD FS farm.

    :param issuer: ``https://{fs}/adfs``, exactly as the farm's discovery states it.
    :param resource: the Web API identifier sent as ``resource``; ``None`` sends none.
    """

    name = "ad"
    default_scopes = ADFS_SCOPES
    SETTINGS = ADFS_SETTINGS

    def __init__(self, *, issuer: str, resource: str | None = None, **settings: Any) -> None:
        if not issuer:
            raise ValueError("issuer is required: https://{fs}/adfs")
        super().__init__(issuer=issuer, **settings)
        self.resource = resource or None

    @classmethod
    def settings_from_config(cls, values: Mapping[str, Any], env_prefix: str) -> dict[str, Any]:
        return {"resource": values.get("resource")}

    def prompt_params(self, request: UpstreamRequest) -> dict[str, str]:
        params: dict[str, str] = {}
        if request.force_login:
            params["prompt"] = "login"
        if request.login_hint:
            params["login_hint"] = request.login_hint
        return params

    def authorize_params(self, request: UpstreamRequest) -> dict[str, str]:
        params = super().authorize_params(request)
        if self.resource:
            params["resource"] = self.resource
        return params

    def uses_pkce(self, metadata: Mapping[str, Any]) -> bool:
        methods = metadata.get("code_challenge_methods_supported")
        return isinstance(methods, list) and PKCE_METHOD in methods

    def validate_issuer(
        self, claims: Mapping[str, Any], signing_key: Mapping[str, Any] | None
    ) -> None:
        # exactly the contract's farm; the discovery issuer was already held to it
        if claims.get("iss") != self.configured_issuer:
            raise BrokerError("wrong_issuer", "iss is not the farm's issuer")

    def identity_from_claims(
        self, claims: Mapping[str, Any], token: Mapping[str, Any]
    ) -> BrokeredIdentity:
        identity = super().identity_from_claims(claims, token)
        amr = claims.get("amr")
        if isinstance(amr, str):
            identity = dataclasses.replace(identity, upstream_amr=(amr,))
        email = _text(claims.get("email")) or _text(claims.get("upn"))
        display_name = (
            identity.display_name or _text(claims.get("unique_name")) or _text(claims.get("upn"))
        )
        return dataclasses.replace(
            identity, email=email, email_verified=False, display_name=display_name
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
