"""``idp ad``: the contracts' Active Directory connections (D1, L8)."""

from __future__ import annotations

from typing import Any

import click

from idp.actor import Actor
from idp.cli.app import with_app

CONTRACT = click.option("--contract", "contract_id", required=True)


@click.group()
def ad() -> None:
    """Manage contracts' Active Directory connections (D1, L8)."""


@ad.command("add")
@CONTRACT
@click.option("--issuer", required=True, help="https://{fs}/adfs")
@click.option("--client-id", required=True)
@click.option("--client-secret", required=True)
@click.option("--resource", default="", help="The Web API identifier of the application group")
def ad_add(
    contract_id: str, issuer: str, client_id: str, client_secret: str, resource: str
) -> None:
    """Register the contract's AD FS; prints the connection ID and mails the contractor."""
    settings = {"issuer": issuer, "client_id": client_id, "resource": resource}
    _add_connection(contract_id, "adfs", settings, client_secret)


@ad.command("add-ldap")
@CONTRACT
@click.option("--url", required=True, help="ldaps://host:636, or ldap://host:389 with --start-tls")
@click.option("--base-dn", required=True)
@click.option("--bind-dn", required=True)
@click.option("--bind-password", required=True)
@click.option("--start-tls", is_flag=True)
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), required=True)
def ad_add_ldap(
    contract_id: str,
    url: str,
    base_dn: str,
    bind_dn: str,
    bind_password: str,
    start_tls: bool,
    ca_file: str,
) -> None:
    """Register a direct LDAP bind for a contract without AD FS; prints the connection ID."""
    from pathlib import Path

    settings = {
        "url": url,
        "base_dn": base_dn,
        "bind_dn": bind_dn,
        "start_tls": start_tls,
        "ca_pem": Path(ca_file).read_text(),
    }
    _add_connection(contract_id, "ldap", settings, bind_password)


@with_app
def _add_connection(contract_id: str, kind: str, settings: dict[str, Any], secret: str) -> None:
    from idp.contracts.ad import add_ad_connection

    connection = add_ad_connection(Actor.cli(), contract_id, kind, settings, secret)
    click.echo(connection.connection_id)


@ad.command("list")
@with_app
def ad_list() -> None:
    """Every contract's AD connection: connection ID, contract, kind and upstream."""
    from idp.contracts.ad import list_ad_connections

    for connection in list_ad_connections():
        upstream = connection.settings.get("issuer") or connection.settings.get("url")
        click.echo(
            f"{connection.connection_id}\t{connection.contract_id}\t{connection.kind}\t{upstream}"
        )


@ad.command("remove")
@click.argument("connection_id")
@click.option(
    "--force",
    is_flag=True,
    help="Remove it even while users sign in with it (they cannot sign in afterwards).",
)
@with_app
def ad_remove(connection_id: str, force: bool) -> None:
    """Remove a connection: its login URLs stop working at once. Refused while users of the
    contract sign in with Active Directory, unless --force."""
    from idp.contracts.ad import remove_ad_connection

    remove_ad_connection(Actor.cli(), connection_id, allow_in_use=force)
    click.echo(f"removed {connection_id}")


COMMANDS = [ad]
