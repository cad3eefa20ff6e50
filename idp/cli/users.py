"""``idp users``: add a user, invite one (L10, G3), bind an upstream identity (L7), mail a
login-method change link (M2, M6)."""

from __future__ import annotations

import click

from idp.actor import Actor
from idp.cli.app import with_app
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role


@click.group()
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
    if method != LoginMethod.PASSWORD and password is not None:
        raise click.ClickException("only password users have a password")
    if password is None and method == LoginMethod.PASSWORD:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    _add_user(contract_id, email, password, name, role, method, locale)


@with_app
def _add_user(
    contract_id: str,
    email: str,
    password: str | None,
    name: str,
    role: str,
    method: str,
    locale: str,
) -> None:
    from idp.users.add import add_user

    user = add_user(
        Actor.cli(),
        contract_id,
        email,
        password,
        name=name,
        role=role,
        method=method,
        locale=locale,
    )
    click.echo(user.id)


@users.command("invite")
@click.option("--contract", "contract_id", required=True)
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option(
    "--role", type=click.Choice([Role.USER.value, Role.ADMIN.value]), default=Role.USER.value
)
@click.option("--locale", type=click.Choice(["ja", "en"]), default="ja")
@with_app
def users_invite(contract_id: str, email: str, name: str, role: str, locale: str) -> None:
    """Invite a user (L10): mails the registration link; prints the invitation's id."""
    from idp.users.invitations import invite_user

    invitation = invite_user(Actor.cli(), contract_id, email, name, role, locale=locale)
    click.echo(invitation.id)


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
@with_app
def users_link(user_id: str, provider: str, issuer: str, subject: str) -> None:
    """Bind an upstream identity (provider, issuer, subject) to a user (L7)."""
    from idp.users.identities import link_identity

    identity = link_identity(Actor.cli(), user_id, provider, issuer, subject)
    click.echo(identity.id)


@users.command("method-link")
@click.option("--email", required=True)
@with_app
def users_method_link(email: str) -> None:
    """Mail the user a login-method change link (M2, M6: 14 days, single use); prints the
    link's id (the URL is a secret: it goes only to the user's mailbox)."""
    from idp.errors import NotFoundError
    from idp.users.find import find_user_by_email
    from idp.users.login_method import send_method_change_link

    user = find_user_by_email(email)
    if user is None:
        raise NotFoundError(f"no user with the email {email}")
    click.echo(send_method_change_link(Actor.cli(), user))


COMMANDS = [users]
