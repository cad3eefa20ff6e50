"""X3: the "what if" rule as a table, no app (STYLE.md §13): for a user, a contract, a route, a
browser state and the relying party's request, the steps a sign-in needs, each with its SPEC
rule and the reason code the login audits. tests/test_what_if_live.py compares the same
function with the live login."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from policies.access_route import line_notice_decision
from policies.decision import ALLOW
from policies.decision import allow_because
from policies.decision import deny
from policies.decision import need
from policies.lockout import is_sign_in_locked
from policies.plan import ContractState
from policies.reasons import rules_of
from policies.sign_in import SignInContext
from policies.sign_in import check_sign_in
from policies.two_factor import second_factor_mode
from policies.vocabulary import AccessRoute
from policies.vocabulary import ContractStatus
from policies.vocabulary import LoginMethod
from policies.vocabulary import Plan
from policies.vocabulary import Role
from policies.vocabulary import Target
from policies.what_if import BrowserFacts
from policies.what_if import ContractFacts
from policies.what_if import RequestFacts
from policies.what_if import RouteFacts
from policies.what_if import UserFacts
from policies.what_if import what_if

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TURNED_ON = NOW - timedelta(days=100)
LINE = "CAF1234567890"
WEST_ASKED = "COP1234ABCD"
WEST_DECLINED = "COP9999ZZZZ"
ACR_2FA = ("urn:worksdrive:acr:2fa",)

USER = UserFacts(
    login_method=LoginMethod.PASSWORD,
    role=Role.USER,
    is_locked=False,
    failed_logins=0,
    is_two_factor_enrolled=True,
    factor_kinds=("sms",),
)
CONTRACT = ContractFacts(
    state=ContractState(Plan.BASIC, ContractStatus.ACTIVE, None),
    two_factor=True,
    two_factor_enabled_at=TURNED_ON,
    access_route=AccessRoute.LINE_AND_INTERNET,
    lines={LINE: None, WEST_ASKED: "notify", WEST_DECLINED: "do_not_notify"},
)
REMEMBERED = BrowserFacts(NOW - timedelta(days=40), NOW - timedelta(days=2))
NEW = BrowserFacts()
INTERNET = RouteFacts()


def _trial(days_ago: int) -> ContractState:
    return ContractState(Plan.TRIAL, ContractStatus.ACTIVE, NOW - timedelta(days=days_ago))


def steps_of(
    user: dict | None = None,
    contract: dict | None = None,
    route: RouteFacts = INTERNET,
    browser: BrowserFacts = NEW,
    request: RequestFacts | None = None,
) -> list[tuple]:
    answer = what_if(
        replace(USER, **(user or {})),
        replace(CONTRACT, **(contract or {})),
        route,
        browser,
        request or RequestFacts(),
        NOW,
    )
    assert answer[0].name == "identify"
    assert answer[-1].name in ("refused", "done")
    return [(s.name, s.reason, s.detail, s.rules) for s in answer[1:]]


DONE_REMEMBERED = ("done", "2fa_remembered", None, ("L3", "X2"))
CHALLENGE_NEW = ("second_factor", "2fa_new_browser", "challenge", ("L3", "L6"))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # L3, L6: an enrolled password user in a new browser is challenged.
        ({}, [CHALLENGE_NEW, ("done", None, None, ("O2",))]),
        # L4: not enrolled yet: enrollment; so too when the enrollment was never completed.
        (
            {"user": {"is_two_factor_enrolled": False, "factor_kinds": ()}},
            [("second_factor", "2fa_new_browser", "enroll", ("L3", "L4"))],
        ),
        (
            {"user": {"is_two_factor_enrolled": False, "factor_kinds": ("sms",)}},
            [("second_factor", "2fa_new_browser", "enroll", ("L3", "L4"))],
        ),
        # X1: a passkey alone is no factor a challenge starts with: enrollment.
        (
            {"user": {"factor_kinds": ("passkey",)}},
            [("second_factor", "2fa_new_browser", "enroll", ("L3", "L4"))],
        ),
        # L3, X2: a remembered browser, used within 30 days, skips the second factor.
        ({"browser": REMEMBERED}, [DONE_REMEMBERED]),
        # L3: last used 31 days ago: stale.
        (
            {"browser": BrowserFacts(NOW - timedelta(days=40), NOW - timedelta(days=31))},
            [("second_factor", "2fa_browser_stale", "challenge", ("L3", "X2", "L6"))],
        ),
        # T1: remembered before 2FA was last turned on: stale.
        (
            {"browser": BrowserFacts(TURNED_ON - timedelta(days=1), NOW)},
            [("second_factor", "2fa_browser_stale", "challenge", ("L3", "X2", "L6"))],
        ),
        # T1: 2FA off for the contract.
        ({"contract": {"two_factor": False}}, [("done", "2fa_off", None, ("T1",))]),
        # O1: the relying party's two-factor acr asks even a remembered browser.
        (
            {"browser": REMEMBERED, "request": RequestFacts(requested_acr=ACR_2FA)},
            [("second_factor", "2fa_acr_requested", "challenge", ("L3", "O1", "L6"))],
        ),
        # L9: a registered line replaces 2FA (east: no notice).
        (
            {"route": RouteFacts(LINE, "east")},
            [("done", "2fa_line", None, ("L9",))],
        ),
        # L9: an unregistered line gets the line error.
        (
            {"route": RouteFacts("CAF0000000000", "east")},
            [("refused", "line_not_registered", None, ("L9",))],
        ),
        # L9: West Japan, first access: the notice, then no 2FA.
        (
            {"route": RouteFacts(LINE, "west")},
            [
                ("line_notice", "line_west_first_access", None, ("L9",)),
                ("done", "2fa_line", None, ("L9",)),
            ],
        ),
        # L9: West Japan, already answered "notify": no notice.
        ({"route": RouteFacts(WEST_ASKED, "west")}, [("done", "2fa_line", None, ("L9",))]),
        # L9: West Japan, "do not notify": refused.
        (
            {"route": RouteFacts(WEST_DECLINED, "west")},
            [("refused", "line_notification_declined", None, ("L9",))],
        ),
        # L9, O1: on a line, the relying party's 2FA acr still asks for the second factor.
        (
            {"route": RouteFacts(LINE, "east"), "request": RequestFacts(requested_acr=ACR_2FA)},
            [("second_factor", "2fa_acr_requested", "challenge", ("L3", "O1", "L6"))],
        ),
        # A1: line-only refuses the internet.
        (
            {"contract": {"access_route": AccessRoute.LINE_ONLY}},
            [("refused", "route_line_only", None, ("A1",))],
        ),
        # A4: line-only reads 2FA as off; the line passes.
        (
            {"contract": {"access_route": AccessRoute.LINE_ONLY}, "route": RouteFacts(LINE)},
            [("done", "2fa_off_line_only", None, ("A4",))],
        ),
        # A3: the contractor reaches the account menu from the internet even in line-only.
        (
            {
                "user": {"role": Role.CONTRACTOR},
                "contract": {"access_route": AccessRoute.LINE_ONLY},
                "request": RequestFacts(Target.ACCOUNT_MENU),
            },
            [("done", "2fa_off_line_only", None, ("A4",))],
        ),
        (
            {
                "user": {"role": Role.ADMIN},
                "contract": {"access_route": AccessRoute.LINE_ONLY},
                "request": RequestFacts(Target.ACCOUNT_MENU),
            },
            [("refused", "route_line_only", None, ("A1",))],
        ),
        # K1: a locked password account is refused before its password is checked, and
        # before anything else (the contract's end included).
        (
            {"user": {"is_locked": True}, "contract": {"state": _trial(60)}},
            [("refused", "locked", None, ("K1",))],
        ),
        ({"user": {"failed_logins": 10}}, [("refused", "locked", None, ("K1",))]),
        ({"user": {"failed_logins": 9}, "browser": REMEMBERED}, [DONE_REMEMBERED]),
        # L10: an invited user has no password until registering; nor, until a reset (K3),
        # an account whose password a "this was not me" revert cleared. The login audits a
        # wrong password.
        (
            {"user": {"has_password": False, "is_invited": True}},
            [("refused", "wrong_password", "invitation_pending", ("L10",))],
        ),
        (
            {"user": {"has_password": False}},
            [("refused", "wrong_password", "no_password", ("K3",))],
        ),
        (
            {"user": {"has_password": False, "is_invited": True, "is_locked": True}},
            [("refused", "locked", None, ("K1",))],
        ),
        # X6: a locked upstream user (a "this was not me" revert) is refused after the route.
        (
            {"user": {"login_method": LoginMethod.GOOGLE, "is_locked": True}},
            [("refused", "locked", None, ("X6",))],
        ),
        (
            {
                "user": {"login_method": LoginMethod.GOOGLE, "is_locked": True},
                "contract": {"access_route": AccessRoute.LINE_ONLY},
            },
            [("refused", "route_line_only", None, ("A1",))],
        ),
        # L7: an upstream user is never asked for our factor.
        (
            {"user": {"login_method": LoginMethod.MICROSOFT}},
            [("done", "2fa_upstream", None, ("L7",))],
        ),
        # L7, O1: asked for two factors, the upstream must report them.
        (
            {
                "user": {"login_method": LoginMethod.AD},
                "request": RequestFacts(requested_acr=ACR_2FA),
            },
            [
                ("upstream_mfa", "acr_unmet", None, ("L7", "O1")),
                ("done", "2fa_upstream", None, ("L7",)),
            ],
        ),
        # L7, L9: the upstream's answer comes at its callback, before the West Japan notice.
        (
            {
                "user": {"login_method": LoginMethod.FACEBOOK},
                "route": RouteFacts(LINE, "west"),
                "request": RequestFacts(requested_acr=ACR_2FA),
            },
            [
                ("upstream_mfa", "acr_unmet", None, ("L7", "O1")),
                ("line_notice", "line_west_first_access", None, ("L9",)),
                ("done", "2fa_upstream", None, ("L7",)),
            ],
        ),
        # C3: a cancelled contract refuses everyone.
        (
            {"contract": {"state": ContractState(Plan.BASIC, ContractStatus.CANCELLED, None)}},
            [("refused", "contract_inactive", None, ("C3",))],
        ),
        # C1: a trial: running, ended, closed.
        ({"contract": {"state": _trial(29)}, "browser": REMEMBERED}, [DONE_REMEMBERED]),
        (
            {"contract": {"state": _trial(31)}},
            [("refused", "trial_ended", None, ("C1",))],
        ),
        (
            {"contract": {"state": _trial(31)}, "request": RequestFacts(Target.ACCOUNT_MENU)},
            [("refused", "trial_ended", None, ("C1",))],
        ),
        (
            {
                "user": {"role": Role.CONTRACTOR},
                "contract": {"state": _trial(31)},
                "request": RequestFacts(Target.ACCOUNT_MENU),
                "browser": REMEMBERED,
            },
            [DONE_REMEMBERED],
        ),
        (
            {
                "user": {"role": Role.CONTRACTOR},
                "contract": {"state": _trial(46)},
                "request": RequestFacts(Target.ACCOUNT_MENU),
            },
            [("refused", "contract_closed", None, ("C1",))],
        ),
        # C1 before the route: an ended trial is the reason even on an unregistered line.
        (
            {"contract": {"state": _trial(31)}, "route": RouteFacts("CAF0000000000")},
            [("refused", "trial_ended", None, ("C1",))],
        ),
    ],
)
def test_X3_what_if_table(case, expected):
    steps = steps_of(**case)
    assert steps[: len(expected)] == expected


def test_X3_the_first_step_names_how_the_user_identifies():
    for method, rule in [
        (LoginMethod.PASSWORD, "L2"),
        (LoginMethod.FACEBOOK, "L7"),
        (LoginMethod.DACCOUNT, "L7"),
        (LoginMethod.AD, "L8"),
    ]:
        first = what_if(
            replace(USER, login_method=method),
            CONTRACT,
            INTERNET,
            NEW,
            RequestFacts(),
            NOW,
        )[0]
        assert (first.name, first.detail, first.rules) == ("identify", method, (rule,))


@pytest.mark.parametrize(
    ("area", "notification", "decision"),
    [
        ("east", None, ALLOW),
        (None, None, ALLOW),
        ("west", None, need("line_notice", "line_west_first_access")),
        ("west", "notify", ALLOW),
        ("west", "do_not_notify", deny("line_notification_declined")),
    ],
)
def test_L9_line_notice_rule(area, notification, decision):
    assert line_notice_decision(area, notification) == decision


@pytest.mark.parametrize(
    ("locked", "method", "by_password", "refused"),
    [
        (False, LoginMethod.PASSWORD, True, False),
        (True, LoginMethod.PASSWORD, True, True),
        # K1: a session or refresh from before a lock goes on.
        (True, LoginMethod.PASSWORD, False, False),
        # X6: a locked upstream user is refused at every sign-in.
        (True, LoginMethod.GOOGLE, False, True),
        (False, LoginMethod.GOOGLE, False, False),
    ],
)
def test_K1_X6_sign_in_lock_rule(locked, method, by_password, refused):
    assert is_sign_in_locked(locked, method, by_password) is refused


@pytest.mark.parametrize(
    ("complete", "kinds", "mode"),
    [
        (True, ("sms",), "challenge"),
        (True, ("totp", "passkey"), "challenge"),
        (True, ("passkey",), "enroll"),
        (True, (), "enroll"),
        (False, ("sms",), "enroll"),
    ],
)
def test_L4_L6_enroll_or_challenge(complete, kinds, mode):
    assert second_factor_mode(complete, kinds) == mode


def _sign_in(**values):
    base = dict(
        contract=CONTRACT.state,
        access_route=AccessRoute.LINE_AND_INTERNET,
        lines={LINE: None},
        role=Role.USER,
        login_method=LoginMethod.PASSWORD,
        is_locked=False,
        target=Target.FRONTEND,
    )
    return SignInContext(**{**base, **values})


@pytest.mark.parametrize(
    ("values", "decision"),
    [
        ({}, ALLOW),
        ({"target": Target.ACCOUNT_MENU}, ALLOW),
        ({"line_number": LINE, "line_area": "west"}, need("line_notice", "line_west_first_access")),
        # K1 comes after the route: the route's refusal is the one reported.
        (
            {"is_locked": True, "is_by_password": True, "line_number": "CAF0000000000"},
            deny("line_not_registered"),
        ),
        ({"is_locked": True, "is_by_password": True}, deny("locked")),
        ({"is_locked": True}, ALLOW),
    ],
)
def test_O2_policies_step_order(values, decision):
    assert check_sign_in(_sign_in(**values), NOW) == decision


def test_X3_allow_because_is_allowed_with_its_reason():
    decision = allow_because("2fa_off")
    assert decision.is_allowed and decision.reason == "2fa_off"


@pytest.mark.parametrize(
    ("reason", "rules"),
    [
        ("wrong_password", ("L2", "K1")),
        ("route_line_only", ("A1",)),
        ("upstream_x", ()),
        (None, ()),
    ],
)
def test_X3_rules_behind_a_reason(reason, rules):
    assert rules_of(reason) == rules
