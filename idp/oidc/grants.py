"""The grants we offer, on authlib's classes through their hooks (STYLE.md §5): the code
grant (its code in :mod:`idp.oidc.codes`, its ID token in :mod:`idp.oidc.id_tokens`) and the
refresh-token grant.

authlib parses and validates the token request (client authentication, grant type, scope,
PKCE, redirect URI); the storage hooks are lean (issue 13): prebuilt Core statements on one
transaction per request (:mod:`idp.oidc.grant_statements`), clients cached
(:mod:`idp.oidc.client_cache`), the family read once per grant.

**Parallel refreshes are strict** (RFC 9700 §4.14.2): a refresh token presented after it was
claimed revokes its family, even when the two requests were milliseconds apart and came from
the client itself (:func:`refuse_unclaimed`). A grace window that answers the late request
with the same new pair (Okta, Auth0) would keep issued tokens in clear in a store for those
seconds; one that issues a second pair lets a thief race the client. A client that refreshes
from several threads at once should serialise its refreshes. (Whether a refresh carries an
ID token: :class:`idp.oidc.id_tokens.RefreshIdToken`.)
"""

from __future__ import annotations

import time
from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749 import scope_to_list
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
from idp.oidc.codes import CODE_PREFIX
from idp.oidc.codes import USED_CODE_MEMORY
from idp.oidc.codes import AuthorizationCode
from idp.oidc.codes import grant_family_of
from idp.oidc.grant_statements import GrantFamily
from idp.oidc.grant_statements import check_refresh_policies
from idp.oidc.grant_statements import claim_refresh_token
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

TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def wants_refresh_token(client: Any, scope: str) -> bool:
    """OIDC Core §11: ``offline_access`` asks for a refresh token; some clients always get one."""
    return bool(client.receives_refresh_tokens or "offline_access" in scope_to_list(scope))


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
