"""The demo frontend's protocol work, apart from its views: discovery pinned to the
configured issuer, the per-browser token store, userinfo, the refresh-token grant (with the
OIDC Core §12.2 checks on a refreshed ID token) and logout-token validation (Back-Channel
Logout 1.0 §2.6)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

import flask
import requests
from joserfc.jwk import KeySet

from idp.demo.frontend_errors import PROTOCOL_ERRORS
from idp.demo.frontend_errors import FrontendError
from idp.demo.frontend_errors import error_description
from idp.demo.id_tokens import LEEWAY
from idp.demo.id_tokens import check_refreshed_claims
from idp.demo.id_tokens import claims_options
from idp.demo.id_tokens import refreshed_claims_cls
from idp.demo.logout_tokens import SeenTokens
from idp.demo.logout_tokens import validate_logout_token
from idp.demo.session_store import SessionStore
from idp.extensions import Service


def origin_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class RelyingParty:
    """One frontend's client registration at ``issuer``, its authlib client (``client``,
    untyped) and what it remembers: tokens per browser and the logout tokens seen."""

    issuer: str
    client_id: str
    base_url: str
    client: Any
    store: SessionStore = field(default_factory=SessionStore)
    seen_logout_tokens: SeenTokens = field(default_factory=SeenTokens)

    @property
    def redirect_uri(self) -> str:
        return self.base_url + "/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.base_url + "/"

    @property
    def own_origin(self) -> str:
        return origin_of(self.base_url)

    def metadata(self) -> dict[str, Any]:
        """Load discovery (cached by authlib) and pin its ``issuer`` to the configured one."""
        try:
            meta: dict[str, Any] = self.client.load_server_metadata()
        except (requests.RequestException, ValueError) as exc:
            raise FrontendError(
                "provider_unreachable",
                f"Discovery failed / ディスカバリーに失敗しました: {type(exc).__name__}: {exc}",
                status=502,
            ) from exc
        if meta.get("issuer") != self.issuer:
            raise FrontendError(
                "issuer_mismatch",
                f"Discovery issuer {meta.get('issuer')!r} != configured issuer {self.issuer!r}",
                status=502,
            )
        return meta

    def current(self) -> dict[str, Any] | None:
        """Return the signed-in user's stored data, if any."""
        return self.store.get(flask.session.get("sid"))

    def save(self, data: dict[str, Any]) -> None:
        """Store data for the current browser session (which must already have an id)."""
        self.store.put(flask.session["sid"], data)

    def fetch_userinfo(
        self, token: Mapping[str, Any], sub: str
    ) -> tuple[dict[str, Any] | None, str]:
        """Call the userinfo endpoint; return (claims, error text); ``sub`` must match."""
        try:
            info = dict(self.client.userinfo(token=dict(token)))
        except PROTOCOL_ERRORS as exc:
            code, description = error_description(exc)
            return None, f"{code}: {description}"
        if info.get("sub") != sub:
            return None, f"sub_mismatch: userinfo sub {info.get('sub')!r} != ID token sub {sub!r}"
        return info, ""

    def refresh_tokens(self, data: dict[str, Any], refresh_token: str) -> dict[str, Any]:
        """Redeem the refresh token, validate any new ID token and update ``data`` in place."""
        self.metadata()
        token = dict(
            self.client.fetch_access_token(grant_type="refresh_token", refresh_token=refresh_token)
        )
        old = data.get("claims") or {}
        new_claims: dict[str, Any] | None = None
        if "id_token" in token:
            new_claims = dict(
                self.client.parse_id_token(
                    token,
                    nonce=old.get("nonce"),
                    claims_options=claims_options(self.issuer, self.client_id),
                    claims_cls=refreshed_claims_cls(token.get("access_token")),
                    leeway=LEEWAY,
                )
            )
            check_refreshed_claims(old, new_claims)
        rotated = bool(token.get("refresh_token")) and token["refresh_token"] != refresh_token
        data.update(
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token") or refresh_token,
            expires_at=token.get("expires_at"),
            scope=token.get("scope", data.get("scope", "")),
        )
        if new_claims is not None:
            data.update(id_token=token["id_token"], claims=new_claims)
        userinfo, userinfo_error = self.fetch_userinfo(token, old.get("sub", ""))
        data.update(userinfo=userinfo, userinfo_error=userinfo_error)
        return {
            "ok": True,
            "id_token_returned": new_claims is not None,
            "refresh_token_rotated": rotated,
            "claims": new_claims,
        }

    def validate_logout_token(self, token: str, force_jwks: bool) -> dict[str, Any]:
        """Validate against the provider's JWKS (cached by authlib; ``force_jwks`` fetches it
        again, once, for a key it does not know: a rotation since the last fetch)."""
        jwks = KeySet.import_key_set(self.client.fetch_jwk_set(force=force_jwks))
        return validate_logout_token(
            token, jwks, self.issuer, self.client_id, self.seen_logout_tokens
        )


#: The frontend app's :class:`RelyingParty` (the frontend is an app of its own, not the
#: provider: the key is none of the provider's services).
relying_party_service: Service[RelyingParty] = Service("worksdrive.relying_party")


def current_relying_party() -> RelyingParty:
    """The relying party of the app handling the request."""
    return relying_party_service()
