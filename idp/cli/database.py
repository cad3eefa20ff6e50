"""``idp init`` and ``idp migrate``: the schema (Alembic) and the signing keys."""

from __future__ import annotations

import click

from idp.cli.app import make_app


@click.command()
def init() -> None:
    """Create or migrate the schema (Alembic) and create signing keys if missing."""
    from idp.maintenance import init_database

    created = init_database(make_app(views=False))
    click.echo("schema up to date" + ("; signing keys created" if created else ""))


@click.command()
def migrate() -> None:
    """Apply schema migrations only."""
    from idp.maintenance import init_database

    init_database(make_app(views=False))
    click.echo("schema up to date")


COMMANDS = [init, migrate]
