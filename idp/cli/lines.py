"""``idp lines``: the contracts' line numbers (A2), and the development line gateway."""

from __future__ import annotations

import click

from idp.actor import Actor
from idp.cli.app import with_app

CONTRACT = click.option("--contract", "contract_id", required=True)


@click.group()
def lines() -> None:
    """Manage contracts' line numbers (A2)."""


@lines.command("add")
@CONTRACT
@click.argument("numbers", nargs=-1, required=True)
@with_app
def lines_add(contract_id: str, numbers: tuple[str, ...]) -> None:
    """Register line numbers (CAF + 10 letters/digits or COP + 8)."""
    from idp.contracts.lines import add_line

    for raw in numbers:
        click.echo(add_line(Actor.cli(), contract_id, raw).number)


@lines.command("remove")
@CONTRACT
@click.argument("number")
@with_app
def lines_remove(contract_id: str, number: str) -> None:
    """Remove a line; its sessions end at their next refresh."""
    from idp.contracts.lines import remove_line

    remove_line(Actor.cli(), contract_id, number)
    click.echo(f"removed {number}")


@lines.command("list")
@CONTRACT
@with_app
def lines_list(contract_id: str) -> None:
    """The contract's line numbers and their West Japan notification choice."""
    from idp.contracts.lines import list_lines

    for line in list_lines(contract_id):
        click.echo(f"{line.number}\t{line.notification or '-'}")


@click.command("line-gateway")
@click.option("--line", "line_number", required=True)
@click.option("--area", type=click.Choice(["east", "west"]), required=True)
@click.option("--to", "upstream", default="http://127.0.0.1:8000")
@click.option("--listen", default="127.0.0.1:8100")
def line_gateway(line_number: str, area: str, upstream: str, listen: str) -> None:
    """Development line gateway: forwards to the provider, adding signed line headers, so
    a person or a test can act as a line (L9). Uses IDP_LINE_GATEWAY_SECRET."""
    import os

    from idp.line.dev_gateway import run_dev_gateway

    secret = os.environ.get("IDP_LINE_GATEWAY_SECRET", "")
    if not secret:
        raise click.ClickException("set IDP_LINE_GATEWAY_SECRET (the provider's too)")
    try:
        run_dev_gateway(line_number, area, upstream, listen, secret.encode())
    except ValueError as error:
        raise click.ClickException(str(error)) from error


COMMANDS = [lines, line_gateway]
