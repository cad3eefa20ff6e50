"""``setup_oauth(app)``: authlib's authorization server with our storage, grants and endpoints."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from authlib.consts import default_json_headers
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import MissingAuthorizationError
from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import UnsupportedResponseTypeError
from authlib.oauth2.rfc6749 import UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core import UserInfoEndpoint
from flask import Flask
from flask import request as flask_request
from sqlalchemy.engine import Connection

from idp import audit
from idp import extensions
from idp.audit import record_in_transaction
from idp.clients import SERVICE_SCOPES
from idp.models import Client
from idp.oidc.claims import release_claims
from idp.oidc.client_cache import ClientCache
from idp.oidc.clients import authenticate_client_secret_basic
from idp.oidc.codes import S256CodeChallenge
from idp.oidc.codes import grant_family_of
from idp.oidc.grant_statements import insert_refresh_token
from idp.oidc.grant_transaction import connection as grant_connection
from idp.oidc.grant_transaction import grant_transaction
from idp.oidc.grants import AuthorizationCodeGrant
from idp.oidc.grants import RefreshTokenGrant
from idp.oidc.id_tokens import OpenIDCode
from idp.oidc.id_tokens import RefreshIdToken
from idp.oidc.parameters import check_no_repeated_parameter
from idp.oidc.parameters import is_error_safe
from idp.oidc.service_grant import ClientCredentialsGrant
from idp.oidc.tokens import IssuedToken
from idp.oidc.tokens import commit_with_access_token
from idp.oidc.tokens import commit_with_service_access_token
from idp.oidc.tokens import find_access_token
from idp.oidc.tokens import find_refresh_token
from idp.oidc.tokens import forget_access_token
from idp.oidc.tokens import new_opaque_token
from idp.oidc.tokens import revoke_family
from idp.oidc.tokens import token_hash


class _FlaskRequest(FlaskOAuth2Request):  # type: ignore[misc]
    """authlib's request of a Flask request, except for its ``uri``: scheme, host and path,
    not the whole URL. authlib reads it only to refuse plain http off the loopback
    (``InsecureTransportError.check``: the scheme and host decide), and werkzeug's whole URL
    (IRI quoting of path and query) cost ~6 µs of every grant more (issue 13)."""

    def __init__(self, request: Any) -> None:
        OAuth2Request.__init__(
            self,
            method=request.method,
            uri=f"{request.scheme}://{request.host}{request.path}",
            headers=request.headers,
        )
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class IdpAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        # A login transaction resumes a stored authorization request (idp/login/finish.py).
        if isinstance(request, OAuth2Request):
            return request
        # On the request itself rather than Flask's proxy of it: the grants read the request
        # some fifty times, each read through the proxy a lookup (issue 13).
        return _FlaskRequest(flask_request._get_current_object())  # type: ignore[attr-defined]

    def get_authorization_grant(self, request: OAuth2Request) -> Any:
        """authlib's lookup, except for a ``response_type`` it cannot name in its error:
        missing is ``invalid_request`` (RFC 6749 §4.1.2.1: a required parameter), and one
        with characters an ``error_description`` may not hold is unsupported without being
        echoed (authlib would raise ValueError building the error: a 500)."""
        response_type = request.payload.response_type
        if response_type and is_error_safe(response_type) and len(response_type) <= 100:
            return super().get_authorization_grant(request)
        redirect_uri = self._trusted_redirect_uri(request)
        if not response_type:
            raise InvalidRequestError(
                "Missing 'response_type' in request.", redirect_uri=redirect_uri
            )
        raise UnsupportedResponseTypeError(
            "unsupported", "The response type is not supported.", redirect_uri=redirect_uri
        )

    def _trusted_redirect_uri(self, request: OAuth2Request) -> str | None:
        """The redirect URI an error may go to: registered for a known client, else none
        (RFC 6749 §4.1.2.1: never redirect to an unverified URI)."""
        client = self.query_client(request.payload.client_id)
        redirect_uri = request.payload.redirect_uri
        if client is None or not redirect_uri or not client.check_redirect_uri(redirect_uri):
            return None
        return str(redirect_uri)

    def create_error_redirect(self, error: OAuth2Error) -> Any:
        """An authorization error redirected to ``error.redirect_uri`` with ``iss``
        (RFC 9207); the login steps end a transaction with it (idp/login/start.py)."""
        response = self.handle_error_response(None, error)
        Issuer().add_issuer_parameter(self, response)
        return response

    def create_token_response(self, request: Any = None) -> Any:
        """authlib's token endpoint, after the checks RFC 6749 §3.2 and §5.2 ask first:
        no parameter twice, and a missing ``grant_type`` is ``invalid_request`` (authlib
        answers ``unsupported_grant_type``)."""
        oauth_request = self.create_oauth2_request(request)
        try:
            check_no_repeated_parameter(oauth_request.payload.datalist)
            if not oauth_request.payload.grant_type:
                raise InvalidRequestError("Missing 'grant_type' in request.")
        except OAuth2Error as error:
            return self.handle_error_response(oauth_request, error)
        with grant_transaction():
            return super().create_token_response(oauth_request)


class Issuer(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` in every authorization response, errors included."""

    def get_issuer(self) -> str:
        return str(extensions.settings().issuer)

    def add_issuer_parameter(self, authorization_server: Any, response: Any) -> None:
        """authlib's, without parsing and re-encoding the whole query again (issue 13): the
        location is authlib's own, its query already encoded as ``urlencode`` encodes, so
        ``&iss=…`` appended is the same URI. A location with a fragment goes authlib's way."""
        location = response.location
        if not location or "#" in location:
            super().add_issuer_parameter(authorization_server, response)
            return
        if location.endswith(("?", "&")):
            separator = ""
        else:
            separator = "&" if "?" in location else "?"
        response.location = f"{location}{separator}{urlencode({'iss': self.get_issuer()})}"


