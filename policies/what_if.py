"""X3: "what if" — for a user, a route and a browser state, which steps a sign-in would need
and why, each with its SPEC rule and the reason code the live login would audit.

Nothing here decides anew: it composes the functions the live login calls, in the login's
order (DESIGN.md, The login transaction) — the lock before the password is checked
(``lockout.may_attempt``, K1), the policies step (``sign_in.check_sign_in``: C1, C3, A1, A3,
L9, K1/X6, U2), then the second factor for a password sign-in (``two_factor``: L3, L4, L6) or
the relying party's ``acr`` for an upstream one (``assurance``: L7). A test compares the
answer with what the live login does on many generated cases (tests/test_what_if_live.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Literal

from policies.assurance import acr_for
from policies.assurance import amr_for_upstream
from policies.assurance import is_acr_met
from policies.decision import Decision
from policies.lockout import may_attempt
from policies.plan import ContractState
from policies.reasons import REASON_RULES
from policies.reasons import rules_of
from policies.sign_in import SignInContext
from policies.sign_in import check_sign_in
from policies.two_factor import TwoFactorContext
from policies.two_factor import explain_two_factor
from policies.two_factor import second_factor_mode
from policies.vocabulary import AccessRoute
from policies.vocabulary import LoginMethod
from policies.vocabulary import Role
from policies.vocabulary import Target

StepName = Literal["identify", "refused", "line_notice", "second_factor", "upstream_mfa", "done"]

#: The rule of each way of identifying (L2 password, L7 upstreams, L8 Active Directory).
IDENTIFY_RULES: Mapping[LoginMethod, str] = {
    LoginMethod.PASSWORD: "L2",
    LoginMethod.GOOGLE: "L7",
    LoginMethod.FACEBOOK: "L7",
    LoginMethod.MICROSOFT: "L7",
    LoginMethod.DACCOUNT: "L7",
    LoginMethod.AD: "L8",
}
#: The rule of each second-factor mode: enrollment (SMS first, L4) or the challenge (L6).
MODE_RULES: Mapping[str, str] = {"enroll": "L4", "challenge": "L6"}


@dataclass(frozen=True)
class UserFacts:
    login_method: LoginMethod
    role: Role
    is_locked: bool
    #: Consecutive wrong passwords so far (K1).
    failed_logins: int = 0
    #: The 2FA enrollment was completed (the recovery code confirmed, L4).
    is_two_factor_enrolled: bool = False
    #: The enrolled factors' kinds in the order enrolled (``sms``, ``totp``, ``passkey``).
    factor_kinds: tuple[str, ...] = ()
    #: A password is set (an invited user has none until registering, L10; a "this was not
    #: me" revert clears it until a reset, X6, K3).
    has_password: bool = True
    #: Invited and not registered yet (L10).
    is_invited: bool = False
    #: Disabled by an administrator (G4).
    is_disabled: bool = False


@dataclass(frozen=True)
class ContractFacts:
    state: ContractState
    two_factor: bool
    #: When 2FA was last turned on (browsers remembered before do not count, T1).
    two_factor_enabled_at: datetime | None
    access_route: AccessRoute
    #: Registered lines (A2), each with its L9 notification choice (None: not asked yet).
    lines: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteFacts:
    """The internet (``line_number`` None), or a line through the gateway and its area."""

    line_number: str | None = None
    area: str = "east"


@dataclass(frozen=True)
class BrowserFacts:
    """A new browser (both None), or one remembered for this user and when (L3, X2)."""

    remembered_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class RequestFacts:
    """What is being signed in to and what the relying party asked for."""

    target: Target = Target.FRONTEND
    #: ``acr_values`` as the relying party sent them, in its order.
    requested_acr: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One step of the sign-in.

    - ``identify``: ``detail`` is the login method;
    - ``refused``: ``reason`` is the code the login audits; ``detail`` ``invitation_pending``
      or ``no_password`` when no password can be right yet;
    - ``line_notice``: the L9 West Japan screen;
    - ``second_factor``: ``detail`` ``enroll`` or ``challenge``, ``reason`` the audited L3 code;
    - ``upstream_mfa``: the relying party asked for two factors; the upstream must report
      them, or the sign-in is refused with ``reason`` (``acr_unmet``);
    - ``done``: the code is issued; ``reason`` says why no second factor of ours was needed
      (not audited: nothing was asked).
    """

    name: StepName
    rules: tuple[str, ...]
    reason: str | None = None
    detail: str | None = None


def _because(name: StepName, decision: Decision, detail: str | None = None) -> Step:
    return Step(name, rules_of(decision.reason), decision.reason, detail)


def what_if(
    user: UserFacts,
    contract: ContractFacts,
    route: RouteFacts,
    browser: BrowserFacts,
    request: RequestFacts,
    now: datetime,
) -> tuple[Step, ...]:
    """The steps of a sign-in of ``user`` by their login method, in order; it ends with
    ``refused`` or ``done``."""
    by_password = user.login_method == LoginMethod.PASSWORD
    identify = Step("identify", (IDENTIFY_RULES[user.login_method],), detail=str(user.login_method))
    if by_password and not may_attempt(user.failed_logins, user.is_locked):
        # K1: a locked account's password is not even checked.
        return identify, Step("refused", ("K1",), "locked")
    if by_password and not user.has_password:
        # Any password is wrong until the invitation's registration (L10) or a reset (K3)
        # sets one; the login audits it as a wrong password.
        if user.is_invited:
            return identify, Step("refused", ("L10",), "wrong_password", "invitation_pending")
        return identify, Step("refused", ("K3",), "wrong_password", "no_password")
    gate = check_sign_in(
        SignInContext(
            contract=contract.state,
            access_route=contract.access_route,
            lines=contract.lines,
            role=user.role,
            login_method=user.login_method,
            is_locked=user.is_locked,
            target=request.target,
            line_number=route.line_number,
            line_area=route.area,
            is_by_password=by_password,
            is_disabled=user.is_disabled,
        ),
        now,
    )
    if gate.outcome == "deny" and gate.reason == "locked":
        # Past the password's own check, only an upstream user is refused as locked: locked
        # by a "this was not me" revert (X6).
        return identify, Step("refused", ("X6",), "locked")
    if gate.outcome == "deny":
        return identify, _because("refused", gate)
    steps = [identify]
    if not by_password and not is_acr_met(request.requested_acr, acr_for(amr_for_upstream(()))):
        # L7: our factor cannot be added to an upstream's; the upstream's amr decides, at
        # once when the upstream answers (before the L9 notice).
        steps.append(Step("upstream_mfa", REASON_RULES["acr_unmet"], "acr_unmet"))
    if gate.step == "line_notice":
        steps.append(_because("line_notice", gate))
    second = explain_two_factor(
        TwoFactorContext(
            contract_two_factor=contract.two_factor,
            access_route=contract.access_route,
            login_method=user.login_method,
            via_line=route.line_number is not None,
            remembered_at=browser.remembered_at,
            remembered_last_used=browser.last_used_at,
            two_factor_enabled_at=contract.two_factor_enabled_at,
            requested_acr=request.requested_acr,
        ),
        now,
    )
    if not second.is_allowed:
        mode = second_factor_mode(user.is_two_factor_enrolled, user.factor_kinds)
        step = _because("second_factor", second, mode)
        steps.append(Step(step.name, (*step.rules, MODE_RULES[mode]), step.reason, mode))
        return (*steps, Step("done", ("O2",)))
    return (*steps, _because("done", second))
