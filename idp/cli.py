"""The ``idp`` command line: init, contracts, users, clients, keys, serve, demo."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask

from idp.config import ConfigError
from idp.vocabulary import AccessRoute
from idp.vocabulary import LoginMethod
from idp.vocabulary import Plan
from idp.vocabulary import Role


def make_app() -> Flask:
    from idp import create_app

    try:
        return create_app()
    except ConfigError as error:
        raise click.ClickException(str(error)) from error


def init_database(app: Flask) -> bool:
    """Migrate the schema to head and create signing keys; True if keys were created."""
    from idp.migrations import upgrade
    from idp.models import db

    with app.app_context():
        upgrade(db.engine)
    return bool(app.extensions["idp.keys"].ensure())


@click.group()
def main() -> None:
    """WORKSDRIVE identity provider."""


@main.command()
def init() -> None:
    """Create or migrate the schema (Alembic) and create signing keys if missing."""
    created = init_database(make_app())
    click.echo("schema up to date" + ("; signing keys created" if created else ""))


@main.command()
def migrate() -> None:
    """Apply schema migrations only."""
    init_database(make_app())
    click.echo("schema up to date")


@main.group()
def contracts() -> None:
    """Manage contracts."""


@contracts.command("add")
@click.argument("name")
@click.option("--plan", type=click.Choice([p.value for p in Plan]), default=Plan.BASIC.value)
@click.option("--two-factor", type=click.Choice(["on", "off"]), default="off")
@click.option(
    "--access-route",
    type=click.Choice([r.value for r in AccessRoute]),
    default=AccessRoute.LINE_AND_INTERNET.value,
)
def contracts_add(name: str, plan: str, two_factor: str, access_route: str) -> None:
    """Create a contract; prints its id."""
    from idp.admin.provisioning import add_contract

    app = make_app()
    with app.app_context():
        contract = add_contract(name, plan, two_factor == "on", access_route)
        click.echo(contract.id)


@contracts.command("set")
@click.argument("contract_id")
@click.option("--two-factor", type=click.Choice(["on", "off"]))
@click.option("--access-route", type=click.Choice([r.value for r in AccessRoute]))
def contracts_set(contract_id: str, two_factor: str | None, access_route: str | None) -> None:
    """Change a contract's 2FA setting (T1) or access route (A1); their pages come with the
    account menu."""
    from idp.admin.provisioning import ProvisioningError
    from idp.admin.provisioning import set_access_route
    from idp.admin.provisioning import set_two_factor

    if two_factor is None and access_route is None:
        raise click.UsageError("give --two-factor or --access-route")
    app = make_app()
    with app.app_context():
        try:
            if two_factor is not None:
                set_two_factor(contract_id, two_factor == "on")
                click.echo(f"two-factor {two_factor}")
            if access_route is not None:
                set_access_route(contract_id, access_route)
                click.echo(f"access-route {access_route}")
        except ProvisioningError as error:
            raise click.ClickException(str(error)) from error


@main.group()
def lines() -> None:
    """Manage contracts' line numbers (A2)."""


@lines.command("add")
@click.option("--contract", "contract_id", required=True)
@click.argument("numbers", nargs=-1, required=True)
def lines_add(contract_id: str, numbers: tuple[str, ...]) -> None:
    """Register line numbers (CAF + 10 letters/digits or COP + 8)."""
    from idp.admin.provisioning import ProvisioningError
    from idp.admin.provisioning import add_line

    app = make_app()
    with app.app_context():
        for raw in numbers:
            try:
                click.echo(add_line(contract_id, raw).number)
            except ProvisioningError as error:
                raise click.ClickException(str(error)) from error


@lines.command("remove")
@click.option("--contract", "contract_id", required=True)
@click.argument("number")
def lines_remove(contract_id: str, number: str) -> None:
    """Remove a line; its sessions end at their next refresh."""
    from idp.admin.provisioning import ProvisioningError
    from idp.admin.provisioning import remove_line

    app = make_app()
    with app.app_context():
        try:
            remove_line(contract_id, number)
        except ProvisioningError as error:
            raise click.ClickException(str(error)) from error
    click.echo(f"removed {number}")


