"""G1, G8: the admin console's guard, ``@console_page()`` on every view.

On each request it finds the signed-in person (the browser's SSO session, opened by the
account menu's sign-in through the login transaction, with every policy of the contract:
2FA, route), and checks G1 through ``policies.console.check_console_access`` for the
person's role, contract, the session's route and the current time: not signed in → the
sign-in, and back; anyone else → a 403 page that says why. Destructive operations
(``destructive=True``) ask for a fresh sign-in as the account menu's sensitive items do.

Every view acts on the person's own contract only (G8): :func:`contract_user` turns another
contract's user id into the 404 page, the same as an unknown id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import is_fresh
from idp.account_menu.sessions import shown_time
from idp.actor import Actor
from idp.contracts.contract import contract_state
from idp.contracts.lines import list_lines
from idp.errors import NotFoundError
from idp.models import Contract
from idp.models import User
from idp.models import db
from idp.sso import SsoSession
from idp.sso import current_session
from idp.sso import touch_session
from idp.users.detail import find_contract_user
from idp.vocabulary import AccessRoute
from idp.vocabulary import Role
from policies.console import check_console_access
from policies.decision import Decision

bp = Blueprint("admin_console", __name__, url_prefix="/admin")


@dataclass(frozen=True)
class Admin:
    """The signed-in contractor or admin of a console request."""

    user: User
    session: SsoSession
    contract: Contract
    now: datetime

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def actor(self) -> Actor:
        """Who the domain functions name in their audit events (an admin of this contract)."""
        return Actor.admin(self.user.id, self.contract.id)

    @property
    def is_contractor(self) -> bool:
        return self.role == Role.CONTRACTOR


def forbidden(reason: str) -> BaseResponse:
    """G1, G8: 403 with a page that says why."""
    return Response(render_template("admin/forbidden.html", reason=reason), 403)


def not_found() -> BaseResponse:
    """G8: what this contract does not hold (another contract's ids included)."""
    return Response(render_template("admin/not_found.html"), 404)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"shown_time": shown_time}


@bp.errorhandler(NotFoundError)
def _not_found(_error: NotFoundError) -> BaseResponse:
    return not_found()


def contract_user(admin: Admin, user_id: str) -> User:
    """G8: ``user_id`` of the admin's contract; ``NotFoundError`` (the 404 page) for any
    other, another contract's user included."""
    return find_contract_user(admin.contract.id, user_id)


def _session_line(session: SsoSession) -> str | None:
    route = session.route or {}
    line = route.get("line") if route.get("kind") == "line" else None
    return line if isinstance(line, str) else None


def console_decision(
    user: User, contract: Contract, session: SsoSession, now: datetime
) -> Decision:
    """G1 for this person, contract and session (the account menu asks it too, to link the
    console only for those who may use it)."""
    return check_console_access(
        Role(user.role),
        contract_state(contract),
        AccessRoute(contract.access_route),
        _session_line(session),
        frozenset(line.number for line in list_lines(contract.id)),
        now,
    )


def _sign_in(reauth: bool) -> BaseResponse:
    """Through the account menu's sign-in (the login transaction), and back to this page.
    A POST comes back to its page (a GET of the same URL shows it, or its confirmation)."""
    values: dict[str, Any] = {"next": request.path}
    if reauth:
        values["reauth"] = "1"
    return redirect(url_for("login.account_login", **values), code=303)


ConsoleView = Callable[..., BaseResponse]


def console_page(
    *, destructive: bool = False
) -> Callable[[ConsoleView], Callable[..., BaseResponse]]:
    """Guard a console view: called as ``view(admin, **url_values)`` when G1 allows it.

    :param destructive: the operation (or its confirmation page) needs a sign-in of the
        last few minutes (the account menu's ``account_fresh_auth_minutes``)."""

    def decorate(view: ConsoleView) -> Callable[..., BaseResponse]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> BaseResponse:
            found = current_session()
            if found is None:
                return _sign_in(reauth=False)
            session, user = found
            contract = db.session.get(Contract, user.contract_id)
            if contract is None:
                return forbidden("contract_missing")
            touch_session(session)  # X2: "last used" in the session list (throttled)
            now = datetime.now(UTC)
            decision = console_decision(user, contract, session, now)
            if not decision.is_allowed:
                return forbidden(decision.reason or "not_admin")
            if destructive and not is_fresh(session):
                return _sign_in(reauth=True)
            return view(Admin(user, session, contract, now), *args, **kwargs)

        return guarded

    return decorate
