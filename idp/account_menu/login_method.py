"""M1, M3–M5: the basic contractor changes their own login method in the account menu
(sensitive: a fresh sign-in first, as for every such item).

The page shows the current method (M3) and the methods the contractor may choose (never
Active Directory; a POST choosing it is refused here and by the domain). A password: the
password and its confirmation under the P2 rule shown → a confirmation screen (method and
email, the password not shown; its hash waits in the ephemeral store, bound to this
session) → done, everyone signed out → the login page (M4). An upstream: the broker flow
(the upstream is asked to let the person choose the account; the page advises signing out
there first) → done (M5). The old method works until the new one is bound.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from brokers.base import BrokeredIdentity
from idp import extensions
from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import forbidden
from idp.account_menu.guard import may_use
from idp.account_menu.guard import menu_item
from idp.account_menu.guard import signed_in_person
from idp.actor import Actor
from idp.i18n import follow_account_locale
from idp.i18n import gettext as _
from idp.i18n import select_locale
from idp.links.method_change import STEP_CONFIRM
from idp.links.method_change import STEP_PASSWORD
from idp.links.method_change import STEP_UPSTREAM
from idp.links.method_change import choice_errors
from idp.links.method_change import choices
from idp.links.method_change import method_labels
from idp.links.method_change import refusal_page
from idp.links.method_change import send_browser_upstream
from idp.links.reset import MAX_PASSWORD_FIELD
from idp.login.brokered import CALLBACK_PURPOSES
from idp.login.brokered import configured_broker
from idp.login.transaction import Transaction
from idp.sso import clear_session_cookie
from idp.users.login_method import MethodChangeError
from idp.users.login_method import binding_refusal
from idp.users.login_method import change_to_password
from idp.users.login_method import change_to_upstream
from idp.users.login_method import hash_new_password
from idp.vocabulary import LoginMethod
from idp.vocabulary import MenuItem

ENDPOINTS[MenuItem.LOGIN_METHOD] = "account_menu.login_method"

#: ``tx.data["broker"]["purpose"]`` of a change through an upstream from the menu.
PURPOSE = "account_method"
#: The new password's hash between the form and the confirmation, per session (by ``sid``).
STAGED_PREFIX = "method-password:"
#: How long the confirmation screen may wait (the fresh sign-in is shorter anyway).
STAGED_TTL = 15 * 60


def _choice_page(person: Person, errors: dict[str, list[str]], status: int) -> BaseResponse:
    """The choices; ``errors`` by field: ``password``, or ``method`` (the other choices)."""
    page = render_template(
        "account/login_method.html", user=person.user, errors=errors, **choices(person.user)
    )
    return Response(page, status)


def _done(method: str, upstream_email: str | None = None) -> BaseResponse:
    """M4: done; this browser's session ended with every other one, so the page leads to
    the login page."""
    page = render_template(
        "account/login_method_done.html",
        user=None,  # signed out: the band no longer names anyone
        method=method,
        upstream_email=upstream_email,
        labels=method_labels(),
    )
    response = Response(page)
    clear_session_cookie(response)
    return response


@bp.route("/account/login-method", methods=["GET", "POST"])
@menu_item(MenuItem.LOGIN_METHOD)
def login_method(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _choice_page(person, {}, 200)
    step = request.form.get("step", "")
    if step == STEP_CONFIRM:
        return _confirm(person)
    errors = choice_errors(person.user, request.form)
    if errors:
        return _choice_page(person, errors, 400)
    if step == STEP_UPSTREAM:
        broker = configured_broker(request.form.get("provider", ""))
        assert broker is not None  # choice_errors() let only a configured upstream through
        extra = {"purpose": PURPOSE, "user_id": person.user.id}
        return send_browser_upstream(person.user, broker, extra, select_locale())
    if step != STEP_PASSWORD:
        # M3: Active Directory is offered to users by link only, never to the contractor.
        return _choice_page(person, {"method": [_("Choose how you will sign in.")]}, 400)
    try:
        password_hash = hash_new_password(
            person.user, request.form.get("password", "")[:MAX_PASSWORD_FIELD]
        )
    except MethodChangeError:
        return _choice_page(person, {"method": [_("Choose how you will sign in.")]}, 400)
    staged = {"password_hash": password_hash, "state_version": person.user.state_version}
    extensions.store().set_json(STAGED_PREFIX + person.session.sid, staged, STAGED_TTL)
    page = render_template(
        "account/login_method_confirm.html", user=person.user, labels=method_labels()
    )
    return Response(page)


def _confirm(person: Person) -> BaseResponse:
    """The confirmation's POST: the staged hash is taken once (of two parallel POSTs one
    changes the method), for this account as it was when staged."""
    staged = extensions.store().pop_json(STAGED_PREFIX + person.session.sid)
    if not staged or staged.get("state_version") != person.user.state_version:
        return _choice_page(person, {"password": [_("Enter your password first.")]}, 400)
    actor = Actor.user(person.user.id, person.user.contract_id)
    try:
        change_to_password(actor, person.user, str(staged["password_hash"]))
    except MethodChangeError:
        return _choice_page(person, {"method": [_("The login method could not be changed.")]}, 400)
    return _done(LoginMethod.PASSWORD.value)


def bound_from_menu(
    tx: Transaction, identity: BrokeredIdentity, kept: dict[str, Any]
) -> BaseResponse:
    """The upstream's callback for a change from the menu: still the same person, signed in
    (the menu's guard, again: U2 may have changed meanwhile); then bind, or say why not
    (nothing changed, the old method still works)."""
    tx.close()
    person = signed_in_person()
    if person is None or person.user.id != kept.get("user_id"):
        return forbidden("not_signed_in")
    if not may_use(MenuItem.LOGIN_METHOD, person):
        return forbidden("not_permitted")
    follow_account_locale(person.user.locale)
    args = (identity.provider, identity.issuer, identity.subject)
    refusal = binding_refusal(person.user, *args)
    if refusal is not None:
        return refusal_page(person.user, identity, refusal, url_for("account_menu.login_method"))
    actor = Actor.user(person.user.id, person.user.contract_id)
    try:
        change_to_upstream(actor, person.user, *args, email=identity.email)
    except MethodChangeError as error:
        if error.reason in ("identity_taken", "facebook_rebind"):
            return refusal_page(
                person.user, identity, error.reason, url_for("account_menu.login_method")
            )
        return forbidden(error.reason)
    return _done(identity.provider, identity.email)


CALLBACK_PURPOSES[PURPOSE] = bound_from_menu
