"""G4, G8, M2, T2: ``policies/admin.py`` as a table, no app (STYLE.md §13). Each row is one
operation; each column a caller, the target's role and whether the target is the caller.
A cell is ``ok`` or the reason code of the refusal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from datetime import datetime

import pytest

from policies.admin import AdminCaller
from policies.admin import AdminOperation
from policies.admin import check_admin_operation
from policies.decision import deny
from policies.plan import ContractState
from policies.reasons import rules_of
from policies.sign_in import SignInContext
from policies.sign_in import check_sign_in
from policies.vocabulary import AccessRoute
from policies.vocabulary import ContractStatus
from policies.vocabulary import LoginMethod
from policies.vocabulary import Plan
from policies.vocabulary import Role
from policies.vocabulary import Target

C, A, U = AdminCaller.CONTRACTOR, AdminCaller.ADMIN, AdminCaller.USER
S, O = AdminCaller.SERVICE_CLIENT, AdminCaller.OPERATOR  # noqa: E741

COLUMNS = [
    (C, Role.CONTRACTOR, True),
    (C, Role.ADMIN, False),
    (C, Role.USER, False),
    (A, Role.ADMIN, True),
    (A, Role.CONTRACTOR, False),
    (A, Role.ADMIN, False),
    (A, Role.USER, False),
    (S, Role.CONTRACTOR, False),
    (S, Role.ADMIN, False),
    (S, Role.USER, False),
    (O, Role.CONTRACTOR, False),
    (O, Role.ADMIN, False),
    (O, Role.USER, False),
    (U, Role.USER, True),
    (U, Role.USER, False),
]
TC, CR, CA, PA = "target_contractor", "contractor_role", "contractor_account", "peer_admin"
NA = "not_admin"
# fmt: off
#                    C:self  C:adm C:usr A:self   A:con A:adm A:usr S:con S:adm S:usr O:con O:adm O:usr U:self U:usr  # noqa: E501
TABLE = {
    "unlock":              ("ok",   "ok", "ok", "ok",    TC,  "ok", "ok",  TC,  "ok", "ok", "ok", "ok", "ok", NA, NA),  # noqa: E501
    "reset_two_factor":    ("self", "ok", "ok", "self",  TC,  PA,   "ok",  TC,  "ok", "ok", "ok", "ok", "ok", NA, NA),  # noqa: E501
    "sign_out_everywhere": ("ok",   "ok", "ok", "ok",    TC,  "ok", "ok",  TC,  "ok", "ok", "ok", "ok", "ok", NA, NA),  # noqa: E501
    "grant_admin":         (CR,     "ok", "ok", "self_raise", CR, "ok", "ok", CR, "ok", "ok", CR,   "ok", "ok", NA, NA),  # noqa: E501
    "revoke_admin":        (CR,     "ok", "ok", "ok",    CR,  PA,   "ok",  CR,  "ok", "ok", CR,   "ok", "ok", NA, NA),  # noqa: E501
    "disable":             (CA,     "ok", "ok", "self",  CA,  PA,   "ok",  CA,  "ok", "ok", CA,   "ok", "ok", NA, NA),  # noqa: E501
    "enable":              ("self", "ok", "ok", "self",  TC,  PA,   "ok",  TC,  "ok", "ok", "ok", "ok", "ok", NA, NA),  # noqa: E501
    "delete":              (CA,     "ok", "ok", "self",  CA,  PA,   "ok",  CA,  "ok", "ok", CA,   "ok", "ok", NA, NA),  # noqa: E501
    "send_email_change":   ("self", "ok", "ok", "self",  TC,  PA,   "ok",  TC,  "ok", "ok", "ok", "ok", "ok", NA, NA),  # noqa: E501
    # For an invitation the target role is the role it gives (an admin may invite admins).
    "invite":              (CR,     "ok", "ok", "ok",    CR,  "ok", "ok",  CR,  "ok", "ok", CR,   "ok", "ok", NA, NA),  # noqa: E501
}
# fmt: on

CELLS = [
    pytest.param(
        operation, *column, expected, id=f"{operation}-{column[0]}-{column[1]}-{column[2]}"
    )
    for operation, row in TABLE.items()
    for column, expected in zip(COLUMNS, row, strict=True)
]


def test_G4_the_table_covers_every_operation():
    assert set(TABLE) == {op.value for op in AdminOperation}


@pytest.mark.covers("G4", "G8", "M2", "T2")
@pytest.mark.parametrize(("operation", "caller", "target_role", "is_self", "expected"), CELLS)
def test_G4_who_may_do_what_to_whom(operation, caller, target_role, is_self, expected):
    decision = check_admin_operation(AdminOperation(operation), caller, target_role, is_self)
    assert (decision.reason or "ok") == expected
    assert decision.is_allowed is (expected == "ok")


@pytest.mark.covers("G4")
@pytest.mark.parametrize("caller", list(AdminCaller))
def test_G4_nobody_raises_their_own_privilege_or_changes_the_contractors_role(caller):
    for role in Role:
        assert not check_admin_operation(AdminOperation.GRANT_ADMIN, caller, role, True).is_allowed
    for operation in (AdminOperation.GRANT_ADMIN, AdminOperation.REVOKE_ADMIN):
        for is_self in (True, False):
            decision = check_admin_operation(operation, caller, Role.CONTRACTOR, is_self)
            assert not decision.is_allowed


@pytest.mark.covers("G4", "O2")
@pytest.mark.parametrize("method", [LoginMethod.PASSWORD, LoginMethod.GOOGLE])
@pytest.mark.parametrize("target", list(Target))
def test_G4_a_disabled_account_passes_no_sign_in(method, target):
    """The sign-in rule (the gate and the what-if view): disabled is refused after the
    contract's state and before everything else, whatever the method and the target."""
    now = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    context = SignInContext(
        contract=ContractState(Plan.BASIC, ContractStatus.ACTIVE, None),
        access_route=AccessRoute.LINE_ONLY,  # would refuse with route_line_only otherwise
        lines={},
        role=Role.USER,
        login_method=method,
        is_locked=True,
        target=target,
        is_by_password=method == LoginMethod.PASSWORD,
        is_disabled=True,
    )
    assert check_sign_in(context, now) == deny("disabled")
    assert rules_of("disabled") == ("G4",)
    cancelled = replace(context, contract=ContractState(Plan.BASIC, ContractStatus.CANCELLED, None))
    assert check_sign_in(cancelled, now) == deny("contract_inactive")
