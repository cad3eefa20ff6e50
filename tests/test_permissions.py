"""U1, U2 as tables, no app (STYLE.md §13). ``U2_AS_PRINTED`` is SPEC.md's table copied
literally, rows and columns as printed; the test reads each cell as a person would."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from policies.decision import deny
from policies.permissions import check_permission
from policies.permissions import may_use
from policies.permissions import menu_items
from policies.plan import ContractState
from policies.vocabulary import ContractStatus
from policies.vocabulary import MenuItem
from policies.vocabulary import Plan
from policies.vocabulary import Role

# fmt: off
U2_COLUMNS = ("basic: contractor", "basic: others", "trial: contractor", "trial: others")
U2_AS_PRINTED = [
    ("login method, email change",             "yes", "no",  "no",  "no"),
    ("password change",                        "yes", "yes", "yes", "yes"),
    ("access route, 2FA setting, AD setting",  "yes", "no",  "yes", "no"),
    ("contract information change",            "yes", "no",  "no",  "no"),
    ("plan change",                            "yes", "no",  "yes, until 15 days after the trial ended", "no"),  # noqa: E501
    ("cancellation",                           "yes", "no",  "no (ends by itself after 30 days)", "no"),  # noqa: E501
]
# fmt: on
#: SPEC's row names → the menu items they cover.
ROW_ITEMS = {
    "login method, email change": (MenuItem.LOGIN_METHOD, MenuItem.EMAIL_CHANGE),
    "password change": (MenuItem.PASSWORD_CHANGE,),
    "access route, 2FA setting, AD setting": (
        MenuItem.ACCESS_ROUTE,
        MenuItem.TWO_FACTOR,
        MenuItem.AD_SETTING,
    ),
    "contract information change": (MenuItem.CONTRACT_INFORMATION,),
    "plan change": (MenuItem.PLAN_CHANGE,),
    "cancellation": (MenuItem.CANCELLATION,),
}
#: SPEC's column names → (plan, roles). "others" are admins and plain users alike.
COLUMN_PEOPLE = {
    "basic: contractor": (Plan.BASIC, (Role.CONTRACTOR,)),
    "basic: others": (Plan.BASIC, (Role.ADMIN, Role.USER)),
    "trial: contractor": (Plan.TRIAL, (Role.CONTRACTOR,)),
    "trial: others": (Plan.TRIAL, (Role.ADMIN, Role.USER)),
}

START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
TRIAL_END = START + timedelta(days=30)
#: The table as printed holds during the trial.
DURING_TRIAL = START + timedelta(days=10)
SECOND = timedelta(seconds=1)


def contract(plan: Plan, status: ContractStatus = ContractStatus.ACTIVE) -> ContractState:
    return ContractState(plan, status, START if plan == Plan.TRIAL else None)


#: Items SPEC's table does not name, and who may use them: everyone, on any plan.
BEYOND_U2 = {
    MenuItem.TOP: "everyone may leave the menu",
    MenuItem.SESSIONS: "X2, X7: each person's own sessions and remembered browsers",
}


def test_U2_table_names_every_item_but_top_and_sessions():
    covered = {item for items in ROW_ITEMS.values() for item in items}
    assert covered == set(MenuItem) - set(BEYOND_U2)
    assert [row[0] for row in U2_AS_PRINTED] == list(ROW_ITEMS)


@pytest.mark.covers("X2", "X7", "U1")
@pytest.mark.parametrize("plan", list(Plan))
@pytest.mark.parametrize("role", list(Role))
def test_X2_items_beyond_U2_are_everyones(plan, role):
    for item in BEYOND_U2:
        assert may_use(item, role, contract(plan), DURING_TRIAL), (item, plan, role)


@pytest.mark.covers("U2", "M1", "C3", "C4")
@pytest.mark.parametrize(
    ("row", "column", "cell"),
    [
        (row[0], column, cell)
        for row in U2_AS_PRINTED
        for column, cell in zip(U2_COLUMNS, row[1:], strict=True)
    ],
)
def test_U2_as_printed(row, column, cell):
    expected = cell.startswith("yes")
    plan, roles = COLUMN_PEOPLE[column]
    for item in ROW_ITEMS[row]:
        for role in roles:
            assert may_use(item, role, contract(plan), DURING_TRIAL) is expected, (item, role)


@pytest.mark.covers("U2", "C1", "C2")
@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (TRIAL_END - SECOND, True),
        (TRIAL_END, True),  # the trial has ended: the window begins
        (TRIAL_END + timedelta(days=15), True),  # 15 days exactly: still allowed
        (TRIAL_END + timedelta(days=15) + SECOND, False),
    ],
)
def test_U2_plan_change_until_15_days_after_the_trial(now, allowed):
    assert may_use(MenuItem.PLAN_CHANGE, Role.CONTRACTOR, contract(Plan.TRIAL), now) is allowed


@pytest.mark.covers("U2", "C1")
def test_U2_closed_trial_allows_nothing():
    """After the window the contract is closed: a session opened before cannot act."""
    closed_at = TRIAL_END + timedelta(days=15) + SECOND
    for role in Role:
        assert menu_items(role, contract(Plan.TRIAL), closed_at) == []
        decision = check_permission(MenuItem.PASSWORD_CHANGE, role, contract(Plan.TRIAL), closed_at)
        assert decision == deny("contract_closed")


@pytest.mark.covers("U2", "C3")
def test_U2_cancelled_contract_allows_nothing():
    cancelled = contract(Plan.BASIC, ContractStatus.CANCELLED)
    for role in Role:
        assert menu_items(role, cancelled, DURING_TRIAL) == []
        decision = check_permission(MenuItem.TOP, role, cancelled, DURING_TRIAL)
        assert decision == deny("contract_inactive")


@pytest.mark.covers("U2")
def test_U2_refusal_names_its_reason():
    decision = check_permission(MenuItem.CANCELLATION, Role.ADMIN, contract(Plan.BASIC), START)
    assert decision == deny("not_permitted")


#: What every signed-in person sees on any plan, in the menu's order.
EVERYONES = (MenuItem.PASSWORD_CHANGE, MenuItem.SESSIONS, MenuItem.TOP)


@pytest.mark.covers("U1", "U2")
@pytest.mark.parametrize(
    ("plan", "role", "now", "items"),
    [
        (Plan.BASIC, Role.CONTRACTOR, DURING_TRIAL, list(MenuItem)),
        (Plan.BASIC, Role.ADMIN, DURING_TRIAL, [*EVERYONES]),
        (Plan.BASIC, Role.USER, DURING_TRIAL, [*EVERYONES]),
        (
            Plan.TRIAL,
            Role.CONTRACTOR,
            DURING_TRIAL,
            [
                MenuItem.PASSWORD_CHANGE,
                MenuItem.SESSIONS,
                MenuItem.ACCESS_ROUTE,
                MenuItem.TWO_FACTOR,
                MenuItem.AD_SETTING,
                MenuItem.PLAN_CHANGE,
                MenuItem.TOP,
            ],
        ),
        (Plan.TRIAL, Role.USER, DURING_TRIAL, [*EVERYONES]),
    ],
)
def test_U1_menu_lists_allowed_items_in_order(plan, role, now, items):
    assert menu_items(role, contract(plan), now) == items


def test_U1_menu_order_is_spec_order():
    assert [item.value for item in MenuItem] == [
        "login_method",
        "email_change",
        "password_change",
        "sessions",
        "access_route",
        "two_factor",
        "ad_setting",
        "contract_information",
        "plan_change",
        "cancellation",
        "top",
    ]


def test_rules_and_words_load_no_framework():
    """STYLE.md §4: the rules (and the words they use) import no flask, sqlalchemy or redis,
    not even through an ``idp`` module — which is why the words live in policies/."""
    script = (
        "import sys, pkgutil, importlib, policies\n"
        "for m in pkgutil.iter_modules(policies.__path__):\n"
        "    importlib.import_module('policies.' + m.name)\n"
        "print(sorted({'flask', 'sqlalchemy', 'redis'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