def save_token(token: dict[str, Any], request: OAuth2Request) -> None:
    """Store what a grant issued, on the grant's one transaction: the new refresh token and
    the audit event commit with the refresh token's claim, and so does the access token when
    the ephemeral store is the database (the SQL store); a Redis store gets it right after
    the commit (idp.oidc.tokens.commit_with_access_token)."""
    settings = extensions.settings()
    if request.payload.grant_type == ClientCredentialsGrant.GRANT_TYPE:
        _save_service_token(token, request.client)
        return
    if request.authorization_code is not None:
        grant = grant_family_of(request.authorization_code)
        event = "token_issued"
    else:
        grant = request.refresh_token.grant
        event = "token_refreshed"
    family = grant.family
    if token.get("refresh_token"):
        insert_refresh_token(
            token_hash(token["refresh_token"]),
            family.id,
            token["scope"],
            settings.refresh_token_ttl,
        )
    record_in_transaction(
        event,
        "ok",
        None,
        user_id=family.user_id,
        contract_id=grant.user.contract_id,
        client_id=family.client_id,
        details={"family": family.id, "scope": token["scope"]},
        connection=grant_connection(),
    )
    commit_with_access_token(token["access_token"], family, token["scope"], token["expires_in"])


def _save_service_token(token: dict[str, Any], client: Client) -> None:
    def write(connection: Connection) -> None:
        record_in_transaction(
            "token_issued",
            "ok",
            None,
            user_id=None,
            contract_id=client.contract_id,
            client_id=client.client_id,
            details={"grant": ClientCredentialsGrant.GRANT_TYPE, "scope": token["scope"]},
            connection=connection,
        )

    commit_with_service_access_token(
        token["access_token"], client, token["scope"], token["expires_in"], write
    )


class AccessTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        return find_access_token(token_string)


class BearerTokenRequired(OAuth2Error):  # type: ignore[misc]
    """RFC 6750 §3.1: "If the request lacks any authentication information (e.g., the client
    was unaware that authentication is necessary or attempted using an unsupported
    authentication method), the resource server SHOULD NOT include an error code"."""

    status_code = 401
    description = "A bearer access token is required."

    def get_body(self) -> list[tuple[str, str]]:
        return [("error_description", self.description)]

    def get_headers(self) -> list[tuple[str, str]]:
        issuer = extensions.settings().issuer
        return [*super().get_headers(), ("WWW-Authenticate", f'Bearer realm="{issuer}"')]


class IdpUserInfo(UserInfoEndpoint):  # type: ignore[misc]
    def get_issuer(self) -> str:
        return str(extensions.settings().issuer)

    def __call__(self, request: OAuth2Request) -> tuple[int, Any, list[tuple[str, str]]]:
        token = self._acquire_token()
        user = token.get_user()
        if user is None:  # deleted since the token was issued
            raise InvalidTokenError()
        return 200, UserInfo(release_claims(user, token.scope)), default_json_headers

    def _acquire_token(self) -> IssuedToken:
        """The bearer token from the header, or from a form body (RFC 6750 §2.1, §2.2).

        No token (or another scheme than Bearer) is 401 with a bare ``WWW-Authenticate:
        Bearer`` (§3.1: no error code then); both ways at once is ``invalid_request`` (§2:
        "Clients MUST NOT use more than one method").
        """
        token_string = None
        if (
            flask_request.method == "POST"
            and flask_request.mimetype == "application/x-www-form-urlencoded"
        ):
            token_string = flask_request.form.get("access_token")
        if "Authorization" in flask_request.headers:
            if token_string is not None:
                raise InvalidRequestError("Send the access token one way only.")
            try:
                return self.resource_protector.acquire_token("openid")  # type: ignore[no-any-return]
            except (MissingAuthorizationError, UnsupportedTokenTypeError) as error:
                raise BearerTokenRequired() from error
        if not token_string:
            raise BearerTokenRequired()
        validator = AccessTokenValidator()
        token = validator.authenticate_token(token_string)
        validator.validate_token(token, ["openid"], flask_request)
        return token  # type: ignore[return-value]

    def resolve_private_key(self) -> Any:
        return extensions.keys().signing_key("RS256")


