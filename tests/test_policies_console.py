"""G1 as a table, no app (STYLE.md §13): who may use the admin console, on which contract,
over which route."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from policies.console import check_console_access
from policies.decision import ALLOW
from policies.decision import deny
from policies.plan import ContractState
from policies.vocabulary import AccessRoute
from policies.vocabulary import ContractStatus
from policies.vocabulary import Plan
from policies.vocabulary import Role

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
BASIC = ContractState(Plan.BASIC, ContractStatus.ACTIVE, None)
TRIAL = ContractState(Plan.TRIAL, ContractStatus.ACTIVE, NOW - timedelta(days=3))
#: Ended 5 days ago: inside the plan-change window, where the account menu still opens.
TRIAL_ENDED = ContractState(Plan.TRIAL, ContractStatus.ACTIVE, NOW - timedelta(days=35))
CLOSED = ContractState(Plan.TRIAL, ContractStatus.ACTIVE, NOW - timedelta(days=46))
CANCELLED = ContractState(Plan.BASIC, ContractStatus.CANCELLED, None)
LINE = "CAF0123456789"
BOTH = AccessRoute.LINE_AND_INTERNET
ONLY = AccessRoute.LINE_ONLY


@pytest.mark.covers("G1")
@pytest.mark.parametrize(
    ("role", "contract", "route", "line", "lines", "expected"),
    [
        # The roles (G1): the contractor and admins; everyone else 403.
        (Role.CONTRACTOR, BASIC, BOTH, None, frozenset(), ALLOW),
        (Role.ADMIN, BASIC, BOTH, None, frozenset(), ALLOW),
        (Role.USER, BASIC, BOTH, None, frozenset(), deny("not_admin")),
        (Role.ADMIN, TRIAL, BOTH, None, frozenset(), ALLOW),
        # The contract (C1, C3): no contractor exception after the trial, unlike the menu.
        (Role.CONTRACTOR, TRIAL_ENDED, BOTH, None, frozenset(), deny("trial_ended")),
        (Role.CONTRACTOR, CLOSED, BOTH, None, frozenset(), deny("contract_closed")),
        (Role.ADMIN, CANCELLED, BOTH, None, frozenset(), deny("contract_inactive")),
        (Role.USER, CANCELLED, BOTH, None, frozenset(), deny("contract_inactive")),
        # The route (A1, L9): no A3 exception for the contractor in the console.
        (Role.CONTRACTOR, BASIC, ONLY, None, frozenset({LINE}), deny("route_line_only")),
        (Role.ADMIN, BASIC, ONLY, None, frozenset({LINE}), deny("route_line_only")),
        (Role.ADMIN, BASIC, ONLY, LINE, frozenset({LINE}), ALLOW),
        (Role.CONTRACTOR, BASIC, BOTH, LINE, frozenset(), deny("line_not_registered")),
    ],
)
def test_G1_console_access(role, contract, route, line, lines, expected):
    assert check_console_access(role, contract, route, line, lines, NOW) == expected
