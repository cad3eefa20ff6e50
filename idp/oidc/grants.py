"""The grants we offer, on authlib's classes through their hooks (STYLE.md §5).

authlib parses and validates the token request (client authentication, grant type, scope,
PKCE, redirect URI); the storage hooks are lean (issue 13): prebuilt Core statements on one
transaction per request (:mod:`idp.oidc.grant_statements`), clients cached
(:mod:`idp.oidc.client_cache`), the family read once per grant.

Two choices where the standards leave room:

- **ID token on refresh** (OIDC Core §12.2: the response "might not contain an id_token"):
  only when ``openid`` is in the token's scope and the refresh request names ``openid`` in
  its ``scope`` (§12.1's example) or the client registered ES256 (:class:`RefreshIdToken`).
- **Parallel refreshes are strict** (RFC 9700 §4.14.2): a refresh token presented after it
  was claimed revokes its family, even when the two requests were milliseconds apart and
  came from the client itself (:func:`refuse_unclaimed`). A grace window that answers the
  late request with the same new pair (Okta, Auth0) would keep issued tokens in clear in a
  store for those seconds; one that issues a second pair lets a thief race the client. A
  client that refreshes from several threads at once should serialise its refreshes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749 import scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from authlib.oidc.core.grants.util import create_half_hash
from authlib.oidc.core.grants.util import is_openid_scope
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import bindparam
from sqlalchemy import insert

from idp import audit
from idp import extensions
from idp.audit import record_in_transaction
from idp.models import TokenFamily
from idp.models import db
from idp.models import new_id
from idp.models import utcnow
from idp.oidc.claims import parse_claims_request
from idp.oidc.claims import release_claims
from idp.oidc.grant_statements import GrantFamily
from idp.oidc.grant_statements import check_refresh_policies
from idp.oidc.grant_statements import claim_refresh_token
from idp.oidc.grant_statements import read_family
from idp.oidc.grant_statements import why_unclaimed
from idp.oidc.grant_transaction import commit
from idp.oidc.grant_transaction import connection
from idp.oidc.grant_transaction import keep
from idp.oidc.grant_transaction import rollback
from idp.oidc.parameters import check_no_repeated_parameter
from idp.oidc.tokens import IssuedToken
from idp.oidc.tokens import new_secret
from idp.oidc.tokens import revoke_family
from idp.oidc.tokens import token_hash
from idp.sso import Principal

CODE_PREFIX = "code:"
#: How long a spent code is remembered (its tombstone), to detect its reuse (RFC 6749 §4.1.2).
USED_CODE_MEMORY = 3600
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


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


def wants_refresh_token(client: Any, scope: str) -> bool:
    """OIDC Core §11: ``offline_access`` asks for a refresh token; some clients always get one."""
    return bool(client.receives_refresh_tokens or "offline_access" in scope_to_list(scope))


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


class IdTokenSigner:
    """Signs ID tokens (RS256 by default, ES256 when the client registered it)."""

    def encode(
        self,
        request: OAuth2Request,
        token: dict[str, Any],
        family: TokenFamily,
        nonce: str | None,
        requested: dict[str, Any] | None,
    ) -> str:
        settings = extensions.settings()
        client = request.client
        alg = client.id_token_signed_response_alg or "RS256"
        key = extensions.keys().signing_key(alg)
        now = int(time.time())
        session = family.session or {}
        claims: dict[str, Any] = {
            "iss": settings.issuer,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + settings.id_token_ttl,
            "auth_time": session.get("auth_time"),
            "amr": session.get("amr"),
            "acr": session.get("acr"),
        }
        if session.get("sid"):
            claims["sid"] = session["sid"]
        route = session.get("route") or {}
        # O1, X5: whether this sign-in came through line authentication, and from where.
        claims["line_auth"] = route.get("kind") == "line"
        if claims["line_auth"]:
            claims["line_area"] = route.get("area")
        if nonce:
            claims["nonce"] = nonce
        at_hash = create_half_hash(token["access_token"], alg)
        if at_hash is not None:
            claims["at_hash"] = at_hash.decode()
        claims.update(release_claims(request.user.user, token["scope"]))
        header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, KeySet([key]), algorithms=[alg])


class OpenIDCode(oidc_grants.OpenIDCode):  # type: ignore[misc]
    """OIDC Core §3.1 on the code grant: authlib validates ``prompt``/``nonce``; we sign."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # Codes are single-use and the nonce is echoed to its own client only.
        return False

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if not is_openid_scope(token.get("scope")):
            return token
        code: AuthorizationCode = grant.request.authorization_code
        family = family_of(code)
        token["id_token"] = IdTokenSigner().encode(
            grant.request,
            token,
            family,
            code.get_nonce(),
            code.data.get("claims", {}).get("id_token"),
        )
        return token