@lines.command("list")
@click.option("--contract", "contract_id", required=True)
def lines_list(contract_id: str) -> None:
    """The contract's line numbers and their West Japan notification choice."""
    from idp.models import LineNumber
    from idp.models import db

    app = make_app()
    with app.app_context():
        for line in db.session.query(LineNumber).filter_by(contract_id=contract_id):
            click.echo(f"{line.number}\t{line.notification or '-'}")


@main.command("line-gateway")
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


@main.group()
def users() -> None:
    """Manage users."""


@users.command("add")
@click.option("--contract", "contract_id", required=True)
@click.option("--email", required=True)
@click.option("--password", default=None, help="Prompted for when omitted.")
@click.option("--name", default="")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.USER.value)
@click.option(
    "--method",
    type=click.Choice([m.value for m in LoginMethod]),
    default=LoginMethod.PASSWORD.value,
)
@click.option("--locale", type=click.Choice(["ja", "en"]), default="ja")
def users_add(
    contract_id: str,
    email: str,
    password: str | None,
    name: str,
    role: str,
    method: str,
    locale: str,
) -> None:
    """Create a user; prints the user's id."""
    from idp.admin.provisioning import ProvisioningError
    from idp.admin.provisioning import add_user

    if method != LoginMethod.PASSWORD and password is not None:
        raise click.ClickException("only password users have a password")
    if password is None and method == LoginMethod.PASSWORD:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    app = make_app()
    with app.app_context():
        try:
            user = add_user(
                contract_id, email, password, name=name, role=role, method=method, locale=locale
            )
        except ProvisioningError as error:
            raise click.ClickException(str(error)) from error
        click.echo(user.id)


@users.command("link")
@click.option("--user", "user_id", required=True)
@click.option(
    "--provider",
    required=True,
    type=click.Choice([m.value for m in LoginMethod if m != LoginMethod.PASSWORD]),
)
@click.option(
    "--issuer", required=True, help="The upstream issuer (facebook:<app id> for Facebook)"
)
@click.option("--subject", required=True)
def users_link(user_id: str, provider: str, issuer: str, subject: str) -> None:
    """Bind an upstream identity (provider, issuer, subject) to a user (L7)."""
    from idp.admin.provisioning import ProvisioningError
    from idp.admin.provisioning import link_identity

    app = make_app()
    with app.app_context():
        try:
            identity = link_identity(user_id, provider, issuer, subject)
        except ProvisioningError as error:
            raise click.ClickException(str(error)) from error
        click.echo(identity.id)


@main.group()
def ad() -> None:
    """Manage contracts' Active Directory connections (D1, L8)."""


@ad.command("add")
@click.option("--contract", "contract_id", required=True)
@click.option("--issuer", required=True, help="https://{fs}/adfs")
@click.option("--client-id", required=True)
@click.option("--client-secret", required=True)
@click.option("--resource", default="", help="The Web API identifier of the application group")
def ad_add(
    contract_id: str, issuer: str, client_id: str, client_secret: str, resource: str
) -> None:
    """Register the contract's AD FS; prints the connection ID and mails the contractor."""
    _add_connection(
        contract_id,
        "adfs",
        {"issuer": issuer, "client_id": client_id, "resource": resource},
        client_secret,
    )


@ad.command("add-ldap")
@click.option("--contract", "contract_id", required=True)
@click.option("--url", required=True, help="ldaps://host:636, or ldap://host:389 with --start-tls")
@click.option("--base-dn", required=True)
@click.option("--bind-dn", required=True)
@click.option("--bind-password", required=True)
@click.option("--start-tls", is_flag=True)
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), required=True)
def ad_add_ldap(
    contract_id: str,
    url: str,
    base_dn: str,
    bind_dn: str,
    bind_password: str,
    start_tls: bool,
    ca_file: str,
) -> None:
    """Register a direct LDAP bind for a contract without AD FS; prints the connection ID."""
    from pathlib import Path

    settings = {
        "url": url,
        "base_dn": base_dn,
        "bind_dn": bind_dn,
        "start_tls": start_tls,
        "ca_pem": Path(ca_file).read_text(),
    }
    _add_connection(contract_id, "ldap", settings, bind_password)


