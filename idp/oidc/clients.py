"""authlib's ClientMixin for our registered relying parties."""

from __future__ import annotations

import hmac
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc6749.authenticate_client import (
    authenticate_client_secret_basic as authlib_client_secret_basic,
)

from idp.client_secrets import hash_client_secret

SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def authenticate_client_secret_basic(query_client: Any, request: OAuth2Request) -> Any:
    """authlib's ``client_secret_basic``, except that a header it cannot parse authenticates
    nobody: credentials that are not UTF-8 (``extract_basic_authorization`` raises
    UnicodeDecodeError) or ``"Basic "`` followed by nothing but white space (ValueError
    unpacking its split). The endpoint then answers 401 ``invalid_client`` with
    ``WWW-Authenticate`` (RFC 6749 §5.2).
    """
    try:
        return authlib_client_secret_basic(query_client, request)
    except ValueError:  # UnicodeDecodeError included
        return None


class OAuthClientMixin(ClientMixin):  # type: ignore[misc]  # authlib is untyped (Any)
    """Implements authlib's client hooks over the ``Client`` model's columns."""

    client_id: str
    secret_hash: str | None
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    scope: str
    id_token_signed_response_alg: str
    grant_types: list[str]
    contract_id: str | None

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    @property
    def client_metadata(self) -> dict[str, object]:
        return {
            "id_token_signed_response_alg": self.id_token_signed_response_alg,
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
        }

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # A redirect_uri is required in every request (OIDC Core 3.1.2.1).
        return None

    def get_allowed_scope(self, scope: str) -> str:
        if not scope:
            return ""
        allowed = set(scope_to_list(self.scope))
        return " ".join(s for s in scope_to_list(scope) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact string match against a registered URI (RFC 9700 §4.1.3)."""
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_hash is None or not isinstance(client_secret, str):
            return False
        return hmac.compare_digest(hash_client_secret(client_secret), self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in SECRET_AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        """Only the code flow, and only for a client registered for it: a service client
        (client credentials, G7) never sends a person to /authorize."""
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