def _query_token(token_string: str, hint: str | None) -> IssuedToken | None:
    if hint == "refresh_token":
        return find_refresh_token(token_string) or find_access_token(token_string)
    return find_access_token(token_string) or find_refresh_token(token_string)


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009. Revoking a refresh token revokes its whole family (§2.1)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        check_no_repeated_parameter(request.payload.datalist)  # RFC 6749 §3.2
        if "token" not in request.form:
            raise InvalidRequestError("Missing 'token' in request.")
        hint = request.form.get("token_type_hint")
        if hint and hint not in self.SUPPORTED_TOKEN_TYPES:
            # RFC 7009 §2.2.1, an error response of RFC 6749 §5.2: 400 (authlib's class is
            # the resource server's, with 401).
            raise OAuth2Error(
                "Only access_token and refresh_token are revoked here.",
                error="unsupported_token_type",
                status_code=400,
            )

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return _query_token(token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request: OAuth2Request) -> None:
        if token.kind == "refresh_token":
            revoke_family(token.family_id, "revoked_by_client")
        else:
            forget_access_token(token)
        audit.record(
            "token_revoked",
            "ok",
            None,
            user_id=token.user_id,
            client_id=token.client_id,
            details={"kind": token.kind},
        )


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662, for the client the token was issued to."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def check_params(self, request: OAuth2Request, client: Client) -> None:
        """RFC 7662 §2.1: ``token`` once; an unknown ``token_type_hint`` is only a hint (the
        server "MUST extend its search across all of its supported token types")."""
        check_no_repeated_parameter(request.payload.datalist)  # RFC 6749 §3.2
        if "token" not in request.form:
            raise InvalidRequestError("Missing 'token' in request.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        return _query_token(token_string, token_type_hint)

    def check_permission(self, token: IssuedToken, client: Client, request: OAuth2Request) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: IssuedToken) -> dict[str, Any]:
        if token.is_service:
            # No person behind it: no sub, no sign-in; the contract it acts on (G7).
            return {
                "active": True,
                "client_id": token.client_id,
                "token_type": "Bearer",
                "scope": token.scope,
                "iss": extensions.settings().issuer,
                "aud": token.client_id,
                "exp": int(token.expires_at),
                "iat": int(token.issued_at),
                "contract_id": token.contract_id,
            }
        family = token.family
        session = family.session if family else {}
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer" if token.kind == "access_token" else "refresh_token",
            "scope": token.scope,
            "sub": token.user_id,
            "iss": extensions.settings().issuer,
            "aud": token.client_id,
            "exp": int(token.expires_at),
            "iat": int(token.issued_at),
            "auth_time": session.get("auth_time"),
            "acr": session.get("acr"),
            "amr": session.get("amr"),
            "line_auth": (session.get("route") or {}).get("kind") == "line",
        }


def setup_oauth(app: Flask) -> None:
    settings = extensions.settings.of(app)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": settings.access_token_ttl,
        "refresh_token": settings.access_token_ttl,
        "client_credentials": settings.access_token_ttl,
    }
    # Opaque random tokens, stored hashed (idp/oidc/tokens.py).
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = new_opaque_token
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = new_opaque_token
    app.config["OAUTH2_SCOPES_SUPPORTED"] = [
        "openid",
        "profile",
        "email",
        "offline_access",
        "contract",
        *SERVICE_SCOPES,
    ]
    clients = ClientCache()
    extensions.clients.register(app, clients)
    server = IdpAuthorizationServer(app, query_client=clients.query_client, save_token=save_token)
    server.register_client_auth_method("client_secret_basic", authenticate_client_secret_basic)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode()])
    server.register_grant(RefreshTokenGrant, [RefreshIdToken()])
    server.register_grant(ClientCredentialsGrant)
    server.register_extension(Issuer())
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator())
    server.register_endpoint(IdpUserInfo(resource_protector=protector))
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    extensions.oauth.register(app, server)
