"""M1, M3, M5 as tables, no app (STYLE.md §13)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from policies.decision import ALLOW
from policies.decision import deny
from policies.login_method import check_method_change
from policies.login_method import check_method_choice
from policies.login_method import check_own_email_change
from policies.login_method import check_own_method_change
from policies.login_method import choosable_methods
from policies.login_method import is_facebook_rebind_allowed
from policies.plan import ContractState
from policies.vocabulary import ContractStatus
from policies.vocabulary import LoginMethod
from policies.vocabulary import Plan
from policies.vocabulary import Role

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BASIC = ContractState(Plan.BASIC, ContractStatus.ACTIVE, None)
TRIAL = ContractState(Plan.TRIAL, ContractStatus.ACTIVE, NOW - timedelta(days=3))
NOT_PERMITTED = deny("not_permitted")


@pytest.mark.covers("M1", "M2")
@pytest.mark.parametrize(
    ("contract", "role", "decision"),
    [
        (BASIC, Role.CONTRACTOR, ALLOW),
        (BASIC, Role.ADMIN, NOT_PERMITTED),  # M2: others ask the contractor or an admin
        (BASIC, Role.USER, NOT_PERMITTED),
        (TRIAL, Role.CONTRACTOR, NOT_PERMITTED),  # M1: not on trial
        (TRIAL, Role.ADMIN, NOT_PERMITTED),
        (TRIAL, Role.USER, NOT_PERMITTED),
    ],
)
def test_M1_own_method_and_email_change(contract, role, decision):
    assert check_own_method_change(role, contract, NOW) == decision
    assert check_own_email_change(role, contract, NOW) == decision


CANCELLED = ContractState(Plan.BASIC, ContractStatus.CANCELLED, None)
#: A trial started 46 days ago: its 15-day plan-change window has passed (C1).
CLOSED = ContractState(Plan.TRIAL, ContractStatus.ACTIVE, NOW - timedelta(days=46))


@pytest.mark.covers("M1", "M2", "M6")
@pytest.mark.parametrize(
    ("contract", "role", "decision"),
    [
        (BASIC, Role.CONTRACTOR, ALLOW),  # M1: the menu, or a link
        (TRIAL, Role.CONTRACTOR, NOT_PERMITTED),  # M1: not on trial, not by a link either
        (BASIC, Role.ADMIN, ALLOW),  # M2: the others get a link
        (BASIC, Role.USER, ALLOW),
        (TRIAL, Role.USER, ALLOW),
        (CANCELLED, Role.USER, deny("contract_inactive")),
        (CANCELLED, Role.CONTRACTOR, deny("contract_inactive")),
        (CLOSED, Role.ADMIN, deny("contract_closed")),
    ],
)
def test_M1_M2_whose_method_may_change(contract, role, decision):
    assert check_method_change(role, contract, NOW) == decision


M = LoginMethod
UPSTREAMS_AND_PASSWORD = [M.PASSWORD, M.GOOGLE, M.FACEBOOK, M.MICROSOFT, M.DACCOUNT]


@pytest.mark.covers("M3")
@pytest.mark.parametrize(
    ("role", "has_ad", "ad_decision"),
    [
        (Role.CONTRACTOR, True, deny("contractor_cannot_use_ad")),
        (Role.CONTRACTOR, False, deny("contractor_cannot_use_ad")),
        (Role.ADMIN, True, ALLOW),
        (Role.USER, True, ALLOW),
        (Role.ADMIN, False, deny("ad_not_configured")),
        (Role.USER, False, deny("ad_not_configured")),
    ],
)
def test_M3_who_may_choose_which_method(role, has_ad, ad_decision):
    assert check_method_choice(M.AD, role, has_ad=has_ad) == ad_decision
    for method in UPSTREAMS_AND_PASSWORD:
        assert check_method_choice(method, role, has_ad=has_ad) == ALLOW
    expected = [*UPSTREAMS_AND_PASSWORD, M.AD] if ad_decision == ALLOW else UPSTREAMS_AND_PASSWORD
    assert choosable_methods(role, has_ad=has_ad) == expected


@pytest.mark.covers("M5")
@pytest.mark.parametrize(
    ("current_subject", "new_subject", "allowed"),
    [
        (None, "1001", True),  # no Facebook identity yet: bind it
        ("1001", "1001", True),  # the same Facebook user signs in again
        ("1001", "1002", False),  # another Facebook user: change to another method first
        ("", "1001", False),  # a bound but empty subject is not "none"
        (None, "", False),  # a sign-in without a subject binds nothing
        ("1001", "", False),
    ],
)
def test_M5_facebook_rebind_rule(current_subject, new_subject, allowed):
    assert is_facebook_rebind_allowed(current_subject, new_subject) is allowed
