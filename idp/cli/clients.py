"""``idp clients``: register relying parties."""

from __future__ import annotations

import click

from idp.actor import Actor
from idp.cli.app import with_app


@click.group()
def clients() -> None:
    """Manage relying parties."""


@clients.command("add")
@click.option("--name", required=True)
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    help="Exact redirect URI (repeatable); required for a relying party.",
)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--public", is_flag=True, help="A public client (PKCE, no secret).")
@click.option("--client-id", default=None)
@click.option("--secret", default=None, help="Default: a new random secret.")
@click.option("--trusted", is_flag=True, help="First-party: no consent page.")
@click.option("--no-pkce", is_flag=True, help="Legacy confidential client without PKCE.")
@click.option("--refresh-tokens", is_flag=True, help="Refresh tokens without offline_access.")
@click.option("--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256")
@click.option(
    "--backchannel-logout-uri",
    default=None,
    help="Where logout tokens are POSTed (OIDC Back-Channel Logout).",
)
@click.option(
    "--backchannel-logout-session-required",
    is_flag=True,
    help="Every logout token names the session (sid).",
)
@click.option(
    "--grant",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
    help="client_credentials alone registers a service client of --contract (admin API, G7).",
)
@click.option("--contract", "contract_id", default=None, help="A service client's contract.")
@click.option("--scope", default=None, help="Space-separated scopes the client may ask for.")
@with_app
def clients_add(
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    public: bool,
    client_id: str | None,
    secret: str | None,
    trusted: bool,
    no_pkce: bool,
    refresh_tokens: bool,
    id_token_alg: str,
    backchannel_logout_uri: str | None,
    backchannel_logout_session_required: bool,
    grant_types: tuple[str, ...],
    contract_id: str | None,
    scope: str | None,
) -> None:
    """Register a client; prints client_id and, for confidential clients, the secret."""
    from idp.clients import add_client

    client, shown_secret = add_client(
        Actor.cli(),
        name,
        list(redirect_uris),
        list(post_logout_uris),
        public=public,
        client_id=client_id,
        secret=secret,
        trusted=trusted,
        require_pkce=not no_pkce,
        refresh_tokens=refresh_tokens,
        id_token_alg=id_token_alg,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        grant_types=list(grant_types) or None,
        contract_id=contract_id,
        scope=scope,
    )
    click.echo(f"client_id={client.client_id}")
    if shown_secret:
        click.echo(f"client_secret={shown_secret}")


COMMANDS = [clients]
