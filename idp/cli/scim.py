"""``idp scim``: a contract's SCIM tokens (G7) — issue one (printed once) and revoke."""

from __future__ import annotations

import click

from idp.actor import Actor
from idp.cli.app import with_app


@click.group()
def scim() -> None:
    """SCIM provisioning tokens of a contract."""


@scim.command("token")
@click.option("--contract", "contract_id", required=True)
@with_app
def scim_token(contract_id: str) -> None:
    """Issue a bearer token for the contract's SCIM client; prints its id and the token,
    which is not kept and cannot be shown again."""
    from idp.contracts.scim_tokens import issue_scim_token

    row, token = issue_scim_token(Actor.cli(), contract_id)
    click.echo(f"token_id={row.id}")
    click.echo(f"token={token}")


@scim.command("revoke")
@click.option("--contract", "contract_id", required=True)
@click.option("--token-id", default=None, help="Only this token (default: all of the contract).")
@with_app
def scim_revoke(contract_id: str, token_id: str | None) -> None:
    """Revoke the contract's SCIM tokens (or one); they stop working at once."""
    from idp.contracts.scim_tokens import revoke_scim_tokens

    revoked = revoke_scim_tokens(Actor.cli(), contract_id, token_id)
    click.echo(f"revoked={revoked}")


COMMANDS = [scim]
