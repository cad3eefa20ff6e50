"""``idp backchannel deliver``: retry the logout tokens that relying parties did not take yet
(X7; the provider's worker thread does it too, while it runs)."""

from __future__ import annotations

import click

from idp.cli.app import with_app


@click.group()
def backchannel() -> None:
    """OpenID Connect Back-Channel Logout deliveries."""


@backchannel.command("deliver")
@with_app
def backchannel_deliver() -> None:
    """Send every logout token that is due now; prints the counts (pending: still queued)."""
    from idp.backchannel.delivery import deliver_due

    report = deliver_due()
    click.echo(f"delivered={report.delivered} pending={report.pending} dropped={report.dropped}")


COMMANDS = [backchannel]
