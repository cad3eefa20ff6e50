"""RFC 6749 §4.4, the client-credentials grant, for service clients (G7: the admin API's).

A service client is confidential, registered for ``client_credentials`` only and bound to one
contract (``Client.contract_id``). Its access token names no user: it acts on that contract
with the client's registered scopes, and stops working when the client is removed or the
contract has ended. No refresh token (§4.4.3: "A refresh token SHOULD NOT be included")."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749 import scope_to_list

#: §2.3.1: a service client authenticates with its secret, in the header or the body.
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_requested_scope(self) -> None:
        """§3.3, §5.2: a scope beyond what the client registered is ``invalid_scope`` (authlib
        would narrow it silently and issue a token that does less than asked)."""
        super().validate_requested_scope()
        requested = set(scope_to_list(self.request.payload.scope) or [])
        if not requested <= set(scope_to_list(self.request.client.scope)):
            raise InvalidScopeError()

    def generate_token(
        self,
        user: Any = None,
        scope: Any = None,
        grant_type: Any = None,
        expires_in: Any = None,
        include_refresh_token: bool = False,
    ) -> Any:
        """§3.3: without a ``scope`` parameter the token carries the client's registered
        scope (the default we document); never a refresh token."""
        scope = scope or self.request.client.scope
        return super().generate_token(user, scope, grant_type, expires_in, False)
