"""``idp purge``: delete what has expired (run it from a timer, e.g. hourly)."""

from __future__ import annotations

from dataclasses import asdict

import click

from idp.actor import Actor
from idp.cli.app import with_app


@click.command()
@with_app
def purge() -> None:
    """Delete expired ephemeral rows (SQL store), mailed links past their 14 days,
    remembered browsers unused for 30 days or revoked, listed sessions that ended (X2),
    expired refresh tokens and the token families nothing uses any more, retired signing
    keys no valid token names, invitation uploads finished 30 days ago (G3), the users and
    data of contracts cancelled more than IDP_CANCELLED_RETENTION_DAYS ago (C3), and audit
    events older than IDP_AUDIT_RETENTION_DAYS (their chains keep a checkpoint, X8); prints
    the counts."""
    from idp.maintenance import purge as purge_expired

    report = purge_expired(Actor.cli())
    click.echo(" ".join(f"{name}={count}" for name, count in asdict(report).items()))


COMMANDS = [purge]
