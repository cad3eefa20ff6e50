"""``idp audit seal`` and ``idp audit verify``: the tamper-evident audit log (X8)."""

from __future__ import annotations

from datetime import timedelta

import click

from idp.cli.app import with_app


@click.group()
def audit() -> None:
    """The tamper-evident audit log: each contract's events form a hash chain."""


@audit.command("seal")
@with_app
def audit_seal() -> None:
    """Chain the events not sealed yet (the provider does it shortly after each event)."""
    from idp.audit_chain.seal import seal_all

    report = seal_all()
    click.echo(f"sealed={report.events} chains={report.chains}")


@audit.command("verify")
@click.option("--contract", "contract_id", help="Check this contract's chain only.")
@click.option(
    "--unsealed-grace",
    type=click.IntRange(min=0),
    default=300,
    show_default=True,
    help="Seconds an event may stay unsealed before it is reported.",
)
@with_app
def audit_verify(contract_id: str | None, unsealed_grace: int) -> None:
    """Check the chains (seals nothing). Prints OK with the counts, or names the first
    edited or missing event of each broken chain and exits with status 1."""
    from idp.audit_chain.verify import verify

    report = verify(contract_id, timedelta(seconds=unsealed_grace))
    for problem in report.problems:
        click.echo(f"FAILED {problem.kind}: {problem.text}")
    if report.problems:
        raise click.exceptions.Exit(1)
    heads = ""
    if contract_id is not None:
        (chain,) = report.chains
        heads = f" head_seq={chain.head_seq} checkpoint_seq={chain.checkpoint_seq}"
    click.echo(
        f"OK chains={len(report.chains)} events={report.events} unsealed={report.unsealed}{heads}"
    )


COMMANDS = [audit]
