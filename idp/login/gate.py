"""The policies step (DESIGN.md step 3, O2): the one gate every sign-in passes after it is
identified, in order — contract state and plan (C1, C3), a disabled account (G4), access
route (A1, A3, L9), the lock (K1), permission for the target (U2), then the second-factor
decision (L3, L7). The rules and their order are the pure functions of ``policies/``
(``policies.sign_in``, which the "what if" view of X3 composes too); this module gathers
their data and acts on the answer.

``check_policies`` (contract, route, U2) is also what a reused session (``/authorize``) and
every refresh (O2) are checked against; a session's route is re-checked at refresh and
introspection (X5) by ``session_route_still_valid``.

The lock guards password entry first: the identify step refuses a locked account before its
password is checked (idp/login/identify.py), and sessions and tokens from before a lock go on
(a lock caused by someone guessing must not sign the real user out). The gate states K1 again
for the password sign-in it admits, so that no path reaches the second factor locked. An
account whose method is an upstream is locked only by a "this was not me" revert (X6), which
refuses every sign-in until the password reset."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import render_template
from werkzeug.wrappers import Response

from idp import audit
from idp.contracts.contract import contract_state
from idp.login.refusal import deny_with
from idp.login.transaction import Transaction
from idp.models import Contract
from idp.models import LineNumber
from idp.models import User
from idp.models import db
from idp.twofactor.remembered import aware
from idp.twofactor.remembered import find_remembered
from idp.twofactor.remembered import touch
from idp.vocabulary import AccessRoute
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role
from idp.vocabulary import Target
from policies.access_route import is_session_route_still_valid
from policies.assurance import acr_for
from policies.assurance import is_acr_met
from policies.assurance import is_password_sign_in
from policies.assurance import requested_acr
from policies.decision import Decision
from policies.decision import deny
from policies.sign_in import SignInContext
from policies.sign_in import check_sign_in
from policies.two_factor import TwoFactorContext
from policies.two_factor import two_factor_decision

INTERNET: dict[str, Any] = {"kind": "internet"}


def _line_of(route: dict[str, Any]) -> str | None:
    return route.get("line") if route.get("kind") == "line" else None


def _lines_for(contract_id: str, line: str | None) -> dict[str, str | None]:
    """What the route rule needs of the contract's lines (A2, L9): only whether the sign-in's
    own line is registered, with its L9 choice; an internet sign-in needs none (no query)."""
    if line is None:
        return {}
    row = db.session.get(LineNumber, (contract_id, line))
    return {} if row is None else {row.number: row.notification}


def check_policies(
    user: User,
    target: str,
    route: dict[str, Any] | None = None,
    *,
    by_password: bool = False,
    contract: Contract | None = None,
) -> Decision:
    """Contract state (C1, C3), access route (A1, A3, L9), the lock for a password sign-in
    (K1) and permission for the target (U2), in that order (``policies.sign_in``): the first
    refusal wins; a step that is needed (the L9 notice) is returned once everything else
    allows.

    :param target: ``frontend`` or ``account`` (:class:`idp.vocabulary.Target`): after a
        trial the contractor still reaches the account menu for 15 days (C1).
    :param by_password: the sign-in being admitted was by password (K1 applies).
    :param contract: the user's contract when the caller has it already (read once).
    """
    contract = contract or db.session.get(Contract, user.contract_id)
    if contract is None:
        return deny("contract_missing")
    route = route or INTERNET
    line = _line_of(route)
    context = SignInContext(
        contract=contract_state(contract),
        access_route=AccessRoute(contract.access_route),
        lines=_lines_for(contract.id, line),
        role=Role(user.role),
        login_method=LoginMethod(user.login_method),
        is_locked=user.locked_at is not None,
        is_disabled=user.disabled_at is not None,
        target=Target(target),
        line_number=line,
        line_area=route.get("area"),
        is_by_password=by_password,
    )
    return check_sign_in(context, datetime.now(UTC))


def session_route_still_valid(user: User, route: dict[str, Any] | None) -> bool:
    """X5: re-checked at every refresh and introspection."""
    contract = db.session.get(Contract, user.contract_id)
    if contract is None:
        return False
    line = _line_of(route or INTERNET)
    return is_session_route_still_valid(
        AccessRoute(contract.access_route), line, frozenset(_lines_for(contract.id, line))
    )


def second_factor_decision(
    user: User,
    route: dict[str, Any],
    acr_values: tuple[str, ...],
    contract: Contract | None = None,
) -> Decision:
    """L3 through ``policies.two_factor``: gathers the plain data the rule needs. A remembered
    browser that counts is touched (its 30 days restart).

    :param contract: the user's contract when the caller has it already (read once)."""
    contract = contract or db.session.get(Contract, user.contract_id)
    record = find_remembered(user.id)
    enabled_at = contract.two_factor_enabled_at if contract else None
    context = TwoFactorContext(
        contract_two_factor=bool(contract and contract.two_factor),
        access_route=AccessRoute(contract.access_route)
        if contract
        else AccessRoute.LINE_AND_INTERNET,
        login_method=LoginMethod(user.login_method),
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


def admit(
    tx: Transaction, user: User, amr: list[str], contract: Contract | None = None
) -> Response | None:
    """Run the policies step for an identified ``user`` whose sign-in gave ``amr``.

    :param contract: the user's contract when the identify step read it with the user.

    :returns: the refusal (a page, or an OAuth error at the relying party), or None when the
        user is admitted: the transaction then holds the user, ``amr`` and the steps still
        needed (L9 notice, second factor), with identify and policies achieved; the caller
        saves it and redirects to the next step.
    """
    by_password = is_password_sign_in(amr)
    # Read once for both decisions (the identity map holds it only while referenced).
    contract = contract or db.session.get(Contract, user.contract_id)
    decision = check_policies(user, tx.target, tx.route, by_password=by_password, contract=contract)
    if decision.outcome == "deny":
        audit.record(
            "login",
            "refused",
            decision.reason,
            user_id=user.id,
            contract_id=user.contract_id,
            details={"route": tx.route, "method": user.login_method},
        )
        page = render_template("login/refused.html", reason=decision.reason)
        return Response(page, 403, mimetype="text/html")
    tx.needs_line_notice = decision.step == "line_notice"
    wanted = requested_acr(tx.params.get("acr_values"), tx.params.get("claims"))
    if by_password:
        second = second_factor_decision(user, tx.route, wanted, contract)
        tx.needs_second_factor = not second.is_allowed
        if second.reason:
            audit.record(
                "second_factor",
                "info",
                second.reason,
                user_id=user.id,
                contract_id=user.contract_id,
            )
    elif not is_acr_met(wanted, acr_for(amr)):
        # Brokered users verify upstream (L7); we cannot add a factor of ours to theirs.
        audit.record(
            "login", "refused", "acr_unmet", user_id=user.id, details={"method": user.login_method}
        )
        return deny_with(
            tx,
            OAuth2Error(
                "two factors were asked for; the upstream sign-in gave one",
                error="unmet_authentication_requirements",
            ),
        )
    tx.user_id = user.id
    tx.amr = amr
    tx.achieve("identify")
    tx.achieve("policies")
    return None
