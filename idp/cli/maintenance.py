"""``idp purge``: delete what has expired (run it from a timer, e.g. hourly)."""

from __future__ import annotations

import click

from idp.actor import Actor
from idp.cli.app import with_app


@click.command()
@with_app
def purge() -> None:
    """Delete expired ephemeral rows (SQL store), mailed links past their 14 days,
    remembered browsers unused for 30 days, listed sessions that ended (X2), the users and
    data of contracts cancelled more than IDP_CANCELLED_RETENTION_DAYS ago (C3), and audit
    events older than IDP_AUDIT_RETENTION_DAYS (their chains keep a checkpoint, X8); prints
    the counts."""
    from idp.maintenance import purge as purge_expired

    report = purge_expired(Actor.cli())
    click.echo(
        f"ephemeral={report.ephemeral} links={report.links} "
        f"remembered_browsers={report.remembered_browsers} "
        f"cancelled_contracts={report.cancelled_contracts} "
        f"cancelled_users={report.cancelled_users} "
        f"sessions={report.sessions} "
        f"audit_events={report.audit_events}"
    )


COMMANDS = [purge]
