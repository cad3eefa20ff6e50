"""The account menu's guard: ``@menu_item(item)`` on every view. On each request it finds
the signed-in person (the browser's SSO session), checks U2 through
``policies.permissions.check_permission`` for the person's role, contract and the current
time, and for a sensitive item asks for a fresh sign-in when the last one is too old."""

from __future__ import annotations

import functools
import time
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

from idp import extensions
from idp.contracts.contract import contract_state
from idp.i18n import gettext as _
from idp.models import Contract
from idp.models import User
from idp.models import db
from idp.sso import SsoSession
from idp.sso import current_session
from idp.sso import touch_session
from idp.vocabulary import LoginMethod
from idp.vocabulary import MenuItem
from idp.vocabulary import Role
from policies.permissions import check_permission
from policies.plan import ContractState

bp = Blueprint("account_menu", __name__)

#: Items that change how a person signs in or what protects the contract: they ask for a
#: fresh sign-in (issue 11: method, email, password, 2FA setting, route, AD), and the
#: cancellation, which ends every session of the contract.
SENSITIVE = frozenset(
    {
        MenuItem.LOGIN_METHOD,
        MenuItem.EMAIL_CHANGE,
        MenuItem.PASSWORD_CHANGE,
        MenuItem.ACCESS_ROUTE,
        MenuItem.TWO_FACTOR,
        MenuItem.AD_SETTING,
        # Destructive: the cancellation ends every session and token of the contract.
        MenuItem.CANCELLATION,
    }
)

#: Each item's view endpoint (registered by its module); the menu links these.
ENDPOINTS: dict[MenuItem, str] = {}


@dataclass(frozen=True)
class Person:
    """The signed-in person of an account-menu request."""

    user: User
    session: SsoSession
    contract: Contract
    state: ContractState
    now: datetime

    @property
    def role(self) -> Role:
        return Role(self.user.role)


def applies_to(item: MenuItem, user: User) -> bool:
    """Beyond U2: P1's password change exists only for method ``password``."""
    return item != MenuItem.PASSWORD_CHANGE or user.login_method == LoginMethod.PASSWORD


def signed_in_person() -> Person | None:
    found = current_session()
    if found is None:
        return None
    session, user = found
    contract = db.session.get(Contract, user.contract_id)
    if contract is None:
        return None
    touch_session(session)  # X2: "last used" in the session list (throttled)
    return Person(user, session, contract, contract_state(contract), datetime.now(UTC))


def forbidden(reason: str) -> BaseResponse:
    """U2: a hidden item's URL answers 403 with a page that says why."""
    return Response(render_template("account/forbidden.html", reason=reason), 403)


def may_use(item: MenuItem, person: Person) -> bool:
    decision = check_permission(item, person.role, person.state, person.now)
    return decision.is_allowed and applies_to(item, person.user)


def is_fresh(session: SsoSession) -> bool:
    """Whether the last sign-in is recent enough for a sensitive item."""
    limit = extensions.settings().account_fresh_auth_minutes * 60
    return time.time() - session.auth_time <= limit


def _reauthenticate() -> BaseResponse:
    """Through the account menu's sign-in, forced (``prompt=login``), and back here."""
    return redirect(url_for("login.account_login", next=request.path, reauth="1"), code=303)


MenuView = Callable[..., BaseResponse]


def menu_item(item: MenuItem) -> Callable[[MenuView], Callable[..., BaseResponse]]:
    """Guard a view of ``item``: called as ``view(person, **url_values)`` when U2 (and P1's
    method rule) allows it; not signed in → the menu's sign-in; not allowed → 403."""

    def decorate(view: MenuView) -> Callable[..., BaseResponse]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> BaseResponse:
            person = signed_in_person()
            if person is None:
                return redirect(url_for("login.account_login"), code=303)
            decision = check_permission(item, person.role, person.state, person.now)
            if not decision.is_allowed:
                return forbidden(decision.reason or "not_permitted")
            if not applies_to(item, person.user):
                return forbidden("not_password_method")
            if item in SENSITIVE and not is_fresh(person.session):
                return _reauthenticate()
            return view(person, *args, **kwargs)

        guarded.__dict__["menu_item"] = item
        return guarded

    return decorate


@bp.app_template_global()
def menu_label(item: MenuItem) -> str:
    """U1's wording of an item, in the page's language."""
    labels = {
        MenuItem.LOGIN_METHOD: _("Login method"),
        MenuItem.EMAIL_CHANGE: _("Email change"),
        MenuItem.PASSWORD_CHANGE: _("Password change"),
        MenuItem.SESSIONS: _("Sessions and browsers"),
        MenuItem.ACCESS_ROUTE: _("Access route"),
        MenuItem.TWO_FACTOR: _("Two-step verification setting"),
        MenuItem.AD_SETTING: _("Active Directory setting"),
        MenuItem.CONTRACT_INFORMATION: _("Contract information"),
        MenuItem.PLAN_CHANGE: _("Plan change"),
        MenuItem.CANCELLATION: _("Cancellation"),
        MenuItem.TOP: _("To top"),
    }
    return labels[item]
