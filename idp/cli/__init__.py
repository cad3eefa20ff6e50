"""The ``idp`` command line (a surface, DESIGN.md "Inside idp/"): one module per noun, each
command a thin call of a domain function with ``Actor.cli()`` under ``@with_app``.

Only click and the vocabulary are imported here, so that ``idp --help`` stays fast; the app
and the domain are imported inside the commands."""

from __future__ import annotations

import click

from idp.cli import ad
from idp.cli import audit
from idp.cli import backchannel
from idp.cli import clients
from idp.cli import contracts
from idp.cli import database
from idp.cli import keys
from idp.cli import lines
from idp.cli import mail
from idp.cli import maintenance
from idp.cli import scim
from idp.cli import servers
from idp.cli import users


@click.group()
def main() -> None:
    """WORKSDRIVE identity provider."""


for module in (
    database,
    contracts,
    lines,
    users,
    ad,
    clients,
    scim,
    backchannel,
    mail,
    keys,
    maintenance,
    audit,
    servers,
):
    for command in module.COMMANDS:
        main.add_command(command)
