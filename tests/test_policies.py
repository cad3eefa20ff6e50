"""Pure policies as parametrized tables, no app (STYLE.md §13): P2, K1, trial."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.contract import ContractState
from policies.contract import check_contract
from policies.contract import is_trial_over
from policies.decision import ALLOW
from policies.decision import deny
from policies.decision import need
from policies.lockout import MAX_FAILED_LOGINS
from policies.lockout import locks_after_failure
from policies.lockout import may_attempt
from policies.password import check_password
from policies.password import count_character_classes
from policies.vocabulary import Role
from policies.vocabulary import Target

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("Abcdefg1", []),
        ("abcdefg1!", []),
        ("ABCDEFG1!", []),
        ("Abcdefg!", []),
        ("パスワードAb1!", []),
        ("Abcde1!", ["too_short"]),
        ("abcdefgh", ["too_few_classes"]),
        ("abcdefg1", ["too_few_classes"]),
        ("ABCDEFGH12", ["too_few_classes"]),
        ("A1!" + "a" * 126, ["too_long"]),
        ("Password1", ["common"]),
    ],
)
def test_P2_password_rule(password, problems):
    assert check_password(password, common_passwords={"password1"}) == problems


def test_P2_email_is_not_a_password():
    assert "is_email" in check_password("Taro.Yamada1", email="taro.yamada1@example.jp")


@given(st.text(min_size=0, max_size=40))
def test_P2_classes_are_between_zero_and_four(text):
    assert 0 <= count_character_classes(text) <= 4
    if check_password(text) == []:
        assert len(text) >= 8 and count_character_classes(text) >= 3


@pytest.mark.parametrize(
    ("failed", "locked", "expected"),
    [
        (0, False, True),
        (9, False, True),
        (10, False, False),
        (0, True, False),
        (3, True, False),
    ],
)
def test_K1_may_attempt(failed, locked, expected):
    assert may_attempt(failed, locked) is expected


@pytest.mark.parametrize(("attempt", "locks"), [(1, False), (9, False), (10, True), (11, True)])
def test_K1_tenth_failure_locks(attempt, locks):
    assert locks_after_failure(attempt) is locks
    assert MAX_FAILED_LOGINS == 10


@pytest.mark.parametrize(
    ("state", "decision"),
    [
        (ContractState("basic", "active", None), ALLOW),
        (ContractState("trial", "active", NOW - timedelta(days=29)), ALLOW),
        (ContractState("trial", "active", NOW - timedelta(days=30)), deny("trial_ended")),
        (ContractState("basic", "cancelled", None), deny("contract_inactive")),
    ],
)
def test_contract_state(state, decision):
    assert check_contract(state, Role.USER, Target.FRONTEND, NOW) == decision


def test_trial_ends_by_itself_after_thirty_days():
    start = NOW - timedelta(days=30, seconds=1)
    assert is_trial_over(ContractState("trial", "active", start), NOW)
    assert not is_trial_over(ContractState("basic", "active", start), NOW)
    assert not is_trial_over(ContractState("trial", "active", None), NOW)


def test_decisions():
    assert ALLOW.is_allowed
    assert not deny("x").is_allowed
    step = need("second_factor", "2fa_new_browser")
    assert step.outcome == "step" and step.step == "second_factor"


def _ctx(**values):
    from policies.two_factor import TwoFactorContext

    base = dict(
        contract_two_factor=True,
        access_route="line+internet",
        login_method="password",
        via_line=False,
        remembered_at=None,
        remembered_last_used=None,
        two_factor_enabled_at=NOW - timedelta(days=100),
    )
    return TwoFactorContext(**{**base, **values})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, ("step", "2fa_new_browser")),
        ({"contract_two_factor": False}, ("allow", None)),
        ({"login_method": "google"}, ("allow", None)),
        ({"login_method": "ad"}, ("allow", None)),
        ({"via_line": True}, ("allow", None)),  # L9
        ({"access_route": "line-only"}, ("allow", None)),  # A4
        (
            {
                "remembered_at": NOW - timedelta(days=40),
                "remembered_last_used": NOW - timedelta(days=30),
            },
            ("allow", None),
        ),
        (
            {
                "remembered_at": NOW - timedelta(days=40),
                "remembered_last_used": NOW - timedelta(days=30, seconds=1),
            },
            ("step", "2fa_browser_stale"),
        ),
        (
            {"remembered_at": NOW - timedelta(days=200), "remembered_last_used": NOW},
            ("step", "2fa_browser_stale"),
        ),  # remembered before 2FA was turned on again
        (
            {"contract_two_factor": False, "requested_acr": ("urn:worksdrive:acr:2fa",)},
            ("step", "2fa_acr_requested"),
        ),
        (
            {
                "contract_two_factor": False,
                "requested_acr": ("urn:worksdrive:acr:1fa", "urn:worksdrive:acr:2fa"),
            },
            ("allow", None),
        ),
        (
            {
                "remembered_at": NOW,
                "remembered_last_used": NOW,
                "requested_acr": ("urn:worksdrive:acr:2fa",),
            },
            ("step", "2fa_acr_requested"),
        ),
    ],
)
def test_L3_A4_L9_two_factor_rule(values, expected):
    from policies.two_factor import two_factor_decision

    decision = two_factor_decision(_ctx(**values), NOW)
    assert (decision.outcome, decision.reason) == expected


def test_A4_line_only_reads_two_factor_off():
    from policies.two_factor import is_contract_two_factor_on

    assert is_contract_two_factor_on(True, "line+internet")
    assert not is_contract_two_factor_on(True, "line-only")
    assert not is_contract_two_factor_on(False, "line+internet")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"line_number": "CAF1234567890"}, ("allow", None)),
        ({"line_number": "CAF0000000000"}, ("deny", "line_not_registered")),
        ({"line_number": None}, ("allow", None)),
        ({"line_number": None, "access_route": "line-only"}, ("deny", "route_line_only")),
        ({"line_number": "CAF1234567890", "access_route": "line-only"}, ("allow", None)),
        # A3: the contractor's account-menu sign-in works from the internet even in line-only.
        (
            {
                "line_number": None,
                "access_route": "line-only",
                "role": "contractor",
                "target": "account",
            },
            ("allow", None),
        ),
        (
            {
                "line_number": None,
                "access_route": "line-only",
                "role": "contractor",
                "target": "frontend",
            },
            ("deny", "route_line_only"),
        ),
        (
            {
                "line_number": None,
                "access_route": "line-only",
                "role": "admin",
                "target": "account",
            },
            ("deny", "route_line_only"),
        ),
    ],
)
def test_A1_A3_L9_access_route_rule(values, expected):
    from policies.access_route import RouteContext
    from policies.access_route import route_decision

    base = dict(
        access_route="line+internet",
        line_number=None,
        registered_lines=frozenset({"CAF1234567890"}),
        role="user",
        target="frontend",
    )
    decision = route_decision(RouteContext(**{**base, **values}))
    assert (decision.outcome, decision.reason) == expected


@pytest.mark.parametrize(
    ("route", "line", "expected"),
    [
        ("line+internet", None, True),
        ("line-only", None, False),
        ("line-only", "CAF1234567890", True),
        ("line+internet", "CAF9999999999", False),
    ],
)
def test_X5_session_route_at_refresh(route, line, expected):
    from policies.access_route import is_session_route_still_valid

    assert is_session_route_still_valid(route, line, frozenset({"CAF1234567890"})) is expected


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("CAF1234567890", "CAF1234567890"),
        ("caf-1234-567-890", "CAF1234567890"),
        ("COP1234ABCD", "COP1234ABCD"),
        ("COP1234ABC", None),
        ("CAF123456789", None),
        ("FOO1234567890", None),
        ("", None),
        ("CAF12345678\u30009", None),
    ],
)
def test_A2_line_number_rule(raw, normalised):
    from policies.line_numbers import normalise_line_number

    assert normalise_line_number(raw) == normalised
