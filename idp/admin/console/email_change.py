"""M2: the detail page's "email change" screen. The address is shown filled in: sent
unchanged, the user is mailed a login-method-change link
; sent with a new address, the email-change link goes to the new address — both through
:func:`idp.users.admin_operations.send_change_link`, which checks the admin rule. Both at once
is not possible: the email first, then the method."""

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
from idp.admin.console.user_actions import refusal
from idp.admin.console.user_actions import refused
from idp.errors import DomainError
from idp.errors import ForbiddenError
from idp.errors import NotFoundError
from idp.i18n import gettext as _
from idp.models import User
from idp.users.add import MAX_EMAIL
from idp.users.admin_operations import ChangeLink
from idp.users.admin_operations import send_change_link

#: The refusals about the address typed (shown beside the field); the others are about the
#: user or the contract (shown at the top only).
ABOUT_EMAIL = ("invalid_email", "same_email", "email_unavailable")
#: The key of a message about no field.
GENERAL = "form"
Errors = dict[str, list[str]]


def _refusal(error: DomainError) -> str:
    messages = {
        "invalid_email": _("Enter a valid email address."),
        # The same words whoever uses the address (L2, G8).
        "email_unavailable": _("This address cannot be used. Enter another address."),
        "not_registered": _(
            "This user has not registered yet. Revoke the invitation and invite the right "
            "address, or resend the invitation."
        ),
        "not_permitted": _("The login method of this user cannot be changed now."),
        "contract_inactive": _("The contract is not active."),
        "contract_closed": _("The contract is closed."),
    }
    return messages.get(error.reason, _("The mail could not be sent."))


def _page(admin: Admin, user: User, email: str, errors: Errors, status: int) -> BaseResponse:
    page = render_template(
        "admin/email_change.html",
        admin=admin,
        target=user,
        email=email,
        errors=errors,
        general=GENERAL,
    )
    return Response(page, status)


@bp.route("/users/<user_id>/email", methods=["GET", "POST"])
@console_page()
def email_change(admin: Admin, user_id: str) -> BaseResponse:
    target = contract_user(admin, user_id)
    reason = refusal(admin, target, "email_change")
    if reason:
        return refused(target, reason)
    if request.method == "GET":
        return _page(admin, target, target.email, {}, 200)
    email = request.form.get("email", "").strip()[: MAX_EMAIL + 1]
    if not email:
        return _page(admin, target, email, {"email": [_("Enter the email address.")]}, 400)
    try:
        sent = send_change_link(admin.actor, target, email)
    except NotFoundError:
        raise
    except ForbiddenError as error:
        return refused(target, error.reason)
    except DomainError as error:
        field = "email" if error.reason in ABOUT_EMAIL else GENERAL
        return _page(admin, target, email, {field: [_refusal(error)]}, 400)
    done = "link_sent" if sent.kind == ChangeLink.METHOD_CHANGE else "email_link_sent"
    return redirect(url_for("admin_console.user", user_id=target.id, done=done), code=303)
