"""G4, X7: disabling and enabling an account. A disabled user signs in nowhere (the gate
refuses with the reason ``disabled``, idp/login/gate.py); disabling ends every session and
token at once and tells the relying parties by back-channel logout, like "sign out
everywhere". Mailed links sent before are void. Enabling restores sign-in; nothing else
comes back (the sessions stay ended)."""

from __future__ import annotations

from sqlalchemy import update

from idp import audit
from idp.actor import Actor
from idp.errors import ConflictError
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.sso import sign_out_everywhere
from idp.users.authority import authorise
from policies.admin import AdminOperation

#: The audit reason of the sign-out a disabling makes.
USER_DISABLED = "user_disabled"


@audit.change("user_disable")
def disable_user(actor: Actor, user: User) -> int:
    """Disable ``user``: no sign-in, every session and token ended (X7).

    :raises ConflictError: ``already_disabled``.
    :returns: how many token families were live and are now revoked."""
    authorise(actor, AdminOperation.DISABLE, user)
    # Conditional: of two parallel requests one disables, the other is told.
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, User.disabled_at.is_(None))
        .values(disabled_at=utcnow(), state_version=User.state_version + 1)
    )
    db.session.commit()
    if rowcount(result) != 1:
        raise ConflictError("The user is already disabled.", "already_disabled")
    db.session.refresh(user)
    revoked = sign_out_everywhere(actor, user, USER_DISABLED)
    audit.record(
        "user_disable",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"token_families": revoked},
    )
    return revoked


@audit.change("user_enable")
def enable_user(actor: Actor, user: User) -> None:
    """Let a disabled ``user`` sign in again.

    :raises ConflictError: ``not_disabled``."""
    authorise(actor, AdminOperation.ENABLE, user)
    result = db.session.execute(
        update(User)
        .where(User.id == user.id, User.disabled_at.is_not(None))
        .values(disabled_at=None)
    )
    db.session.commit()
    if rowcount(result) != 1:
        raise ConflictError("The user is not disabled.", "not_disabled")
    db.session.refresh(user)
    audit.record(
        "user_enable", "ok", None, user_id=user.id, contract_id=user.contract_id, actor=actor
    )
