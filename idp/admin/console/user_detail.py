"""G2, X3: one user of the contract — everything :func:`idp.users.detail.user_detail` gives
(method, email, role, lock, 2FA devices, upstream identities, invitation, sessions,
remembered browsers, last and recent sign-ins with their reason codes explained in words),
with the per-user operations of G4 as buttons (idp/admin/console/user_actions.py)."""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.admin.console.guard import Admin
from idp.admin.console.guard import bp
from idp.admin.console.guard import console_page
from idp.admin.console.guard import contract_user
from idp.admin.console.user_actions import OPERATIONS
from idp.admin.console.user_actions import refusal
from idp.admin.console.words import event_labels
from idp.admin.console.words import method_labels
from idp.admin.console.words import outcome_labels
from idp.admin.console.words import reason_texts
from idp.admin.console.words import role_labels
from idp.users.detail import user_detail

#: What the page says after an operation (``?done=``); anything else says nothing.
DONE = (
    "unlocked",
    "signed_out",
    "link_sent",
    "email_link_sent",
    "two_factor_reset",
    "role_changed",
    "disabled",
    "enabled",
)


@bp.get("/users/<user_id>")
@console_page()
def user(admin: Admin, user_id: str) -> BaseResponse:
    target = contract_user(admin, user_id)
    detail = user_detail(admin.contract.id, target.id)
    done = request.args.get("done")
    return Response(
        render_template(
            "admin/user.html",
            admin=admin,
            detail=detail,
            is_self=target.id == admin.user.id,
            # G4: the buttons this admin may use on this user (the POST checks again).
            allowed={op for op in OPERATIONS if refusal(admin, target, op) is None},
            methods=method_labels(),
            roles=role_labels(),
            reasons=reason_texts(),
            events=event_labels(),
            outcomes=outcome_labels(),
            done=done if done in DONE else None,
        )
    )
