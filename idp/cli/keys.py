"""``idp keys``: signing keys."""

from __future__ import annotations

import click

from idp.actor import Actor
from idp.cli.app import with_app


@click.group()
def keys() -> None:
    """Manage signing keys."""


@keys.command("rotate")
@with_app
def keys_rotate() -> None:
    """Add a new signing key and sign with it; older keys stay in the JWKS until expiry."""
    from idp.maintenance import rotate_signing_key

    click.echo(f"signing with {rotate_signing_key(Actor.cli())}")


COMMANDS = [keys]