class RefreshIdToken:
    """OIDC Core §12.2: a refresh response "might not contain an id_token"; ours carries one
    (with the original ``auth_time``, ``sid``, ``acr``, ``amr``) only where it is worth its
    signature, when ``openid`` is in the token's scope and either

    - the refresh request asks for one: its ``scope`` names ``openid`` (as OIDC Core §12.1's
      example request does), or
    - the client registered ``id_token_signed_response_alg=ES256`` (a P-256 signature costs
      about a fifth of an RS256 one here, ~0.06 ms: cheap enough to always send).

    A plain rotation of an RS256 client (``grant_type`` and ``refresh_token`` only) gets
    access and refresh tokens without an ID token: nothing in it would be new (the sign-in's
    claims do not change on refresh) and its RS256 signature was the largest single cost of
    a lean refresh."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        if not is_openid_scope(token.get("scope")) or not is_id_token_wanted(grant.request):
            return token
        issued = grant.request.refresh_token
        token["id_token"] = IdTokenSigner().encode(grant.request, token, issued.family, None, None)
        return token


def is_id_token_wanted(request: OAuth2Request) -> bool:
    """See :class:`RefreshIdToken`."""
    if request.client.id_token_signed_response_alg == "ES256":
        return True
    return "openid" in (scope_to_list(request.payload.scope) or [])


#: The token family an authorization code starts.
_INSERT_FAMILY = insert(TokenFamily.__table__).values(
    id=bindparam("id"),
    user_id=bindparam("user_id"),
    client_id=bindparam("client_id"),
    scope=bindparam("scope"),
    session=bindparam("session"),
    created_at=bindparam("created_at"),
)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    @staticmethod
    def validate_no_multiple_request_parameter(request: OAuth2Request) -> None:
        """RFC 6749 §3.1 for the parameters that decide where an error may go: with two
        ``client_id`` or ``redirect_uri`` the person gets a page, not a redirect (§4.1.2.1).
        Every other parameter is checked once the redirect URI is trusted."""
        check_no_repeated_parameter(request.payload.datalist, ("client_id", "redirect_uri"))

    @staticmethod
    def validate_authorization_redirect_uri(request: OAuth2Request, client: Any) -> str:
        """authlib's exact match, without echoing an unregistered URI in the error (its
        characters may be ones an ``error_description`` cannot hold: authlib raises)."""
        redirect_uri = request.payload.redirect_uri
        if redirect_uri and not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The redirect_uri is not registered for this client.")
        return grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(  # type: ignore[no-any-return]
            request, client
        )

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        try:
            check_no_repeated_parameter(self.request.payload.datalist)
        except InvalidRequestError as error:
            error.redirect_uri = redirect_uri  # a trusted URI now: tell the client
            raise
        return redirect_uri

    def generate_authorization_code(self) -> str:
        """256 bits (RFC 6749 §10.10) in one ``os.urandom`` read, as the tokens are."""
        return new_secret()

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        principal: Principal = request.user
        settings = extensions.settings()
        data = request.payload.data
        claims_request = parse_claims_request(data.get("claims"))
        family_id = new_id()
        # A prebuilt Core statement on the session's transaction (no ORM unit of work on the
        # sign-in's hot path, issue 13).
        db.session.connection().execute(
            _INSERT_FAMILY,
            {
                "id": family_id,
                "user_id": principal.user.id,
                "client_id": request.client.client_id,
                "scope": request.scope,
                "session": {**principal.session, "userinfo_claims": claims_request.get("userinfo")},
                "created_at": utcnow(),
            },
        )
        store = extensions.store()
        # Inside the sign-in's one transaction (the SQL store joins it) the code commits with
        # its family. Else the family commits first: on SQLite the store's own writer would
        # wait for the lock this transaction holds.
        joined = store.defer_commit()
        if not joined:
            db.session.commit()
        store.set_json(
            CODE_PREFIX + token_hash(code),
            {
                "client_id": request.client.client_id,
                "redirect_uri": request.payload.redirect_uri,
                "scope": request.scope,
                "nonce": data.get("nonce"),
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method"),
                "user_id": principal.user.id,
                "family_id": family_id,
                "session": principal.session,
                "claims": claims_request,
                # Checked on use too, so the lifetime holds whatever the store's clock does.
                "exp": time.time() + settings.authorization_code_ttl,
            },
            settings.authorization_code_ttl,
        )
        if joined:
            store.commit()

    def query_authorization_code(self, code: str, client: Any) -> AuthorizationCode | None:
        """Take the code: its use and its mark as used are one atomic step in the store
        (``take``), so of parallel uses one gets it and every other sees it used and revokes
        what it issued (RFC 6749 §4.1.2) -- never "unknown" in between."""
        if not isinstance(code, str) or len(code) > 200:
            return None
        digest = token_hash(code)
        # On the SQL store the take is a statement of the grant's transaction (one commit
        # per exchange, issue 13), which then commits even if the grant is refused later
        # (PKCE, redirect URI): a code presented once is spent either way.
        taken, joined = extensions.store().take_json_in(
            connection, db.engine, CODE_PREFIX + digest, USED_CODE_MEMORY
        )
        if taken is None:
            return None
        data, first = taken
        is_live = time.time() < data["exp"]
        if joined:
            if first and is_live and data["client_id"] == client.client_id:
                keep()
            else:
                # A refusal: the take's mark first, as the refusal's writes below go through
                # the session's own connection (on SQLite they would wait for this lock).
                commit()
        if not first:
            revoke_family(data["family_id"], "code_reuse")
            audit.record("token", "refused", "code_reuse", client_id=client.client_id)
            return None
        if not is_live:
            return None
        if data["client_id"] != client.client_id:
            audit.record("token", "refused", "code_client_mismatch", client_id=client.client_id)
            return None
        return AuthorizationCode(digest, data)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Nothing to do: ``query_authorization_code`` already consumed it."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Principal | None:
        try:
            grant = grant_family_of(authorization_code)
        except InvalidGrantError:
            return None
        if grant.is_revoked or grant.user.id != authorization_code.data["user_id"]:
            return None
        return Principal(grant.user, grant.session)

    def generate_token(
        self,
        user: Any = None,
        scope: Any = None,
        grant_type: Any = None,
        expires_in: Any = None,
        include_refresh_token: bool = True,
    ) -> Any:
        include = wants_refresh_token(self.request.client, scope or "")
        return super().generate_token(user, scope, grant_type, expires_in, include)


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """RFC 6749 §6 with rotation on every use (RFC 9700 §4.14.2), on one transaction: the
    claim (one statement, :data:`idp.oidc.grant_statements.CLAIM`), the family read, the new
    refresh token and the audit event commit together (``save_token``)."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        if not isinstance(refresh_token, str) or not refresh_token or len(refresh_token) > 200:
            return None
        digest = token_hash(refresh_token)
        client = self.request.client
        claim = claim_refresh_token(digest, client.client_id)
        if claim is None:
            refuse_unclaimed(digest, client.client_id)
            return None
        claimed, grant = claim
        if grant is None:  # deleted with its user or client meanwhile
            return None
        return IssuedToken(
            "refresh_token",
            digest,
            claimed.family_id,
            grant.family.client_id,
            grant.family.user_id,
            claimed.scope,
            claimed.issued_at,
            claimed.expires_at,
            time.time(),
            grant.family,
            grant=grant,
        )

    def authenticate_user(self, refresh_token: Any) -> Principal | None:
        grant: GrantFamily = refresh_token.grant
        decision = check_refresh_policies(grant)
        if decision.outcome == "deny":
            # O2: nothing is issued once a policy no longer holds (the claimed token is
            # spent with the refusal).
            record_in_transaction(
                "token",
                "refused",
                decision.reason,
                user_id=grant.user.id,
                contract_id=grant.user.contract_id,
                client_id=refresh_token.client_id,
                connection=connection(),
            )
            commit()
            raise InvalidGrantError("The sign-in no longer satisfies the contract's policies.")
        return Principal(grant.user, grant.session)

    def revoke_old_credential(self, refresh_token: Any) -> None:
        """Nothing to do: ``authenticate_refresh_token`` claimed it (committed with the new
        one in ``save_token``)."""


def refuse_unclaimed(digest: str, client_id: str) -> None:
    """A refresh token that could not be claimed. When it is this client's and was used
    already, someone holds a copy: the whole family is revoked (RFC 9700 §4.14.2). Parallel
    uses by the client itself count the same (strict rotation, no grace window): the losers
    of a race revoke the winner's tokens too, and the client signs in again."""
    why = why_unclaimed(digest)
    # The failed claim wrote nothing; end its transaction before the session writes below
    # (on SQLite they would wait for its lock).
    rollback()
    if why is None or why.client_id != client_id or why.used_at is None:
        return
    if revoke_family(why.family_id, "refresh_reuse"):
        audit.record("token", "refused", "refresh_reuse", user_id=why.user_id, client_id=client_id)
