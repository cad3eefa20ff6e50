"""``idp mail queue``: what the mail queue holds (counts by purpose, never an address or a
body) and, with ``--retry-now``, send every queued mail now (the SMTP server is back; each
node's worker does it too, at its own pace)."""

from __future__ import annotations

import click

from idp.cli.app import with_app


@click.group()
def mail() -> None:
    """Outgoing mail."""


@mail.command("queue")
@click.option("--retry-now", is_flag=True, help="Make every queued mail due and send it.")
@with_app
def mail_queue(retry_now: bool) -> None:
    """Print the queued mails by purpose; with --retry-now, send them and print the counts."""
    from idp.mail.queue import make_all_due
    from idp.mail.queue import queue_summary
    from idp.mail.queue import send_due

    for purpose, count in sorted(queue_summary().items()):
        click.echo(f"{purpose}={count}")
    if retry_now:
        make_all_due()
        report = send_due()
        click.echo(f"sent={report.sent} pending={report.pending} dropped={report.dropped}")


COMMANDS = [mail]
