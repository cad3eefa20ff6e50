"""U1, U2: which account-menu items the signed-in person may use.

The menu shows, and every request checks, through :func:`check_permission` (SPEC U2: "the
same rules hold on the server for every request, not only in what the menu shows").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from types import MappingProxyType

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.plan import ContractState
from policies.plan import is_closed_after_trial
from policies.vocabulary import ContractStatus
from policies.vocabulary import MenuItem
from policies.vocabulary import Plan
from policies.vocabulary import Role


class Grant(Enum):
    """One cell of SPEC's U2 table."""

    YES = "yes"
    NO = "no"
    #: "yes, until 15 days after the trial ended" (C1/C2)
    UNTIL_PLAN_CHANGE_DEADLINE = "until_plan_change_deadline"


YES = Grant.YES
NO = Grant.NO
WINDOW = Grant.UNTIL_PLAN_CHANGE_DEADLINE

#: U2 as SPEC prints it. Columns: basic: contractor, basic: others, trial: contractor,
#: trial: others. Two items are not in the table and are everyone's: "to top" (everyone may
#: leave the menu) and X2/X7's sessions and browsers (each person's own security).
U2: Mapping[MenuItem, tuple[Grant, Grant, Grant, Grant]] = MappingProxyType(
    {
        MenuItem.LOGIN_METHOD: (YES, NO, NO, NO),
        MenuItem.EMAIL_CHANGE: (YES, NO, NO, NO),
        MenuItem.PASSWORD_CHANGE: (YES, YES, YES, YES),
        MenuItem.SESSIONS: (YES, YES, YES, YES),
        MenuItem.ACCESS_ROUTE: (YES, NO, YES, NO),
        MenuItem.TWO_FACTOR: (YES, NO, YES, NO),
        MenuItem.AD_SETTING: (YES, NO, YES, NO),
        MenuItem.CONTRACT_INFORMATION: (YES, NO, NO, NO),
        MenuItem.PLAN_CHANGE: (YES, NO, WINDOW, NO),
        MenuItem.CANCELLATION: (YES, NO, NO, NO),
        MenuItem.TOP: (YES, YES, YES, YES),
    }
)


def _column(plan: Plan, role: Role) -> int:
    others = 0 if role == Role.CONTRACTOR else 1
    return (0 if plan == Plan.BASIC else 2) + others


def check_permission(
    item: MenuItem, role: Role, contract: ContractState, now: datetime
) -> Decision:
    """U2: whether ``role`` may use ``item`` on ``contract`` at ``now``.

    A cancelled contract (C3) and a trial past its plan-change window (C1) allow nothing:
    a session opened before still cannot act.
    """
    if contract.status != ContractStatus.ACTIVE:
        return deny("contract_inactive")
    if is_closed_after_trial(contract, now):
        return deny("contract_closed")
    grant = U2[item][_column(contract.plan, role)]
    # WINDOW needs no more check here: past the deadline the contract is closed (above).
    if grant is NO:
        return deny("not_permitted")
    return ALLOW


def may_use(item: MenuItem, role: Role, contract: ContractState, now: datetime) -> bool:
    """U2 as a yes/no, for templates and guards."""
    return check_permission(item, role, contract, now).is_allowed


def menu_items(role: Role, contract: ContractState, now: datetime) -> list[MenuItem]:
    """U1: the items the signed-in person may use, in U1's order."""
    return [item for item in MenuItem if may_use(item, role, contract, now)]
