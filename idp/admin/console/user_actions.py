"""G4: the per-user operations of the detail page, each a POST form with CSRF through the
domain function that checks (this actor, this target, this contract: G8 and
``policies/admin.py``), changes and audits it (:mod:`idp.users.admin_operations`,
:mod:`idp.users.roles`, :mod:`idp.users.disable`): unlock (K1), 2FA reset (T2), sign out
everywhere (X2), grant/revoke the admin privilege, disable and enable, delete (X7).

The destructive ones (2FA reset, sign out everywhere, role change, disable, delete) have a
confirmation page at the same URL (GET) and ask for a fresh sign-in, for the page and the
operation alike. The user is looked up in the admin's contract only (G8: another contract's
id is the 404 page, whatever the operation); a refused operation is a 403 page saying why,
one that would change nothing a 409 page."""

from __future__ import annotations

from collections.abc import Callable

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
from idp.admin.console.words import refusal_texts
from idp.errors import ConflictError
from idp.errors import DomainError
from idp.errors import ForbiddenError
from idp.models import User
from idp.sso import clear_session_cookie
from idp.users.admin_operations import admin_delete_user
from idp.users.admin_operations import admin_reset_two_factor
from idp.users.admin_operations import admin_sign_out_everywhere
from idp.users.admin_operations import admin_unlock
from idp.users.disable import disable_user
from idp.users.disable import enable_user
from idp.users.roles import set_admin_privilege
from idp.vocabulary import Role
from policies.admin import AdminCaller
from policies.admin import AdminOperation
from policies.admin import check_admin_operation


def _detail(user: User, done: str) -> BaseResponse:
    return redirect(url_for("admin_console.user", user_id=user.id, done=done), code=303)


#: The console's operations (URL and confirmation page) as the admin rule names them.
OPERATIONS = {
    "unlock": AdminOperation.UNLOCK,
    "reset_two_factor": AdminOperation.RESET_TWO_FACTOR,
    "sign_out": AdminOperation.SIGN_OUT_EVERYWHERE,
    "grant_admin": AdminOperation.GRANT_ADMIN,
    "revoke_admin": AdminOperation.REVOKE_ADMIN,
    "disable": AdminOperation.DISABLE,
    "enable": AdminOperation.ENABLE,
    "delete": AdminOperation.DELETE,
    "email_change": AdminOperation.SEND_EMAIL_CHANGE,
}


def refusal(admin: Admin, user: User, operation: str) -> str | None:
    """Why the rule refuses ``operation`` on ``user`` to this admin, or None. The detail page
    offers only the allowed buttons and a confirmation page is not shown for a refused one;
    the domain function checks the same rule again on the POST, whatever the page showed."""
    decision = check_admin_operation(
        OPERATIONS[operation], AdminCaller(admin.role), Role(user.role), user.id == admin.user.id
    )
    return None if decision.is_allowed else decision.reason or "forbidden"


def refused(user: User, reason: str, status: int = 403) -> BaseResponse:
    """A refused operation: the page says why in words; nothing changed."""
    message = refusal_texts().get(reason) or refusal_texts()["forbidden"]
    page = render_template("admin/refused.html", target=user, message=message, reason=reason)
    return Response(page, status)


def _refused_by(user: User, error: DomainError) -> BaseResponse:
    return refused(user, error.reason, 409 if isinstance(error, ConflictError) else 403)


def _confirm(admin: Admin, user: User, operation: str) -> BaseResponse:
    return Response(
        render_template("admin/confirm.html", admin=admin, target=user, operation=operation)
    )


def _run(
    admin: Admin, user_id: str, operation: str, apply: Callable[[User], object], done: str
) -> BaseResponse:
    """The confirmation page (GET), or the operation (POST) and back to the detail page."""
    target = contract_user(admin, user_id)
    if request.method == "GET":
        reason = refusal(admin, target, operation)
        return refused(target, reason) if reason else _confirm(admin, target, operation)
    try:
        apply(target)
    except (ForbiddenError, ConflictError) as error:
        return _refused_by(target, error)
    return _detail(target, done)


@bp.post("/users/<user_id>/unlock")
@console_page()
def unlock(admin: Admin, user_id: str) -> BaseResponse:
    return _run(admin, user_id, "unlock", lambda user: admin_unlock(admin.actor, user), "unlocked")


@bp.route("/users/<user_id>/reset-two-factor", methods=["GET", "POST"])
@console_page(destructive=True)
def reset_two_factor(admin: Admin, user_id: str) -> BaseResponse:
    return _run(
        admin,
        user_id,
        "reset_two_factor",
        lambda user: admin_reset_two_factor(admin.actor, user),
        "two_factor_reset",
    )


@bp.route("/users/<user_id>/sign-out", methods=["GET", "POST"])
@console_page(destructive=True)
def sign_out(admin: Admin, user_id: str) -> BaseResponse:
    response = _run(
        admin,
        user_id,
        "sign_out",
        lambda user: admin_sign_out_everywhere(admin.actor, user),
        "signed_out",
    )
    if request.method == "POST" and user_id == admin.user.id and response.status_code == 303:
        # This browser's session ended too: the sign-in page comes next.
        response = redirect(url_for("login.account_login", next="/admin"), code=303)
        clear_session_cookie(response)
    return response


@bp.route("/users/<user_id>/role", methods=["GET", "POST"])
@console_page(destructive=True)
def role(admin: Admin, user_id: str) -> BaseResponse:
    """Grant (``admin=yes``) or revoke the admin privilege; never the contractor's role, and
    nobody raises their own (the rule answers, whatever the form offered)."""
    is_admin = request.values.get("admin") == "yes"
    operation = "grant_admin" if is_admin else "revoke_admin"
    return _run(
        admin,
        user_id,
        operation,
        lambda user: set_admin_privilege(admin.actor, user, is_admin),
        "role_changed",
    )


@bp.route("/users/<user_id>/disable", methods=["GET", "POST"])
@console_page(destructive=True)
def disable(admin: Admin, user_id: str) -> BaseResponse:
    return _run(admin, user_id, "disable", lambda user: disable_user(admin.actor, user), "disabled")


@bp.post("/users/<user_id>/enable")
@console_page()
def enable(admin: Admin, user_id: str) -> BaseResponse:
    return _run(admin, user_id, "enable", lambda user: enable_user(admin.actor, user), "enabled")


@bp.route("/users/<user_id>/delete", methods=["GET", "POST"])
@console_page(destructive=True)
def delete(admin: Admin, user_id: str) -> BaseResponse:
    target = contract_user(admin, user_id)
    if request.method == "GET":
        reason = refusal(admin, target, "delete")
        return refused(target, reason) if reason else _confirm(admin, target, "delete")
    try:
        admin_delete_user(admin.actor, target)
    except (ForbiddenError, ConflictError) as error:
        return _refused_by(target, error)
    return redirect(url_for("admin_console.users", done="deleted"), code=303)
