"""M1, M2, M3, M5: who may change a login method, to which methods, and the Facebook rebind
rule."""

from __future__ import annotations

from datetime import datetime

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.permissions import check_permission
from policies.plan import ContractState
from policies.plan import is_closed_after_trial
from policies.vocabulary import ContractStatus
from policies.vocabulary import LoginMethod
from policies.vocabulary import MenuItem
from policies.vocabulary import Role


def check_own_method_change(role: Role, contract: ContractState, now: datetime) -> Decision:
    """M1: the contractor on ``basic`` changes their own login method in the account menu;
    on ``trial`` nobody does, and other users ask the contractor or an admin (M2). The same
    cell of U2 as the menu uses."""
    return check_permission(MenuItem.LOGIN_METHOD, role, contract, now)


def check_own_email_change(role: Role, contract: ContractState, now: datetime) -> Decision:
    """M1: as for the login method, the email change is the basic contractor's alone."""
    return check_permission(MenuItem.EMAIL_CHANGE, role, contract, now)


def check_method_change(role: Role, contract: ContractState, now: datetime) -> Decision:
    """M1, M2, M6: whether ``role``'s login method may be changed at all (by the person in the
    menu, or through the method-change link an admin or the contractor sends).

    The contractor: only as M1 allows (``basic``), so a link never gives a trial's contractor
    what the menu refuses. Everyone else: while the contract is active and not closed after
    its trial (C1, C3); U2 keeps them out of the menu, M2 sends them a link instead.
    """
    if role == Role.CONTRACTOR:
        return check_own_method_change(role, contract, now)
    if contract.status != ContractStatus.ACTIVE:
        return deny("contract_inactive")
    if is_closed_after_trial(contract, now):
        return deny("contract_closed")
    return ALLOW


def check_method_choice(method: LoginMethod, role: Role, *, has_ad: bool) -> Decision:
    """M3: the contractor cannot choose AD; other users can when the contract has AD
    configured (D1). Every other method is open to everyone."""
    if method != LoginMethod.AD:
        return ALLOW
    if role == Role.CONTRACTOR:
        return deny("contractor_cannot_use_ad")
    if not has_ad:
        return deny("ad_not_configured")
    return ALLOW


def choosable_methods(role: Role, *, has_ad: bool) -> list[LoginMethod]:
    """M3: the methods the login-method screen offers ``role``, in SPEC's order."""
    return [m for m in LoginMethod if check_method_choice(m, role, has_ad=has_ad).is_allowed]


def is_facebook_rebind_allowed(current_subject: str | None, new_subject: str) -> bool:
    """M5: an account registered with one Facebook identity cannot be switched directly to a
    different one; the user changes to another method first. Allowed only when the account
    has no Facebook subject yet, or the new sign-in is the same Facebook user.

    :param current_subject: the app-scoped id bound to the account, or ``None``.
    :param new_subject: the app-scoped id of the Facebook sign-in just made.
    """
    if not new_subject:
        return False
    return current_subject is None or current_subject == new_subject
