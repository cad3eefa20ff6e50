"""G4, G8: whether an actor may do an admin operation to a user — the target's contract
first (another contract's user does not exist for the actor: ``NotFoundError``), then the
rule of ``policies/admin.py`` (``ForbiddenError`` with its reason code).

The actor's standing is read from the database at each call, not from the session that
carried it: a person demoted or disabled a moment ago has no privilege left."""

from __future__ import annotations

from idp.actor import Actor
from idp.actor import ActorKind
from idp.errors import ForbiddenError
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import User
from idp.models import db
from idp.vocabulary import Role
from policies.admin import AdminCaller
from policies.admin import AdminOperation
from policies.admin import check_admin_operation

#: The people who may act at all; everyone else is a ``user`` to the rule.
_PERSON_ACTORS = (ActorKind.ADMIN, ActorKind.USER)


def _caller(actor: Actor, contract_id: str) -> tuple[AdminCaller, str | None]:
    """Who ``actor`` is to the rule, and the person's user id (None: no person)."""
    if actor.kind == ActorKind.CLI:
        return AdminCaller.OPERATOR, None
    if actor.contract_id != contract_id:
        raise NotFoundError("No such user.", "user_not_found")
    if actor.kind in (ActorKind.CLIENT, ActorKind.SCIM):
        # A directory provisioning through SCIM is a service client too (G7).
        return AdminCaller.SERVICE_CLIENT, None
    person = db.session.get(User, actor.id) if actor.kind in _PERSON_ACTORS and actor.id else None
    if person is None or person.contract_id != contract_id or person.disabled_at is not None:
        return AdminCaller.USER, actor.id
    return AdminCaller(person.role), person.id


def authorise(actor: Actor, operation: AdminOperation, user: User) -> None:
    """Raise unless ``actor`` may do ``operation`` to ``user``.

    :raises NotFoundError: ``user`` is of another contract than the actor's (G8).
    :raises ForbiddenError: the rule refuses; ``reason`` is its code.
    """
    caller, person_id = _caller(actor, user.contract_id)
    decision = check_admin_operation(operation, caller, Role(user.role), person_id == user.id)
    if not decision.is_allowed:
        raise ForbiddenError(
            f"You may not do this ({operation.value}) to this user.", decision.reason
        )


def authorise_invite(actor: Actor, contract_id: str, role: str) -> None:
    """Raise unless ``actor`` may invite a user of ``role`` into ``contract_id`` (G3)."""
    if role not in set(Role):
        raise ProvisioningError("an invited user is a user or an admin", "role_not_invitable")
    caller, _person_id = _caller(actor, contract_id)
    decision = check_admin_operation(AdminOperation.INVITE, caller, Role(role), False)
    if not decision.is_allowed:
        raise ForbiddenError("You may not invite this user.", decision.reason)
