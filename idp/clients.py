"""Relying parties (domain): registering OpenID Connect clients (RFC 9700: exact redirect
URIs, PKCE for all but legacy confidential clients, high-entropy secrets stored hashed)."""

from __future__ import annotations

import secrets

from idp import audit
from idp.actor import Actor
from idp.client_secrets import hash_client_secret
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import Client
from idp.models import db

ID_TOKEN_ALGS = ("RS256", "ES256")
MIN_SECRET_LENGTH = 16


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
) -> tuple[Client, str | None]:
    """Register a client; returns it and, for a confidential client, its secret (shown once:
    only its SHA-256 is stored).

    :param backchannel_logout_uri: where logout tokens go (OIDC Back-Channel Logout 1.0
        §2.2: absolute, no fragment; X7).
    :param backchannel_logout_session_required: every logout token names the session."""
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
    )
    db.session.add(client)
    db.session.commit()
    audit.record(
        "client_add",
        "ok",
        None,
        client_id=client_id,
        actor=actor,
        details={
            "public": public,
            "trusted": trusted,
            "require_pkce": require_pkce,
            "backchannel_logout": backchannel_logout_uri is not None,
        },
    )
    return client, None if public else secret
