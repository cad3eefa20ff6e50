"""``idp users``: add a user, invite one (L10, G3), list, resend and revoke pending
invitations (G3), bind an upstream identity (L7), mail a login-method change link (M2, M6) or
an email-change link (M2, M7); lock, unlock, sign out everywhere and delete one (G4, X7);
grant or revoke the admin privilege, disable, enable and reset the 2FA registration (G4, T2).
The operator passes the admin domain functions as ``Actor.cli()``: not bound by the
contract-admin rules, but by SPEC's (never the contractor's role; the contractor is neither
disabled nor deleted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from idp.actor import Actor
from idp.cli.app import with_app
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role

if TYPE_CHECKING:
    from idp.models import User


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


@users.command("invitations")
@click.option("--contract", "contract_id", required=True)
@with_app
def users_invitations(contract_id: str) -> None:
    """The contract's pending invitations (G3), oldest first, one a line:
    invitation id, email, invited by, sent at (UTC, ISO 8601)."""
    from idp.contracts.contract import get_contract
    from idp.users.invitations import list_pending_invitations

    get_contract(contract_id)  # an unknown contract is an error, not an empty list
    for invitation, user in list_pending_invitations(contract_id):
        sent_at = invitation.sent_at.replace(microsecond=0).isoformat()
        click.echo(f"{invitation.id}\t{user.email}\t{invitation.invited_by}\t{sent_at}")


@users.command("resume-invitation-jobs")
@with_app
def users_resume_invitation_jobs() -> None:
    """Finish now the CSV invitation jobs (G3) that no node holds (their node stopped and its
    lease ran out), in their uploaders' names; prints each job id finished. Serving nodes do
    this by themselves every IDP_INVITE_JOB_LEASE seconds."""
    from idp.users.bulk_invite import resume_jobs

    for job_id in resume_jobs():
        click.echo(job_id)


@users.command("resend-invitation")
@click.argument("invitation_id")
@with_app
def users_resend_invitation(invitation_id: str) -> None:
    """Mail a new registration link (G3); every link sent before is void."""
    from idp.users.invitations import resend_invitation

    invitation = resend_invitation(Actor.cli(), invitation_id)
    click.echo(f"resent {invitation.id}")


@users.command("revoke-invitation")
@click.argument("invitation_id")
@with_app
def users_revoke_invitation(invitation_id: str) -> None:
    """Withdraw an invitation not registered yet (G3): the pending user and every link sent
    are removed; the address can be invited again."""
    from idp.users.invitations import revoke_invitation

    revoke_invitation(Actor.cli(), invitation_id)
    click.echo(f"revoked {invitation_id}")


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


def _user_by_email(email: str) -> User:
    from idp.errors import NotFoundError
    from idp.users.find import find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        raise NotFoundError(f"No user with the email {email}.", "user_not_found")
    return user


@users.command("lock")
@click.option("--email", required=True)
@with_app
def users_lock(email: str) -> None:
    """Lock a user and sign them out everywhere, telling their clients (G4, X7)."""
    from idp.users.lockout import lock_by_admin

    revoked = lock_by_admin(Actor.cli(), _user_by_email(email))
    click.echo(f"locked token_families_revoked={revoked}")


@users.command("unlock")
@click.option("--email", required=True)
@with_app
def users_unlock(email: str) -> None:
    """Unlock a user (K1, G4)."""
    from idp.users.lockout import unlock_account

    unlock_account(Actor.cli(), _user_by_email(email))
    click.echo("unlocked")


@users.command("sign-out")
@click.option("--email", required=True)
@with_app
def users_sign_out(email: str) -> None:
    """Sign a user out everywhere, telling their clients (X2, X7)."""
    from idp.sso import sign_out_everywhere

    revoked = sign_out_everywhere(Actor.cli(), _user_by_email(email))
    click.echo(f"signed_out token_families_revoked={revoked}")


@users.command("delete")
@click.option("--email", required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def users_delete(email: str, yes: bool) -> None:
    """Delete a user (not the contractor): every session and token ends and their clients are
    told first (G4, X7)."""
    if not yes:
        click.confirm(f"Delete {email} and everything of theirs?", abort=True)
    _delete_user(email)


@with_app
def _delete_user(email: str) -> None:
    from idp.users.delete import delete_user

    revoked = delete_user(Actor.cli(), _user_by_email(email))
    click.echo(f"deleted token_families_revoked={revoked}")


@users.command("method-link")
@click.option("--email", required=True)
@with_app
def users_method_link(email: str) -> None:
    """Mail the user a login-method change link (M2, M6: 14 days, single use); prints the
    link's id (the URL is a secret: it goes only to the user's mailbox)."""
    from idp.users.login_method import send_method_change_link

    click.echo(send_method_change_link(Actor.cli(), _user_by_email(email)))


@users.command("email-link")
@click.option("--email", required=True, help="The user's current address.")
@click.option("--new-email", required=True)
@with_app
def users_email_link(email: str, new_email: str) -> None:
    """Mail the email-change link to the new address (M2, M7); prints the link's id (the
    token is only in the mail). The address changes when the link is used."""
    from idp.users.email_change import request_email_change

    link = request_email_change(Actor.cli(), _user_by_email(email), new_email)
    click.echo(link.id)


@users.command("role")
@click.option("--email", required=True)
@click.option("--admin/--no-admin", "is_admin", required=True, help="Grant or revoke.")
@with_app
def users_role(email: str, is_admin: bool) -> None:
    """Grant (--admin) or revoke (--no-admin) the admin privilege (G4)."""
    from idp.users.roles import set_admin_privilege

    set_admin_privilege(Actor.cli(), _user_by_email(email), is_admin)
    click.echo(Role.ADMIN.value if is_admin else Role.USER.value)


@users.command("disable")
@click.option("--email", required=True)
@with_app
def users_disable(email: str) -> None:
    """Disable a user: no sign-in; every session and token ends, clients told (G4, X7)."""
    from idp.users.disable import disable_user

    revoked = disable_user(Actor.cli(), _user_by_email(email))
    click.echo(f"disabled token_families_revoked={revoked}")


@users.command("enable")
@click.option("--email", required=True)
@with_app
def users_enable(email: str) -> None:
    """Let a disabled user sign in again (G4)."""
    from idp.users.disable import enable_user

    enable_user(Actor.cli(), _user_by_email(email))
    click.echo("enabled")


@users.command("reset-2fa")
@click.option("--email", required=True)
@with_app
def users_reset_two_factor(email: str) -> None:
    """Reset the user's 2FA registration and remembered browsers (T2, X2)."""
    from idp.users.admin_operations import admin_reset_two_factor

    admin_reset_two_factor(Actor.cli(), _user_by_email(email))
    click.echo("two_factor_reset")


COMMANDS = [users]
