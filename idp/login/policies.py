"""Policies step: contract state and plan (and, with their issues, access route and target
permission), applied after every identification, on every reuse of a session and at every
refresh (DESIGN.md step 3, O2).

The lock (K1) guards password entry and is applied by the identify step: it stops new
sign-ins, while sessions and tokens from before the lock go on (a lock caused by someone
guessing must not sign the real user out)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from idp.models import Contract
from idp.models import LineNumber
from idp.models import User
from idp.models import db
from idp.twofactor.remembered import aware
from idp.twofactor.remembered import find_remembered
from idp.twofactor.remembered import touch
from idp.vocabulary import AccessRoute
from idp.vocabulary import ContractStatus
from idp.vocabulary import Plan
from idp.vocabulary import Role
from idp.vocabulary import Target
from policies.access_route import RouteContext
from policies.access_route import is_session_route_still_valid
from policies.access_route import route_decision
from policies.contract import ContractState
from policies.contract import check_contract
from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.decision import need
from policies.two_factor import TwoFactorContext
from policies.two_factor import two_factor_decision


def registered_lines(contract_id: str) -> frozenset[str]:
    rows = db.session.query(LineNumber.number).filter_by(contract_id=contract_id).all()
    return frozenset(number for (number,) in rows)


def apply_policies(user: User, target: str, route: dict[str, Any] | None = None) -> Decision:
    """Contract state (C1, C3), then the access route (A1, L9, A3) of the sign-in's ``route``.

    :param target: ``frontend`` or ``account`` (:class:`idp.vocabulary.Target`): after a
        trial the contractor still reaches the account menu for 15 days (C1).
    """
    now = datetime.now(UTC)
    contract = db.session.get(Contract, user.contract_id)
    if contract is None:
        return deny("contract_missing")
    started = contract.trial_started_at
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    state = ContractState(Plan(contract.plan), ContractStatus(contract.status), started)
    decision = check_contract(state, Role(user.role), Target(target), now)
    if not decision.is_allowed:
        return decision
    route = route or {"kind": "internet"}
    line = route.get("line") if route.get("kind") == "line" else None
    decision = route_decision(
        RouteContext(
            access_route=contract.access_route,
            line_number=line,
            registered_lines=registered_lines(contract.id),
            role=user.role,
            target=target,
        )
    )
    if not decision.is_allowed or line is None or route.get("area") != "west":
        return decision
    # L9: West Japan lines pass the notification screen once; "do not notify" closes them.
    row = db.session.get(LineNumber, (contract.id, line))
    if row is not None and row.notification == "do_not_notify":
        return deny("line_notification_declined")
    if row is not None and row.notification is None:
        return need("line_notice", "line_west_first_access")
    return ALLOW


def session_route_still_valid(user: User, route: dict[str, Any] | None) -> bool:
    """X5: re-checked at every refresh and introspection."""
    contract = db.session.get(Contract, user.contract_id)
    if contract is None:
        return False
    route = route or {"kind": "internet"}
    line = route.get("line") if route.get("kind") == "line" else None
    return is_session_route_still_valid(contract.access_route, line, registered_lines(contract.id))


def second_factor_decision(
    user: User, route: dict[str, object], acr_values: tuple[str, ...]
) -> Decision:
    """L3 through ``policies.two_factor``: gathers the plain data the rule needs. A remembered
    browser that counts is touched (its 30 days restart)."""
    contract = db.session.get(Contract, user.contract_id)
    record = find_remembered(user.id)
    enabled_at = contract.two_factor_enabled_at if contract else None
    context = TwoFactorContext(
        contract_two_factor=bool(contract and contract.two_factor),
        access_route=contract.access_route if contract else AccessRoute.LINE_AND_INTERNET,
        login_method=user.login_method,
        via_line=route.get("kind") == "line",
        remembered_at=aware(record.created_at) if record else None,
        remembered_last_used=aware(record.last_used_at) if record else None,
        two_factor_enabled_at=aware(enabled_at) if enabled_at else None,
        requested_acr=acr_values,
    )
    decision = two_factor_decision(context, datetime.now(UTC))
    if decision.is_allowed and record is not None:
        touch(record)
    return decision
