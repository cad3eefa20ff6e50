"""Relying parties (domain): registering OpenID Connect clients (RFC 9700: exact redirect
URIs, PKCE for all but legacy confidential clients, high-entropy secrets stored hashed), and
service clients: confidential clients of one contract that get admin-scoped tokens by the
client-credentials grant (G7; RFC 6749 §4.4)."""

from __future__ import annotations

import secrets

from idp import audit
from idp.actor import Actor
from idp.client_secrets import hash_client_secret
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import Client
from idp.models import Contract
from idp.models import db
from idp.vocabulary import ContractStatus

ID_TOKEN_ALGS = ("RS256", "ES256")
MIN_SECRET_LENGTH = 16
#: What a relying party does: sign people in (the code flow) and refresh.
RELYING_PARTY_GRANTS = ("authorization_code", "refresh_token")
#: What a service client does (G7): act on its contract by its own credentials.
SERVICE_GRANT = "client_credentials"
#: G7: the admin API's scopes; only a service client bound to one contract holds them.
SERVICE_SCOPES = ("admin:read", "admin:write")
#: A service client registered without ``scope`` may read, not change (least privilege).
DEFAULT_SERVICE_SCOPE = "admin:read"


def get_client(client_id: str) -> Client:
    client = db.session.get(Client, client_id)
    if client is None:
        raise NotFoundError(f"no client {client_id}")
    return client


def _check_uri(uri: str) -> None:
    if not uri.startswith(("https://", "http://")) or "#" in uri:
        raise ProvisioningError(
            f"redirect URIs must be absolute http(s) without fragment: {uri}", "bad_uri"
        )


@audit.change("client_add")
def add_client(
    actor: Actor,
    name: str,
    redirect_uris: list[str],
    post_logout_uris: list[str],
    *,
    public: bool = False,
    client_id: str | None = None,
    secret: str | None = None,
    trusted: bool = False,
    require_pkce: bool = True,
    refresh_tokens: bool = False,
    id_token_alg: str = "RS256",
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    grant_types: list[str] | None = None,
    contract_id: str | None = None,
    scope: str | None = None,
) -> tuple[Client, str | None]:
    """Register a client; returns it and, for a confidential client, its secret (shown once:
    only its SHA-256 is stored).

    :param backchannel_logout_uri: where logout tokens go (OIDC Back-Channel Logout 1.0
        §2.2: absolute, no fragment; X7).
    :param backchannel_logout_session_required: every logout token names the session.
    :param grant_types: ``["client_credentials"]`` registers a service client (then
        ``contract_id`` is required and ``scope`` holds admin scopes only); default: a relying
        party (code flow and refresh).
    :param scope: the scopes the client may ask for; default: the relying party's set, or
        ``admin:read`` for a service client."""
    grants = list(grant_types or RELYING_PARTY_GRANTS)
    scope = _check_grants_and_scope(
        grants, scope, contract_id, public=public, redirect_uris=redirect_uris
    )
    for uri in [*redirect_uris, *post_logout_uris]:
        _check_uri(uri)
    if backchannel_logout_uri is not None:
        _check_uri(backchannel_logout_uri)
    elif backchannel_logout_session_required:
        # §2.2: "MAY only be present if backchannel_logout_uri is present".
        raise ProvisioningError("a session-required client needs a back-channel logout URI")
    client_id = client_id or secrets.token_urlsafe(16)
    if db.session.get(Client, client_id) is not None:
        raise ProvisioningError(f"client {client_id} exists", "exists")
    if public and (secret or not require_pkce):
        raise ProvisioningError("a public client has no secret and always uses PKCE")
    if id_token_alg not in ID_TOKEN_ALGS:
        raise ProvisioningError(f"unknown ID token algorithm {id_token_alg}")
    if not public:
        secret = secret or secrets.token_urlsafe(32)
        if len(secret) < MIN_SECRET_LENGTH:
            raise ProvisioningError(
                f"client secrets must be at least {MIN_SECRET_LENGTH} characters", "weak_secret"
            )
    client = Client(
        client_id=client_id,
        name=name,
        secret_hash=None if public else hash_client_secret(secret or ""),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_uris,
        is_trusted=trusted,
        require_pkce=require_pkce,
        receives_refresh_tokens=refresh_tokens,
        id_token_signed_response_alg=id_token_alg,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        grant_types=grants,
        contract_id=contract_id,
    )
    if scope is not None:
        client.scope = scope
    db.session.add(client)
    db.session.commit()
    audit.record(
        "client_add",
        "ok",
        None,
        client_id=client_id,
        contract_id=contract_id,
        actor=actor,
        details={
            "grant_types": grants,
            "scope": client.scope,
            "public": public,
            "trusted": trusted,
            "require_pkce": require_pkce,
            "backchannel_logout": backchannel_logout_uri is not None,
        },
    )
    return client, None if public else secret


def _check_grants_and_scope(
    grants: list[str],
    scope: str | None,
    contract_id: str | None,
    *,
    public: bool,
    redirect_uris: list[str],
) -> str | None:
    """A client is either a relying party or a service client, never both: admin scopes and
    a contract only on a confidential client-credentials client without redirect URIs (a
    person's sign-in never yields an admin token); returns the scope to store (None: the
    model's default)."""
    known = {*RELYING_PARTY_GRANTS, SERVICE_GRANT}
    if not grants or not set(grants) <= known:
        raise ProvisioningError(f"grant types are {sorted(known)}", "bad_grant")
    requested = (scope or "").split()
    if SERVICE_GRANT not in grants:
        if contract_id is not None or set(requested) & set(SERVICE_SCOPES):
            raise ProvisioningError(
                "only a client-credentials client is bound to a contract or holds admin scopes",
                "not_a_service_client",
            )
        if not redirect_uris:
            raise ProvisioningError("a relying party needs a redirect URI", "bad_uri")
        return scope
    if grants != [SERVICE_GRANT] or public or redirect_uris:
        raise ProvisioningError(
            "a service client is confidential, uses client_credentials alone and has no "
            "redirect URI",
            "bad_service_client",
        )
    contract = db.session.get(Contract, contract_id) if contract_id else None
    if contract is None or contract.status != ContractStatus.ACTIVE:
        raise ProvisioningError("a service client needs an active contract", "bad_contract")
    requested = requested or [DEFAULT_SERVICE_SCOPE]
    if not set(requested) <= set(SERVICE_SCOPES):
        raise ProvisioningError(
            f"a service client's scopes are {list(SERVICE_SCOPES)}", "bad_scope"
        )
    return " ".join(dict.fromkeys(requested))
