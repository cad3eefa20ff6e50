"""C1–C3 as tables, no app (STYLE.md §13): the trial, its 15-day plan-change window,
cancellation, and whether a sign-in passes the contract (frontend or account menu)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from policies.contract import check_contract
from policies.decision import ALLOW
from policies.decision import deny
from policies.plan import ContractState
from policies.plan import check_cancellation
from policies.plan import check_plan_change
from policies.plan import is_closed_after_trial
from policies.plan import is_trial_over
from policies.plan import plan_change_deadline
from policies.plan import trial_ends_at
from policies.vocabulary import ContractStatus
from policies.vocabulary import Plan
from policies.vocabulary import Role
from policies.vocabulary import Target

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
TRIAL_END = START + timedelta(days=30)
DEADLINE = TRIAL_END + timedelta(days=15)
SECOND = timedelta(seconds=1)
TRIAL = ContractState(Plan.TRIAL, ContractStatus.ACTIVE, START)
BASIC = ContractState(Plan.BASIC, ContractStatus.ACTIVE, None)
#: A trial changed to basic keeps its start; it never ends (C2).
CONVERTED = ContractState(Plan.BASIC, ContractStatus.ACTIVE, START)
CANCELLED = ContractState(Plan.BASIC, ContractStatus.CANCELLED, None)
#: A trial whose start was never recorded does not end by itself.
UNDATED_TRIAL = ContractState(Plan.TRIAL, ContractStatus.ACTIVE, None)

# The moments the rules turn on, in order.
DURING = START + timedelta(days=29, hours=23, minutes=59, seconds=59)
ENDED = TRIAL_END
WINDOW_LAST = DEADLINE
CLOSED = DEADLINE + SECOND


@pytest.mark.covers("C1")
def test_C1_trial_and_window_dates():
    assert trial_ends_at(TRIAL) == START + timedelta(days=30)
    assert plan_change_deadline(TRIAL) == START + timedelta(days=45)
    for contract in (BASIC, CONVERTED, UNDATED_TRIAL):
        assert trial_ends_at(contract) is None
        assert plan_change_deadline(contract) is None


@pytest.mark.covers("C1")
@pytest.mark.parametrize(
    ("contract", "now", "over", "closed"),
    [
        (TRIAL, START, False, False),
        (TRIAL, DURING, False, False),
        (TRIAL, ENDED, True, False),  # 30 days exactly: the trial has ended
        (TRIAL, WINDOW_LAST, True, False),  # 15 days after exactly: still the window
        (TRIAL, CLOSED, True, True),  # one second later: closed
        (CONVERTED, CLOSED, False, False),
        (BASIC, CLOSED, False, False),
        (UNDATED_TRIAL, CLOSED, False, False),
    ],
)
def test_C1_trial_ends_then_closes(contract, now, over, closed):
    assert is_trial_over(contract, now) is over
    assert is_closed_after_trial(contract, now) is closed


ALL_ROLES = (Role.CONTRACTOR, Role.ADMIN, Role.USER)
OTHERS = (Role.ADMIN, Role.USER)


@pytest.mark.covers("C1", "C3")
@pytest.mark.parametrize(
    ("contract", "now", "roles", "target", "decision"),
    [
        # During the trial and on basic everyone signs in anywhere.
        (TRIAL, DURING, ALL_ROLES, Target.FRONTEND, ALLOW),
        (TRIAL, DURING, ALL_ROLES, Target.ACCOUNT_MENU, ALLOW),
        (BASIC, CLOSED, ALL_ROLES, Target.FRONTEND, ALLOW),
        (CONVERTED, CLOSED, ALL_ROLES, Target.FRONTEND, ALLOW),
        # C1: after the trial nobody reaches the frontend ...
        (TRIAL, ENDED, ALL_ROLES, Target.FRONTEND, deny("trial_ended")),
        (TRIAL, WINDOW_LAST, ALL_ROLES, Target.FRONTEND, deny("trial_ended")),
        # ... but the contractor reaches the account menu for 15 days, nobody else does ...
        (TRIAL, ENDED, (Role.CONTRACTOR,), Target.ACCOUNT_MENU, ALLOW),
        (TRIAL, WINDOW_LAST, (Role.CONTRACTOR,), Target.ACCOUNT_MENU, ALLOW),
        (TRIAL, ENDED, OTHERS, Target.ACCOUNT_MENU, deny("trial_ended")),
        # ... and after the window the contract is closed to everyone.
        (TRIAL, CLOSED, ALL_ROLES, Target.FRONTEND, deny("contract_closed")),
        (TRIAL, CLOSED, ALL_ROLES, Target.ACCOUNT_MENU, deny("contract_closed")),
        # C3: a cancelled contract refuses every sign-in.
        (CANCELLED, START, ALL_ROLES, Target.FRONTEND, deny("contract_inactive")),
        (CANCELLED, START, ALL_ROLES, Target.ACCOUNT_MENU, deny("contract_inactive")),
    ],
)
def test_C1_C3_who_signs_in_where(contract, now, roles, target, decision):
    for role in roles:
        assert check_contract(contract, role, target, now) == decision, role


@pytest.mark.covers("C2")
@pytest.mark.parametrize(
    ("contract", "role", "new_plan", "now", "decision"),
    [
        (TRIAL, Role.CONTRACTOR, Plan.BASIC, START, ALLOW),
        (TRIAL, Role.CONTRACTOR, Plan.BASIC, DURING, ALLOW),
        (TRIAL, Role.CONTRACTOR, Plan.BASIC, ENDED, ALLOW),
        (TRIAL, Role.CONTRACTOR, Plan.BASIC, WINDOW_LAST, ALLOW),
        (TRIAL, Role.CONTRACTOR, Plan.BASIC, CLOSED, deny("contract_closed")),
        (TRIAL, Role.ADMIN, Plan.BASIC, DURING, deny("not_contractor")),
        (TRIAL, Role.USER, Plan.BASIC, DURING, deny("not_contractor")),
        (TRIAL, Role.CONTRACTOR, Plan.TRIAL, DURING, deny("no_such_plan_change")),
        (BASIC, Role.CONTRACTOR, Plan.TRIAL, DURING, deny("no_such_plan_change")),
        (BASIC, Role.CONTRACTOR, Plan.BASIC, DURING, deny("no_such_plan_change")),
        (
            ContractState(Plan.TRIAL, ContractStatus.CANCELLED, START),
            Role.CONTRACTOR,
            Plan.BASIC,
            DURING,
            deny("contract_inactive"),
        ),
    ],
)
def test_C2_plan_change_trial_to_basic(contract, role, new_plan, now, decision):
    assert check_plan_change(contract, role, new_plan, now) == decision


@pytest.mark.covers("C3")
@pytest.mark.parametrize(
    ("contract", "role", "decision"),
    [
        (BASIC, Role.CONTRACTOR, ALLOW),
        (CONVERTED, Role.CONTRACTOR, ALLOW),
        (BASIC, Role.ADMIN, deny("not_contractor")),
        (BASIC, Role.USER, deny("not_contractor")),
        (TRIAL, Role.CONTRACTOR, deny("trial_cannot_be_cancelled")),
        (CANCELLED, Role.CONTRACTOR, deny("contract_inactive")),
    ],
)
def test_C3_only_the_contractor_cancels_basic(contract, role, decision):
    assert check_cancellation(contract, role) == decision
