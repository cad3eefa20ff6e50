"""O2: the policies step of a sign-in (DESIGN.md, The login transaction, step 3) — the rules
every identified sign-in passes, in their order: contract state and plan (C1, C3), a
disabled account (G4), access route (A1, A3, L9), the lock (K1, X6), permission for the
target (U2).

One composition for the live gate (idp/login/gate.py) and the "what if" view
(``policies/what_if.py``, X3), so that the two cannot disagree on the order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from policies.access_route import RouteContext
from policies.access_route import line_notice_decision
from policies.access_route import route_decision
from policies.contract import check_contract
from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.lockout import is_sign_in_locked
from policies.permissions import check_permission
from policies.plan import ContractState
from policies.vocabulary import AccessRoute
from policies.vocabulary import LoginMethod
from policies.vocabulary import MenuItem
from policies.vocabulary import Role
from policies.vocabulary import Target


@dataclass(frozen=True)
class SignInContext:
    """What the policies step knows of one identified sign-in."""

    contract: ContractState
    access_route: AccessRoute
    #: The contract's registered lines, each with its L9 notification choice (``notify``,
    #: ``do_not_notify``, or None when not asked yet).
    lines: Mapping[str, str | None]
    role: Role
    login_method: LoginMethod
    is_locked: bool
    target: Target
    #: The line the sign-in came through (verified gateway headers), or None (internet).
    line_number: str | None = None
    #: The gateway's area of that line (``east`` or ``west``).
    line_area: str | None = None
    #: The sign-in being admitted was by password (K1 applies to it).
    is_by_password: bool = False
    #: An administrator disabled the account (G4): no sign-in passes.
    is_disabled: bool = False


def route_answer(ctx: SignInContext) -> Decision:
    """A1, A3, L9: the route the sign-in came by; a West Japan line passes the notification
    screen once, and "do not notify" closes it (L9)."""
    decision = route_decision(
        RouteContext(
            access_route=ctx.access_route,
            line_number=ctx.line_number,
            registered_lines=frozenset(ctx.lines),
            role=ctx.role,
            target=ctx.target,
        )
    )
    if not decision.is_allowed or ctx.line_number is None:
        return decision
    return line_notice_decision(ctx.line_area, ctx.lines[ctx.line_number])


def check_sign_in(ctx: SignInContext, now: datetime) -> Decision:
    """Contract state (C1, C3), a disabled account (G4), access route (A1, A3, L9), the lock
    (K1, X6) and permission for the target (U2), in that order: the first refusal wins; a
    step that is needed (the L9 notice) is returned once everything else allows."""
    decision = check_contract(ctx.contract, ctx.role, ctx.target, now)
    if not decision.is_allowed:
        return decision
    if ctx.is_disabled:
        return deny("disabled")
    route = route_answer(ctx)
    if route.outcome == "deny":
        return route
    if is_sign_in_locked(ctx.is_locked, ctx.login_method, ctx.is_by_password):
        return deny("locked")
    # U2: the account menu's sign-in needs its "to top" item. Once the contract allows the
    # sign-in, U2 allows it to everyone today; it stays here so that the table decides.
    permission = (
        check_permission(MenuItem.TOP, ctx.role, ctx.contract, now)
        if ctx.target == Target.ACCOUNT_MENU
        else ALLOW
    )
    return permission if permission.outcome == "deny" else route
