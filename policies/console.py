"""G1: who may use the admin console, checked on every request of it.

The contractor and users with the admin privilege, on a contract that may be used (C1, C3:
no exception for the contractor after a trial, unlike the account menu), over a route the
contract allows (A1, L9: no A3 exception either; the contractor recovers from a wrong line
number through the account menu, whose sign-in works from the internet).
"""

from __future__ import annotations

from datetime import datetime

from policies.access_route import RouteContext
from policies.access_route import route_decision
from policies.contract import check_contract
from policies.decision import Decision
from policies.decision import deny
from policies.plan import ContractState
from policies.vocabulary import AccessRoute
from policies.vocabulary import Role
from policies.vocabulary import Target

#: The roles the console is for (SPEC "Admin console" in Words).
CONSOLE_ROLES = frozenset({Role.CONTRACTOR, Role.ADMIN})


def check_console_access(
    role: Role,
    contract: ContractState,
    access_route: AccessRoute,
    line_number: str | None,
    registered_lines: frozenset[str],
    now: datetime,
) -> Decision:
    """G1: the contract first (``contract_inactive``, ``trial_ended``, ``contract_closed``),
    then the role (``not_admin``), then the route of the session (``route_line_only``,
    ``line_not_registered``).

    :param line_number: the line the session came through, or None (internet).
    """
    decision = check_contract(contract, role, Target.ADMIN_CONSOLE, now)
    if not decision.is_allowed:
        return decision
    if role not in CONSOLE_ROLES:
        return deny("not_admin")
    return route_decision(
        RouteContext(
            access_route=access_route,
            line_number=line_number,
            registered_lines=registered_lines,
            role=role,
            target=Target.ADMIN_CONSOLE,
        )
    )
