"""P1, P2: password change with the current password (``password`` users only): current,
new and confirmation under the rule the page shows → done → back to the menu."""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.i18n import gettext as _
from idp.links.reset import MAX_PASSWORD_FIELD
from idp.links.reset import password_errors
from idp.sso import set_session_cookie
from idp.users.password_change import PasswordChangeError
from idp.users.password_change import change_password
from idp.vocabulary import MenuItem

ENDPOINTS[MenuItem.PASSWORD_CHANGE] = "account_menu.password_change"


def _page(person: Person, errors: dict[str, list[str]], status: int) -> BaseResponse:
    return Response(
        render_template("account/password.html", user=person.user, errors=errors), status
    )


@bp.route("/account/password", methods=["GET", "POST"])
@menu_item(MenuItem.PASSWORD_CHANGE)
def password_change(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _page(person, {}, 200)
    current = request.form.get("current_password", "")[:MAX_PASSWORD_FIELD]
    new = request.form.get("password", "")[:MAX_PASSWORD_FIELD]
    confirmation = request.form.get("password_confirmation", "")[:MAX_PASSWORD_FIELD]
    errors: dict[str, list[str]] = {}
    if not current:
        errors["current_password"] = [_("Enter your current password.")]
    rule_errors = password_errors(person.user, new, new)
    if rule_errors:
        errors["password"] = rule_errors
    if new != confirmation:
        errors["password_confirmation"] = [_("The two passwords do not match.")]
    if errors:
        return _page(person, errors, 400)
    actor = Actor.user(person.user.id, person.user.contract_id)
    try:
        session = change_password(actor, person.user, current, new, person.session)
    except PasswordChangeError as error:
        messages = {
            "wrong_password": _("The current password is not correct."),
            "locked": _(
                "This account is locked. We have sent a mail with a link to unlock it. "
                "You can also reset your password."
            ),
        }
        message = messages.get(error.reason, _("The password could not be changed."))
        return _page(person, {"current_password": [message]}, 400)
    response = Response(render_template("account/password_done.html", user=person.user))
    set_session_cookie(response, session)
    return response