@ad.command("list")
def ad_list() -> None:
    """Every contract's AD connection: connection ID, contract, kind and upstream."""
    from idp.models import AdConnection
    from idp.models import db

    app = make_app()
    with app.app_context():
        for connection in db.session.query(AdConnection).order_by(AdConnection.created_at):
            upstream = connection.settings.get("issuer") or connection.settings.get("url")
            click.echo(
                f"{connection.connection_id}\t{connection.contract_id}\t"
                f"{connection.kind}\t{upstream}"
            )


@ad.command("remove")
@click.argument("connection_id")
def ad_remove(connection_id: str) -> None:
    """Remove a connection: its login URLs stop working at once."""
    from idp.models import AdConnection
    from idp.models import db

    app = make_app()
    with app.app_context():
        connection = db.session.get(AdConnection, connection_id)
        if connection is None:
            raise click.ClickException(f"no connection {connection_id}")
        db.session.delete(connection)
        db.session.commit()
    click.echo(f"removed {connection_id}")


def _add_connection(contract_id: str, kind: str, settings: dict[str, Any], secret: str) -> None:
    from idp.admin.provisioning import ProvisioningError
    from idp.admin.provisioning import add_ad_connection

    app = make_app()
    with app.app_context():
        try:
            connection = add_ad_connection(contract_id, kind, settings, secret)
        except ProvisioningError as error:
            raise click.ClickException(str(error)) from error
        click.echo(connection.connection_id)


@main.group()
def clients() -> None:
    """Manage relying parties."""


@clients.command("add")
@click.option("--name", required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--public", is_flag=True, help="A public client (PKCE, no secret).")
@click.option("--client-id", default=None)
@click.option("--secret", default=None, help="Default: a new random secret.")
@click.option("--trusted", is_flag=True, help="First-party: no consent page.")
@click.option("--no-pkce", is_flag=True, help="Legacy confidential client without PKCE.")
@click.option("--refresh-tokens", is_flag=True, help="Refresh tokens without offline_access.")
@click.option("--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256")
def clients_add(
    name: str,
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    public: bool,
    client_id: str | None,
    secret: str | None,
    trusted: bool,
    no_pkce: bool,
    refresh_tokens: bool,
    id_token_alg: str,
) -> None:
    """Register a client; prints client_id and, for confidential clients, the secret."""
    from idp.admin.provisioning import ProvisioningError
    from idp.admin.provisioning import add_client

    app = make_app()
    with app.app_context():
        try:
            client, shown_secret = add_client(
                name,
                list(redirect_uris),
                list(post_logout_uris),
                public=public,
                client_id=client_id,
                secret=secret,
                trusted=trusted,
                require_pkce=not no_pkce,
                refresh_tokens=refresh_tokens,
                id_token_alg=id_token_alg,
            )
        except ProvisioningError as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"client_id={client.client_id}")
        if shown_secret:
            click.echo(f"client_secret={shown_secret}")


@main.group()
def keys() -> None:
    """Manage signing keys."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Add a new signing key and sign with it; older keys stay in the JWKS until expiry."""
    app = make_app()
    kid = app.extensions["idp.keys"].rotate()
    click.echo(f"signing with {kid}")


@main.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@click.option("--workers", default=2, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the provider under gunicorn (production settings)."""
    import os
    import shutil
    import tempfile

    from gunicorn.app.base import BaseApplication

    from idp.logs import RedactingGunicornLogger

    # /metrics sums all workers (prometheus_client multiprocess mode); fresh at each start.
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        metrics_dir = os.path.join(tempfile.gettempdir(), f"idp-metrics-{port}")
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.makedirs(metrics_dir)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            # Request lines carry link tokens, codes and id_token_hint: redact them.
            self.cfg.set("logger_class", RedactingGunicornLogger)

        def load(self) -> Any:
            return make_app()

    Server().run()


@main.command()
@click.option("--port", default=8000, type=int)
@click.option("--frontend-port", default=8001, type=int)
def demo(port: int, frontend_port: int) -> None:
    """Start the provider and the demo storage frontend with a demo contract."""
    from idp.demo.run import run_demo

    run_demo(port, frontend_port)


if __name__ == "__main__":
    sys.exit(main())
