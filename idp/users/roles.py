"""G4: granting and revoking the admin privilege. Never the contractor's role, and nobody
raises their own (``policies/admin.py``); the change takes effect at the person's next
request, since every console and API request reads the role again."""

from __future__ import annotations

from idp import audit
from idp.actor import Actor
from idp.errors import ConflictError
from idp.models import User
from idp.models import db
from idp.users.authority import authorise
from idp.vocabulary import Role
from policies.admin import AdminOperation


@audit.change("role_change")
def set_admin_privilege(actor: Actor, user: User, is_admin: bool) -> None:
    """Make ``user`` an admin (``is_admin``) or a user again.

    :raises NotFoundError: another contract's user (G8).
    :raises ForbiddenError: the rule refuses (``self_raise``, ``contractor_role``, …).
    :raises ConflictError: ``already_admin`` / ``already_user``: nothing would change.
    """
    operation = AdminOperation.GRANT_ADMIN if is_admin else AdminOperation.REVOKE_ADMIN
    authorise(actor, operation, user)
    before = user.role
    after = Role.ADMIN if is_admin else Role.USER
    if before == after:
        reason = "already_admin" if is_admin else "already_user"
        raise ConflictError(f"The user already has the role {after.value}.", reason)
    user.role = after
    db.session.commit()
    audit.record(
        "role_change",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"from": before, "to": after.value},
    )
