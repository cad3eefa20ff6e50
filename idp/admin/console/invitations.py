"""G3: invite one user (email, name, role, language) through
:func:`idp.users.admin_operations.admin_invite_user`, and the pending invitations (invited, not
registered: the user list's ``invited`` filter, with its paging) each with "resend" and
"revoke" (:func:`idp.users.admin_operations.admin_revoke_invitation`, after a confirmation
page). The invitation is found through its user in the admin's contract (G8: another
contract's id is the 404 page)."""

from __future__ import annotations

from dataclasses import replace

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
from idp.admin.console.user_actions import refused
from idp.admin.console.words import role_labels
from idp.errors import ForbiddenError
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.i18n import SUPPORTED_LOCALES
from idp.i18n import gettext as _
from idp.models import Invitation
from idp.models import User
from idp.users.add import MAX_EMAIL
from idp.users.admin_operations import admin_invite_user
from idp.users.admin_operations import admin_resend_invitation
from idp.users.admin_operations import admin_revoke_invitation
from idp.users.invitations import INVITABLE_ROLES
from idp.users.invitations import MAX_NAME
from idp.users.invitations import pending_invitation
from idp.users.listing import ListingError
from idp.users.listing import UserFilters
from idp.users.listing import UserListQuery
from idp.users.listing import UserSort
from idp.users.listing import list_users

PAGE_SIZE = 50
#: What the page says after an operation (``?done=``).
DONE = ("invited", "resent", "revoked")


def _refusal(error: ProvisioningError) -> tuple[str, str]:
    """(field, message) for a refused invitation."""
    messages = {
        "invalid_email": ("email", _("Enter a valid email address.")),
        "already_invited": (
            "email",
            _("This address has already been invited. Resend the invitation from the list."),
        ),
        "email_taken": ("email", _("This address is already a user of your contract.")),
        # The same words whoever uses the address (G8).
        "email_unavailable": ("email", _("This address cannot be used. Enter another address.")),
        "role_not_invitable": ("role", _("Choose user or administrator.")),
        "contract_not_active": ("email", _("The contract is not active.")),
    }
    return messages.get(error.reason, ("email", _("The invitation could not be sent.")))


def invitations_page(
    admin: Admin,
    form: dict[str, str],
    errors: dict[str, list[str]],
    status: int = 200,
) -> BaseResponse:
    cursor = request.args.get("cursor") or None
    query = UserListQuery(
        contract_id=admin.contract.id,
        filters=UserFilters(is_invited=True),
        sort=UserSort.CREATED,
        is_descending=True,
        after=cursor[:1000] if cursor else None,
        limit=PAGE_SIZE,
    )
    try:
        pending = list_users(query)
    except ListingError:
        pending = list_users(replace(query, after=None))
    done = request.args.get("done")
    # Issue 14: say to whom it was sent; the address is looked up among this contract's
    # pending invitations, never taken from the URL (which names only the user id).
    sent_to = next((row.email for row in pending.rows if row.id == request.args.get("to")), None)
    return Response(
        render_template(
            "admin/invitations.html",
            admin=admin,
            pending=pending,
            next_url=url_for("admin_console.invitations", cursor=pending.next_cursor)
            if pending.next_cursor
            else None,
            is_later_page=query.after is not None,
            form=form,
            errors=errors,
            roles={role: role_labels()[role] for role in INVITABLE_ROLES},
            done=done if done in DONE else None,
            sent_to=sent_to,
        ),
        status,
    )


@bp.route("/invitations", methods=["GET", "POST"])
@console_page()
def invitations(admin: Admin) -> BaseResponse:
    if request.method == "GET":
        return invitations_page(admin, {"role": "user", "locale": "ja"}, {})
    form = {
        "email": request.form.get("email", "").strip()[: MAX_EMAIL + 1],
        "name": request.form.get("name", "").strip()[: MAX_NAME + 1],
        "role": request.form.get("role", ""),
        "locale": request.form.get("locale", ""),
    }
    errors: dict[str, list[str]] = {}
    if not form["email"]:
        errors["email"] = [_("Enter the email address.")]
    if len(form["name"]) > MAX_NAME:
        errors["name"] = [_("The name is too long.")]
    if form["role"] not in INVITABLE_ROLES:
        errors["role"] = [_("Choose user or administrator.")]
    if form["locale"] not in SUPPORTED_LOCALES:
        errors["locale"] = [_("Choose the language of the mail.")]
    if errors:
        return invitations_page(admin, form, errors, 400)
    try:
        invitation = admin_invite_user(
            admin.actor,
            admin.contract.id,
            form["email"],
            form["name"],
            form["role"],
            locale=form["locale"],
        )
    except ForbiddenError:
        return invitations_page(
            admin, form, {"role": [_("You may not invite a user with this role.")]}, 403
        )
    except ProvisioningError as error:
        field, message = _refusal(error)
        return invitations_page(admin, form, {field: [message]}, 400)
    to = invitation.user_id
    return redirect(url_for("admin_console.invitations", done="invited", to=to), code=303)


def _pending(admin: Admin, user_id: str) -> tuple[User, Invitation]:
    """The pending invitation of ``user_id`` in the admin's contract; ``NotFoundError`` (the
    404 page) for another contract's user and for a user who has registered."""
    target = contract_user(admin, user_id)
    invitation = pending_invitation(target)
    if invitation is None:
        raise NotFoundError("no pending invitation", "invitation_not_found")
    return target, invitation


@bp.post("/invitations/<user_id>/resend")
@console_page()
def resend(admin: Admin, user_id: str) -> BaseResponse:
    target, invitation = _pending(admin, user_id)
    try:
        admin_resend_invitation(admin.actor, invitation.id)
    except ForbiddenError as error:
        return refused(target, error.reason)
    to = target.id
    return redirect(url_for("admin_console.invitations", done="resent", to=to), code=303)


@bp.route("/invitations/<user_id>/revoke", methods=["GET", "POST"])
@console_page()
def revoke(admin: Admin, user_id: str) -> BaseResponse:
    """G3: a confirmation page, then the invitation and its pending user are gone and every
    link sent for it is void (:func:`idp.users.admin_operations.admin_revoke_invitation`)."""
    target, invitation = _pending(admin, user_id)
    if request.method == "GET":
        page = render_template("admin/confirm.html", admin=admin, target=target, operation="revoke")
        return Response(page)
    try:
        admin_revoke_invitation(admin.actor, invitation.id)
    except ForbiddenError as error:
        return refused(target, error.reason)
    return redirect(url_for("admin_console.invitations", done="revoked"), code=303)
