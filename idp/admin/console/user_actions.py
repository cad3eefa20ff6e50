"""G4: the per-user operations of the detail page, each a POST form with CSRF through the
domain function that checks, changes and audits: unlock (K1), sign out everywhere (X2) and
delete (G4, X7). The destructive ones (sign out everywhere, delete) have a confirmation page
at the same URL (GET) and ask for a fresh sign-in, for the page and the operation alike.
The user is looked up in the admin's contract only (G8: another contract's id is the 404
page, whatever the operation)."""

from __future__ import annotations

from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.admin.console.guard import Admin
from idp.admin.console.guard import bp
from idp.admin.console.guard import console_page
from idp.admin.console.guard import contract_user
from idp.errors import DomainError
from idp.i18n import gettext as _
from idp.models import User
from idp.sso import clear_session_cookie
from idp.sso import sign_out_everywhere
from idp.users.delete import delete_user
from idp.users.lockout import unlock_account

#: The audit reason of a sign-out everywhere an admin asked for.
ADMIN_SIGN_OUT = "admin_sign_out"


def _detail(user: User, done: str) -> BaseResponse:
    return redirect(url_for("admin_console.user", user_id=user.id, done=done), code=303)


def refused(user: User, message: str) -> BaseResponse:
    """A refused operation: the page says why; nothing changed."""
    page = render_template("admin/refused.html", target=user, message=message)
    return Response(page, 403)


def _confirm(admin: Admin, user: User, operation: str) -> BaseResponse:
    return Response(
        render_template("admin/confirm.html", admin=admin, target=user, operation=operation)
    )


@bp.post("/users/<user_id>/unlock")
@console_page()
def unlock(admin: Admin, user_id: str) -> BaseResponse:
    target = contract_user(admin, user_id)
    unlock_account(admin.actor, target)
    return _detail(target, "unlocked")


@bp.route("/users/<user_id>/sign-out", methods=["GET", "POST"])
@console_page(destructive=True)
def sign_out(admin: Admin, user_id: str) -> BaseResponse:
    target = contract_user(admin, user_id)
    if request.method == "GET":
        return _confirm(admin, target, "sign_out")
    sign_out_everywhere(admin.actor, target, ADMIN_SIGN_OUT)
    if target.id == admin.user.id:
        # This browser's session ended too: the sign-in page comes next.
        response = redirect(url_for("login.account_login", next="/admin"), code=303)
        clear_session_cookie(response)
        return response
    return _detail(target, "signed_out")


@bp.route("/users/<user_id>/delete", methods=["GET", "POST"])
@console_page(destructive=True)
def delete(admin: Admin, user_id: str) -> BaseResponse:
    target = contract_user(admin, user_id)
    if target.id == admin.user.id:
        # Nobody deletes themselves from the console: another admin or the contractor does.
        return refused(target, _("You cannot delete your own account."))
    if request.method == "GET":
        return _confirm(admin, target, "delete")
    try:
        delete_user(admin.actor, target)
    except DomainError:
        return refused(target, _("The contractor cannot be deleted."))
    return redirect(url_for("admin_console.users", done="deleted"), code=303)
