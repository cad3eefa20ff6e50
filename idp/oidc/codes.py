"""Authorization codes as the token endpoint sees them (RFC 6749 §4.1): the code's stored
data, the token family it starts, and PKCE on it (RFC 7636, S256 only). The code grant itself
is :class:`idp.oidc.grants.AuthorizationCodeGrant`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge

from idp.models import TokenFamily
from idp.oidc.grant_statements import GrantFamily
from idp.oidc.grant_statements import read_family

CODE_PREFIX = "code:"
#: How long a spent code is remembered (its tombstone), to detect its reuse (RFC 6749 §4.1.2).
USED_CODE_MEMORY = 3600


@dataclass
class AuthorizationCode:
    code_hash: str
    data: dict[str, Any]
    #: The family, its user and contract, once read (:func:`grant_family_of`).
    grant_family: GrantFamily | None = None

    def get_redirect_uri(self) -> str:
        return str(self.data["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.data["scope"])

    def get_nonce(self) -> str | None:
        return self.data.get("nonce")

    def get_auth_time(self) -> int | None:
        auth_time = self.data["session"].get("auth_time")
        return None if auth_time is None else int(auth_time)

    def get_acr(self) -> str | None:
        acr = self.data["session"].get("acr")
        return None if acr is None else str(acr)

    def get_amr(self) -> list[str] | None:
        amr = self.data["session"].get("amr")
        return None if amr is None else [str(method) for method in amr]

    @property
    def family_id(self) -> str:
        return str(self.data["family_id"])


def grant_family_of(code: AuthorizationCode) -> GrantFamily:
    """The token family the code was issued into (created with the code), with its user:
    read once per exchange (one statement) and kept on the code."""
    if code.grant_family is None:
        code.grant_family = read_family(code.family_id)
    if code.grant_family is None:  # deleted since with its user or client
        raise InvalidGrantError()
    return code.grant_family


def family_of(code: AuthorizationCode) -> TokenFamily:
    """The token family the code was issued into."""
    return grant_family_of(code).family


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only, required of every client unless registered as a legacy
    confidential client without it (OAuth 2.1, RFC 9700 §2.1.1)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") and grant.request.client.require_pkce:
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> Any:
        return authorization_code.data.get("code_challenge")

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> Any:
        return authorization_code.data.get("code_challenge_method")
