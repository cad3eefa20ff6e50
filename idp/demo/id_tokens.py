"""The demo frontend's ID-token rules: our issuer, a subject and exactly our client as
audience (OIDC Core 3.1.3.7); on refresh, the OIDC Core 12.2 checks and ``at_hash``."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from authlib.oidc.core import CodeIDToken
from joserfc.errors import InvalidClaimError

from idp.demo.frontend_errors import FrontendError

#: Allowed clock skew when validating ID tokens, in seconds.
LEEWAY = 60


def claims_options(issuer: str, client_id: str) -> dict[str, Any]:
    """Fresh ID-token claim rules: our issuer, a subject, and exactly our client as audience."""
    return {
        "iss": {"essential": True, "value": issuer},
        "sub": {"essential": True},
        "aud": {
            "essential": True,
            "values": [client_id],
            "validate": lambda _claims, aud: aud in (client_id, [client_id]),
        },
    }


class RefreshedIDToken(CodeIDToken):  # type: ignore[misc]  # authlib is untyped (Any)
    """ID token from a refresh response: ``nonce`` is optional there but must match if present."""

    def validate_nonce(self) -> None:
        """Accept a missing nonce; reject one that differs from the original authentication's."""
        expected = self.params.get("nonce")
        if "nonce" in self and self["nonce"] != expected:
            raise InvalidClaimError("nonce")


def refreshed_claims_cls(access_token: str | None) -> Callable[..., RefreshedIDToken]:
    """Build a claims factory for authlib that also checks ``at_hash`` against ``access_token``."""

    def build(
        claims: Mapping[str, Any],
        header: Mapping[str, Any],
        options: dict[str, Any] | None,
        params: dict[str, Any] | None,
    ) -> RefreshedIDToken:
        merged = dict(params or {})
        if access_token:
            merged["access_token"] = access_token
        return RefreshedIDToken(claims, header, options, merged)

    return build


def check_refreshed_claims(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Apply OIDC Core 12.2: same iss, sub, aud, azp and original auth_time."""
    for name in ("iss", "sub", "aud", "azp"):
        if old.get(name) != new.get(name):
            raise FrontendError(
                "invalid_id_token",
                f"Refreshed ID token changed {name}: {old.get(name)!r} -> {new.get(name)!r}",
            )
    if "auth_time" in old and "auth_time" in new and old["auth_time"] != new["auth_time"]:
        raise FrontendError(
            "invalid_id_token",
            f"Refreshed ID token changed auth_time: {old['auth_time']} -> {new['auth_time']}",
        )
