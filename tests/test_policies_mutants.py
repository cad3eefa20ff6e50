"""Edges of the pure rules that mutation testing (``make mutation``) found unasserted.

Each table row is a boundary or a branch that a mutant of ``policies/`` got through
tests/test_policies.py unnoticed: the exact length limits, the exact instant 2FA was turned
on, a half-recorded remembered browser, the whole decision (step included), and what counts
as a symbol or a line number.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from policies.decision import ALLOW
from policies.decision import need
from policies.line_numbers import normalise_line_number
from policies.password import MAX_LENGTH
from policies.password import check_password
from policies.password import count_character_classes
from policies.two_factor import REMEMBER_FOR
from policies.two_factor import TwoFactorContext
from policies.two_factor import is_browser_remembered
from policies.two_factor import two_factor_decision
from policies.vocabulary import AccessRoute
from policies.vocabulary import LoginMethod

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TURNED_ON = NOW - timedelta(days=100)
SECOND = timedelta(seconds=1)


@pytest.mark.covers("P2")
@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("A1!" + "a" * (MAX_LENGTH - 3), []),  # exactly 128 characters: accepted
        ("A1!" + "a" * (MAX_LENGTH - 2), ["too_long"]),  # 129
        ("Abcdefg€", []),  # a symbol outside ASCII punctuation still counts as a symbol
        ("abcdefg1。", []),
        ("abcdefg1é", ["too_few_classes"]),  # a non-ASCII letter is a letter, not a symbol
    ],
)
def test_P2_password_length_limit_and_non_ascii_symbols(password, problems):
    assert check_password(password) == problems


@pytest.mark.covers("P2")
@pytest.mark.parametrize(
    ("text", "classes"),
    [("€", 1), ("・", 1), ("　", 1), ("!", 1), ("a", 1), ("aA1€", 4), ("ａＡ１", 3)],
)
def test_P2_character_classes(text, classes):
    assert count_character_classes(text) == classes


def _ctx(**values):
    base = dict(
        contract_two_factor=True,
        access_route=AccessRoute.LINE_AND_INTERNET,
        login_method=LoginMethod.PASSWORD,
        via_line=False,
        remembered_at=NOW - timedelta(days=40),
        remembered_last_used=NOW - timedelta(days=1),
        two_factor_enabled_at=TURNED_ON,
    )
    return TwoFactorContext(**{**base, **values})


@pytest.mark.covers("L3", "T1", "X2", "O1")
@pytest.mark.parametrize(
    ("values", "decision"),
    [
        ({}, ALLOW),
        (
            {"remembered_at": None, "remembered_last_used": None},
            need("second_factor", "2fa_new_browser"),
        ),
        # A record without its last use (half written) does not count as remembered.
        ({"remembered_last_used": None}, need("second_factor", "2fa_browser_stale")),
        # T1: remembered at the very instant 2FA was turned on counts; a second earlier does not.
        ({"remembered_at": TURNED_ON}, ALLOW),
        ({"remembered_at": TURNED_ON - SECOND}, need("second_factor", "2fa_browser_stale")),
        # No record of when 2FA was turned on: the remembered browser counts.
        ({"two_factor_enabled_at": None, "remembered_at": TURNED_ON - SECOND}, ALLOW),
        # L3: 30 days from the last use, to the second.
        ({"remembered_last_used": NOW - REMEMBER_FOR}, ALLOW),
        (
            {"remembered_last_used": NOW - REMEMBER_FOR - SECOND},
            need("second_factor", "2fa_browser_stale"),
        ),
        # O1: the RP's 2FA acr asks even a remembered browser for the second factor.
        (
            {"requested_acr": ("urn:worksdrive:acr:2fa",)},
            need("second_factor", "2fa_acr_requested"),
        ),
    ],
)
def test_L3_two_factor_decision_is_the_whole_decision(values, decision):
    """The whole Decision, step included: the login flow routes to the step it names."""
    assert two_factor_decision(_ctx(**values), NOW) == decision


@pytest.mark.covers("L3")
@pytest.mark.parametrize(
    "values",
    [
        {"remembered_at": None, "remembered_last_used": None},
        {"remembered_at": None},
        {"remembered_last_used": None},
    ],
)
def test_L3_a_browser_without_both_dates_is_not_remembered(values):
    assert is_browser_remembered(_ctx(**values), NOW) is False
    assert is_browser_remembered(_ctx(), NOW) is True


@pytest.mark.covers("A2")
@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("CAF 1234 567 890", "CAF1234567890"),
        # Only spaces and hyphens are dropped: a tab or newline is refused, never kept.
        ("CAF\t1234567890", None),
        ("CAF1234567890\n", None),
        ("cop 1234-abcd", "COP1234ABCD"),
        # At most 40 characters as typed, separators included.
        ("CAF1234567890" + "-" * 27, "CAF1234567890"),
        ("CAF1234567890" + "-" * 28, None),
        ("C-A-F-1-2-3-4-5-6-7-8-9-0" + " " * 16, None),
        # Only ASCII: "ı".upper() is "I", which must not make a line number.
        ("caf123456789ı", None),
        ("ＣＡＦ1234567890", None),
        (None, None),
        (1234567890, None),
    ],
)
def test_A2_line_number_separators_length_and_ascii(raw, normalised):
    assert normalise_line_number(raw) == normalised
