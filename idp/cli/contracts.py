"""``idp contracts``: add a contract, change its 2FA setting (T1) or access route (A1)."""

from __future__ import annotations

import click

from idp.actor import Actor
from idp.cli.app import with_app
from idp.vocabulary import AccessRoute
from idp.vocabulary import Plan

ON_OFF = click.Choice(["on", "off"])
ROUTES = click.Choice([r.value for r in AccessRoute])


@click.group()
def contracts() -> None:
    """Manage contracts."""


@contracts.command("add")
@click.argument("name")
@click.option("--plan", type=click.Choice([p.value for p in Plan]), default=Plan.BASIC.value)
@click.option("--two-factor", type=ON_OFF, default="off")
@click.option("--access-route", type=ROUTES, default=AccessRoute.LINE_AND_INTERNET.value)
@with_app
def contracts_add(name: str, plan: str, two_factor: str, access_route: str) -> None:
    """Create a contract; prints its id."""
    from idp.contracts.contract import add_contract

    contract = add_contract(Actor.cli(), name, plan, two_factor == "on", access_route)
    click.echo(contract.id)


@contracts.command("set")
@click.argument("contract_id")
@click.option("--two-factor", type=ON_OFF)
@click.option("--access-route", type=ROUTES)
@with_app
def contracts_set(contract_id: str, two_factor: str | None, access_route: str | None) -> None:
    """Change a contract's 2FA setting (T1) or access route (A1); their pages come with the
    account menu."""
    from idp.contracts.contract import set_access_route
    from idp.contracts.contract import set_two_factor

    if two_factor is None and access_route is None:
        raise click.UsageError("give --two-factor or --access-route")
    if two_factor is not None:
        set_two_factor(Actor.cli(), contract_id, two_factor == "on")
        click.echo(f"two-factor {two_factor}")
    if access_route is not None:
        set_access_route(Actor.cli(), contract_id, access_route)
        click.echo(f"access-route {access_route}")


COMMANDS = [contracts]
