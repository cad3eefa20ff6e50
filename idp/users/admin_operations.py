"""G4, G3, M2, T2, X7: the per-user operations of the admin console, the admin API and the
command line, each the plain domain function behind the admin rule (``authorise``: the
target's contract, then ``policies/admin.py``). The surfaces call these and nothing else, so
that they cannot differ in who may do what.

Each plain function writes the ``ok`` audit event; a refusal is recorded once, under the
event named here (``@audit.change``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from idp import audit
from idp.actor import Actor
from idp.errors import ConflictError
from idp.errors import NotFoundError
from idp.models import Invitation
from idp.models import User
from idp.models import db
from idp.sso import sign_out_everywhere
from idp.users.authority import authorise
from idp.users.authority import authorise_invite
from idp.users.delete import delete_user
from idp.users.email_change import request_email_change
from idp.users.find import email_key
from idp.users.invitations import get_invitation
from idp.users.invitations import invite_user
from idp.users.invitations import resend_invitation
from idp.users.invitations import revoke_invitation
from idp.users.lockout import reset_two_factor
from idp.users.lockout import unlock_account
from idp.users.login_method import send_method_change_link
from policies.admin import AdminOperation

#: The reason code of a 2FA reset an administrator made (T2).
ADMIN_RESET = "admin_reset"
#: The reason code of an administrator's "sign out everywhere" (X2, X7).
ADMIN_SIGN_OUT = "admin_sign_out"


class ChangeLink(StrEnum):
    """Which M2 link went out."""

    METHOD_CHANGE = "method_change"
    EMAIL_CHANGE = "email_change"


@dataclass(frozen=True)
class SentLink:
    kind: ChangeLink
    #: The stored link's id (never its URL: that is a secret of the addressee's mailbox).
    link_id: str


@audit.change("unlock")
def admin_unlock(actor: Actor, user: User) -> None:
    """K1, G4: unlock the account.

    :raises ConflictError: ``not_locked``."""
    authorise(actor, AdminOperation.UNLOCK, user)
    if user.locked_at is None:
        raise ConflictError("The user is not locked.", "not_locked")
    unlock_account(actor, user)


@audit.change("two_factor_reset")
def admin_reset_two_factor(actor: Actor, user: User) -> None:
    """T2, X2: clear the user's 2FA registration and remembered browsers; the next sign-in
    enrolls again."""
    authorise(actor, AdminOperation.RESET_TWO_FACTOR, user)
    reset_two_factor(actor, user, ADMIN_RESET)


@audit.change("sign_out_everywhere")
def admin_sign_out_everywhere(actor: Actor, user: User) -> int:
    """X2, X7: end every session and token of the user, telling the relying parties.

    :returns: how many token families were live and are now revoked."""
    authorise(actor, AdminOperation.SIGN_OUT_EVERYWHERE, user)
    return sign_out_everywhere(actor, user, ADMIN_SIGN_OUT)


@audit.change("user_delete")
def admin_delete_user(actor: Actor, user: User) -> int:
    """G4, X7: delete the user after ending every session and token.

    :returns: how many token families were live and were revoked."""
    authorise(actor, AdminOperation.DELETE, user)
    return delete_user(actor, user)


# Registered under the method link's event: the same-email case is that link; a refusal of
# the email-change case is recorded by request_email_change under its own event.
@audit.change("method_change_link")
def send_change_link(actor: Actor, user: User, new_email: str | None = None) -> SentLink:
    """M2 exactly: the "email change" screen sent with the email unchanged (or none) mails
    the user a login-method change link; with a new email, it mails the email-change link to
    the new address. Both at once is not a thing to ask: email first, then method.

    :raises EmailChangeError, MethodChangeError: the plain functions' refusals (an invalid
        or taken address, a user not registered yet, a trial contract …)."""
    authorise(actor, AdminOperation.SEND_EMAIL_CHANGE, user)
    if new_email is None or not new_email.strip() or email_key(new_email) == user.email_key:
        return SentLink(ChangeLink.METHOD_CHANGE, send_method_change_link(actor, user))
    return SentLink(ChangeLink.EMAIL_CHANGE, request_email_change(actor, user, new_email).id)


@audit.change("user_invite")
def admin_invite_user(
    actor: Actor,
    contract_id: str,
    email: str,
    name: str = "",
    role: str = "user",
    *,
    locale: str = "ja",
) -> Invitation:
    """L10, G3: invite one user into the actor's contract."""
    authorise_invite(actor, contract_id, role)
    return invite_user(actor, contract_id, email, name, role, locale=locale)


def _authorise_invitation(actor: Actor, invitation_id: str) -> None:
    """The invitation's contract must be the actor's (else not found, G8), and the actor
    may invite a user of the invited user's role."""
    invitation = get_invitation(invitation_id)
    user = db.session.get(User, invitation.user_id)
    if user is None:  # pragma: no cover - the invitation is deleted with its user
        raise NotFoundError(f"no invitation {invitation_id}")
    try:
        authorise_invite(actor, invitation.contract_id, user.role)
    except NotFoundError:
        raise NotFoundError(f"no invitation {invitation_id}") from None


@audit.change("invitation_resend")
def admin_resend_invitation(actor: Actor, invitation_id: str) -> Invitation:
    """G3: a new registration link for a pending invitation of the actor's contract.

    :raises NotFoundError: no such invitation in the actor's contract (G8)."""
    _authorise_invitation(actor, invitation_id)
    return resend_invitation(actor, invitation_id)


@audit.change("invitation_revoke")
def admin_revoke_invitation(actor: Actor, invitation_id: str) -> None:
    """G3: withdraw a pending invitation of the actor's contract (the pending user goes).

    :raises NotFoundError: no such invitation in the actor's contract (G8)."""
    _authorise_invitation(actor, invitation_id)
    revoke_invitation(actor, invitation_id)
