"""G4, G3, M2, G7, G8 through the admin API: the per-user operations and invitations, for a
service client holding ``admin:write``. Each view finds the target in the caller's contract
(another contract's id is 404), then calls the admin domain function
(``idp/users/admin_operations.py``, ``roles.py``, ``disable.py``) with the client as actor:
the rule refuses with 403 and its reason, a state conflict is 409 (blueprint.py)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from idp.actor import Actor
from idp.admin.api.auth import WRITE
from idp.admin.api.auth import caller
from idp.admin.api.auth import requires
from idp.admin.api.blueprint import bp
from idp.models import User
from idp.problems import Problem
from idp.users.admin_operations import admin_delete_user
from idp.users.admin_operations import admin_invite_user
from idp.users.admin_operations import admin_resend_invitation
from idp.users.admin_operations import admin_reset_two_factor
from idp.users.admin_operations import admin_revoke_invitation
from idp.users.admin_operations import admin_sign_out_everywhere
from idp.users.admin_operations import admin_unlock
from idp.users.admin_operations import send_change_link
from idp.users.detail import find_contract_user
from idp.users.disable import disable_user
from idp.users.disable import enable_user
from idp.users.roles import set_admin_privilege
from idp.vocabulary import Role

#: The longest string field accepted in a body (an address is at most 320 characters).
MAX_FIELD = 400


def _actor() -> Actor:
    return Actor.client(caller().client_id, caller().contract_id)


def _target(user_id: str) -> User:
    return find_contract_user(caller().contract_id, user_id)


def _bad_body(detail: str) -> Problem:
    return Problem(400, "invalid_body", "The request body is not valid.", detail)


def _body(
    required: frozenset[str], optional: frozenset[str] = frozenset()
) -> dict[str, str | None]:
    """The JSON object of the request: exactly these string members (optional ones may be
    null), none longer than ``MAX_FIELD`` nor holding NUL."""
    data: Any = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise _bad_body("A JSON object is expected.")
    unknown = set(data) - required - optional
    if unknown:
        raise _bad_body(f"Unknown members: {', '.join(sorted(unknown))}.")
    missing = required - set(data)
    if missing:
        raise _bad_body(f"Missing members: {', '.join(sorted(missing))}.")
    for name, value in data.items():
        if value is None and name in optional:
            continue
        if not isinstance(value, str) or len(value) > MAX_FIELD or "\x00" in value:
            raise _bad_body(f"{name} must be a string of at most {MAX_FIELD} characters.")
    return data


def _done() -> Response:
    return Response(status=204)


@bp.post("/users/<user_id>/unlock")
@requires(WRITE)
def user_unlock(user_id: str) -> Response:
    admin_unlock(_actor(), _target(user_id))
    return _done()


@bp.post("/users/<user_id>/reset-two-factor")
@requires(WRITE)
def user_reset_two_factor(user_id: str) -> Response:
    admin_reset_two_factor(_actor(), _target(user_id))
    return _done()


@bp.post("/users/<user_id>/sign-out")
@requires(WRITE)
def user_sign_out(user_id: str) -> Response:
    admin_sign_out_everywhere(_actor(), _target(user_id))
    return _done()


@bp.post("/users/<user_id>/disable")
@requires(WRITE)
def user_disable(user_id: str) -> Response:
    disable_user(_actor(), _target(user_id))
    return _done()


@bp.post("/users/<user_id>/enable")
@requires(WRITE)
def user_enable(user_id: str) -> Response:
    enable_user(_actor(), _target(user_id))
    return _done()


@bp.put("/users/<user_id>/role")
@requires(WRITE)
def user_role(user_id: str) -> Response:
    user = _target(user_id)
    role = _body(frozenset({"role"}))["role"]
    if role not in (Role.ADMIN, Role.USER):
        raise _bad_body("role must be admin or user.")
    set_admin_privilege(_actor(), user, role == Role.ADMIN)
    return jsonify(id=user.id, role=user.role)


@bp.delete("/users/<user_id>")
@requires(WRITE)
def user_delete(user_id: str) -> Response:
    admin_delete_user(_actor(), _target(user_id))
    return _done()


@bp.post("/users/<user_id>/change-link")
@requires(WRITE)
def user_change_link(user_id: str) -> Response:
    user = _target(user_id)
    email = _body(frozenset(), frozenset({"email"})).get("email")
    sent = send_change_link(_actor(), user, email)
    response = jsonify(sent=sent.kind.value)
    response.status_code = 202
    return response


@bp.post("/invitations")
@requires(WRITE)
def invitations_create() -> Response:
    body = _body(frozenset({"email"}), frozenset({"name", "role", "locale"}))
    invitation = admin_invite_user(
        _actor(),
        caller().contract_id,
        body["email"] or "",
        body.get("name") or "",
        body.get("role") or Role.USER.value,
        locale=body.get("locale") or "ja",
    )
    response = jsonify(id=invitation.id, user_id=invitation.user_id)
    response.status_code = 201
    return response


@bp.post("/invitations/<invitation_id>/resend")
@requires(WRITE)
def invitations_resend(invitation_id: str) -> Response:
    admin_resend_invitation(_actor(), invitation_id)
    return _done()


@bp.delete("/invitations/<invitation_id>")
@requires(WRITE)
def invitations_revoke(invitation_id: str) -> Response:
    admin_revoke_invitation(_actor(), invitation_id)
    return _done()
