"""G4, G8, M2, T2: which per-user operation of the admin console, the admin API and the
command line a caller may do to a target.

SPEC says: the console is the contractor's and the admins' (G1), users never; grant/revoke
the admin privilege, "never the contractor's own role" (G4); "nobody can raise their own
privilege" (G4). It is silent on the rest, which this module decides as a serious identity
provider would, in this order (the first rule that applies answers):

1. A user (no admin privilege) may do nothing here: ``not_admin``.
2. The contractor's account is the contract's: its role never changes, and nobody invites a
   contractor (``contractor_role``); it is never disabled or deleted — it ends with the
   contract, by cancellation (C3) and the purge (``contractor_account``). Beyond that only the
   contractor (rule 3) and the operator act on it: an admin or a service client that could
   unlock, reset, sign out or re-address the contractor could take over the contract or shut
   its owner out (``target_contractor``).
3. On oneself: nobody grants themselves the admin privilege (``self_raise``); nobody disables,
   enables or deletes themselves, resets their own 2FA or mails themselves a change link
   (``self``) — a stolen console session must not remove the account's own defences or lock
   its owner out, and M1/M2 route one's own changes through the account menu or another
   administrator. Unlocking oneself, signing oneself out everywhere and stepping down from
   the admin privilege lower nothing and are allowed.
4. An admin on another admin: an admin may unlock one or sign one out everywhere (help, not
   harm), and grant the privilege to users; disabling, enabling, deleting, demoting,
   resetting the 2FA of, or mailing a change link for another admin is the contractor's
   (``peer_admin``): otherwise one rogue admin removes or takes over all the others.
5. Everything else is allowed.

A service client (the admin API's client-credentials caller, a directory sync) has no person
behind it: it acts as the contractor's delegate on every account but the contractor's (rule 2),
so it may deprovision an admin who left. The operator at the ``idp`` command line is the
service's own staff: the contract-admin rules (3, 4 and the ``target_contractor`` part of 2)
do not bind them, SPEC's rules on the contractor's role and account still do.

Whether the target belongs to the caller's contract (G8) is the domain's check, before this
one: another contract's user does not exist for the caller.
"""

from __future__ import annotations

from enum import StrEnum

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.vocabulary import Role


class AdminOperation(StrEnum):
    """G4's per-user operations, M2's change link and G3's invitation."""

    UNLOCK = "unlock"
    RESET_TWO_FACTOR = "reset_two_factor"
    SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
    GRANT_ADMIN = "grant_admin"
    REVOKE_ADMIN = "revoke_admin"
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"
    SEND_EMAIL_CHANGE = "send_email_change"
    INVITE = "invite"


class AdminCaller(StrEnum):
    """Who asks: a person of the contract by role, a service client, or the operator."""

    CONTRACTOR = "contractor"
    ADMIN = "admin"
    USER = "user"
    SERVICE_CLIENT = "service_client"
    OPERATOR = "operator"


#: Rule 2: never to the contractor's role, whoever asks.
CONTRACTOR_ROLE_OPERATIONS = frozenset(
    {AdminOperation.GRANT_ADMIN, AdminOperation.REVOKE_ADMIN, AdminOperation.INVITE}
)
#: Rule 2: the contractor's account ends with the contract (C3), never before.
CONTRACTOR_ACCOUNT_OPERATIONS = frozenset({AdminOperation.DISABLE, AdminOperation.DELETE})
#: Rule 3: what nobody does to their own account from the console.
NOT_ON_ONESELF = frozenset(
    {
        AdminOperation.DISABLE,
        AdminOperation.ENABLE,
        AdminOperation.DELETE,
        AdminOperation.RESET_TWO_FACTOR,
        AdminOperation.SEND_EMAIL_CHANGE,
    }
)
#: Rule 4: what only the contractor (or a service client, or the operator) does to an admin.
CONTRACTOR_ONLY_ON_ADMINS = frozenset(
    {
        AdminOperation.DISABLE,
        AdminOperation.ENABLE,
        AdminOperation.DELETE,
        AdminOperation.REVOKE_ADMIN,
        AdminOperation.RESET_TWO_FACTOR,
        AdminOperation.SEND_EMAIL_CHANGE,
    }
)


def check_admin_operation(
    operation: AdminOperation, caller: AdminCaller, target_role: Role, is_self: bool
) -> Decision:
    """G4, G8: may ``caller`` do ``operation`` to a user of role ``target_role``?

    :param target_role: the target's role; for ``invite``, the role the invitation gives.
    :param is_self: the target is the calling person (never for a client or the operator).
    """
    if caller == AdminCaller.USER:
        return deny("not_admin")
    if target_role == Role.CONTRACTOR:
        if operation in CONTRACTOR_ROLE_OPERATIONS:
            return deny("contractor_role")
        if operation in CONTRACTOR_ACCOUNT_OPERATIONS:
            return deny("contractor_account")
        if caller in (AdminCaller.ADMIN, AdminCaller.SERVICE_CLIENT):
            return deny("target_contractor")
    if is_self:
        if operation == AdminOperation.GRANT_ADMIN:
            return deny("self_raise")
        if operation in NOT_ON_ONESELF:
            return deny("self")
        return ALLOW
    if (
        caller == AdminCaller.ADMIN
        and target_role == Role.ADMIN
        and operation in CONTRACTOR_ONLY_ON_ADMINS
    ):
        return deny("peer_admin")
    return ALLOW
