"""Microsoft work/school and personal accounts (Microsoft identity platform v2.0), as
UPSTREAMS.md "Microsoft" describes it.

What differs from :class:`~brokers.oidc.OidcBroker`:

- The discovery ``issuer`` of the ``common``/``organizations``/``consumers`` authorities is a
  template, ``https://login.microsoftonline.com/{tenantid}/v2.0``. ``iss`` must equal it with
  the token's ``tid`` substituted, and the signing key's ``issuer`` member, when the JWKS
  entry has one, must resolve to the same value (``wrong_issuer`` otherwise, and when ``tid``
  is missing or not a GUID).
- A tenant authority narrows the accepted ``tid``: a tenant id accepts that tenant only,
  ``consumers`` only the personal-account tenant, ``organizations`` every other tenant.
- Subject ``{tid}:{oid}``: ``sub`` is pairwise per client id and would orphan every user
  if our client id changed; (``tid``, ``oid``) does not. Issuer: the resolved tenant issuer.
- ``email`` is tenant-admin controlled: verified only with the optional claim
  ``xms_edov: true``; ``preferred_username``/``upn`` are never used.
- ``amr`` is recorded as received (v2 tokens normally have none).
- ``prompt``: ``login`` for a fresh sign-in, else ``select_account`` for the chooser.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.oidc import OidcBroker
from brokers.oidc_settings import OIDC_SETTINGS
from brokers.settings import Kind
from brokers.settings import Setting
from brokers.settings import replace_setting

MICROSOFT_LOGIN = "https://login.microsoftonline.com"
#: The tenant of personal Microsoft accounts.
PERSONAL_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
TENANT_PLACEHOLDER = "{tenantid}"
MULTI_TENANT_AUTHORITIES = ("common", "organizations", "consumers")
TENANT_ID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VERIFIED_VALUES = (True, "true", "1", 1)
#: ``IDP_BROKER_MICROSOFT_TENANT``: an authority name or a tenant id, in any case.
TENANT_SETTING = re.compile(
    "|".join((*MULTI_TENANT_AUTHORITIES, TENANT_ID_PATTERN.pattern)), re.IGNORECASE
)

MICROSOFT_SETTINGS = (
    *replace_setting(
        replace_setting(
            replace_setting(OIDC_SETTINGS, "issuer", condition="no"),
            "discovery_url",
            condition="no",
        ),
        "scopes",
        default="openid profile email",
        meaning="requested scopes; `profile` brings `oid` and `tid`",
    ),
    Setting(
        "tenant",
        Kind.PATTERN,
        "narrows the accepted `tid` (`consumers`: personal accounts only)",
        default="common",
        pattern=TENANT_SETTING,
        hint="common, organizations, consumers or a tenant id",
    ),
    Setting(
        "authority",
        Kind.URL,
        "discovery at `{AUTHORITY}/.well-known/openid-configuration`; "
        "default `https://login.microsoftonline.com/{TENANT}/v2.0`",
    ),
)


def authority_url(tenant: str, authority: str | None) -> str:
    """The configured authority, or the Microsoft login host's for ``tenant``."""
    return (authority or f"{MICROSOFT_LOGIN}/{tenant}/v2.0").rstrip("/")


class MicrosoftBroker(OidcBroker):
    """Entra ID and personal Microsoft accounts through one authority (``common`` default).

    :param tenant: ``common``, ``organizations``, ``consumers`` or a tenant id.
    :param authority: the authority URL; ``{login host}/{tenant}/v2.0`` when not given.
    """

    name = "microsoft"
    # ``profile`` brings ``oid`` and ``tid``
    default_scopes = ("openid", "profile", "email")
    SETTINGS = MICROSOFT_SETTINGS

    def __init__(
        self, *, tenant: str = "common", authority: str | None = None, **settings: Any
    ) -> None:
        tenant = tenant.lower()
        if tenant not in MULTI_TENANT_AUTHORITIES and not TENANT_ID_PATTERN.fullmatch(tenant):
            raise ValueError(f"tenant must be common, organizations, consumers or a GUID: {tenant}")
        authority = authority_url(tenant, authority)
        if settings.get("issuer") is None and settings.get("discovery_url") is None:
            settings["discovery_url"] = f"{authority}/.well-known/openid-configuration"
        super().__init__(**settings)
        self.tenant = tenant
        self.authority = authority

    @classmethod
    def settings_from_config(cls, values: Mapping[str, Any], env_prefix: str) -> dict[str, Any]:
        tenant = str(values.get("tenant", "common")).lower()
        authority = authority_url(tenant, values.get("authority"))
        settings: dict[str, Any] = {"tenant": tenant, "authority": authority}
        if "issuer" not in values and "discovery_url" not in values:
            settings["discovery_url"] = f"{authority}/.well-known/openid-configuration"
        return settings

    def prompt_params(self, request: UpstreamRequest) -> dict[str, str]:
        params: dict[str, str] = {}
        if request.force_login:
            params["prompt"] = "login"
        elif request.select_account:
            params["prompt"] = "select_account"
        if request.login_hint:
            params["login_hint"] = request.login_hint
        return params

    def tenant_issuer(self, tid: str) -> str:
        """The issuer of tokens for tenant ``tid``: the discovery template, resolved."""
        return self.issuer.replace(TENANT_PLACEHOLDER, tid)

    def validate_issuer(
        self, claims: Mapping[str, Any], signing_key: Mapping[str, Any] | None
    ) -> None:
        tid = claims.get("tid")
        if not isinstance(tid, str) or not TENANT_ID_PATTERN.fullmatch(tid):
            raise BrokerError("wrong_issuer", "tid missing or not a tenant id")
        expected = self.tenant_issuer(tid)
        if claims.get("iss") != expected:
            raise BrokerError("wrong_issuer", "iss is not the issuer of tid")
        key_issuer = (signing_key or {}).get("issuer")
        if key_issuer is not None and str(key_issuer).replace(TENANT_PLACEHOLDER, tid) != expected:
            raise BrokerError("wrong_issuer", "the signing key belongs to another issuer")
        if not self._accepts_tenant(tid):
            raise BrokerError("wrong_issuer", "tenant not accepted by the configured authority")

    def _accepts_tenant(self, tid: str) -> bool:
        if self.tenant == "common":
            return True
        if self.tenant == "consumers":
            return tid == PERSONAL_TENANT_ID
        if self.tenant == "organizations":
            return tid != PERSONAL_TENANT_ID
        return tid == self.tenant

    def identity_from_claims(
        self, claims: Mapping[str, Any], token: Mapping[str, Any]
    ) -> BrokeredIdentity:
        oid = claims.get("oid")
        if not isinstance(oid, str) or not oid:
            raise BrokerError("no_subject", "no oid: is the profile scope granted?")
        tid = str(claims["tid"])
        identity = super().identity_from_claims(claims, token)
        return dataclasses.replace(
            identity,
            issuer=self.tenant_issuer(tid),
            subject=f"{tid}:{oid}",
            email_verified=identity.email is not None and claims.get("xms_edov") in VERIFIED_VALUES,
        )
