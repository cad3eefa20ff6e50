"""``idp contracts``: add a contract, change its 2FA setting (T1), access route (A1) or plan
(C2), cancel it (C3) and change its information (C4)."""

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
@click.option("--two-factor", type=ON_OFF, default="on", help="T3: on unless turned off.")
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
@click.option("--plan", type=click.Choice([Plan.BASIC.value]), help="C2: trial to basic.")
@with_app
def contracts_set(
    contract_id: str, two_factor: str | None, access_route: str | None, plan: str | None
) -> None:
    """Change a contract's 2FA setting (T1), access route (A1) or plan (C2: trial to basic,
    during the trial or the 15 days after it); the same domain functions as the account
    menu, audited with the operator as actor."""
    from idp.contracts.contract import set_access_route
    from idp.contracts.contract import set_two_factor
    from idp.contracts.life import change_plan

    if two_factor is None and access_route is None and plan is None:
        raise click.UsageError("give --two-factor, --access-route or --plan")
    if plan is not None:
        change_plan(Actor.cli(), contract_id, plan)
        click.echo(f"plan {plan}")
    if two_factor is not None:
        set_two_factor(Actor.cli(), contract_id, two_factor == "on")
        click.echo(f"two-factor {two_factor}")
    if access_route is not None:
        set_access_route(Actor.cli(), contract_id, access_route)
        click.echo(f"access-route {access_route}")


@contracts.command("cancel")
@click.argument("contract_id")
@with_app
def contracts_cancel(contract_id: str) -> None:
    """C3: cancel a basic contract: sign-ins are refused and every session and refresh token
    of its users is revoked at once; ``idp purge`` deletes its users and data after
    IDP_CANCELLED_RETENTION_DAYS."""
    from idp.contracts.life import cancel_contract

    cancel_contract(Actor.cli(), contract_id)
    click.echo("cancelled")


@contracts.command("info")
@click.argument("contract_id")
@click.option("--company", "company_name")
@click.option("--department")
@click.option("--contact-person")
@click.option("--address")
@click.option("--phone")
@click.option("--billing-email")
@with_app
def contracts_info(contract_id: str, **fields: str | None) -> None:
    """C4: show the contract information; the options given change it (basic contracts)."""
    from idp.contracts.contract import get_contract
    from idp.contracts.life import INFORMATION_FIELDS
    from idp.contracts.life import update_contract_information

    changes = {name: value for name, value in fields.items() if value is not None}
    if changes:
        contract = update_contract_information(Actor.cli(), contract_id, **changes)
    else:
        contract = get_contract(contract_id)
    for name in INFORMATION_FIELDS:
        click.echo(f"{name}: {getattr(contract, name)}")


COMMANDS = [contracts]
