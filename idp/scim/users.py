"""RFC 7644 §3: the contract's users as SCIM ``User`` resources — list with filter and
paging, read, create (an invitation, L10), replace, patch, delete — on the token's contract
alone (G8: another contract's user is 404). Writes honour ``If-Match`` (RFC 7644 §3.14: 412
when the resource changed).

Decisions where SPEC is silent (also in ``idp.users.provisioning``): a new user is invited;
an address change is an M2 email-change link, so the resource keeps the old address until
the person confirms; ``active: false`` disables the user (G4: every session ends, the relying
parties are told) and ``true`` enables them again. A directory acts as a service client of
its contract (``policies/admin.py``): the contractor is never deleted, disabled nor
re-addressed by it (403)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import request
from scim2_models import Context
from scim2_models import InvalidSyntaxException
from scim2_models import InvalidValueException
from scim2_models import ListResponse
from scim2_models import PatchOp
from scim2_models import PreconditionFailedException
from scim2_models import ResponseParameters
from scim2_models import SearchRequest
from scim2_models import User as ScimUser
from sqlalchemy import func
from sqlalchemy import select

from idp.models import User
from idp.models import db
from idp.scim.blueprint import actor
from idp.scim.blueprint import bp
from idp.scim.blueprint import contract_id
from idp.scim.blueprint import scim_response
from idp.scim.filters import user_condition
from idp.scim.resources import MAX_RESULTS
from idp.scim.resources import locale_of
from idp.scim.resources import location
from idp.scim.resources import to_scim
from idp.scim.resources import version
from idp.users.admin_operations import admin_delete_user
from idp.users.detail import find_contract_user
from idp.users.disable import disable_user
from idp.users.disable import enable_user
from idp.users.find import email_key
from idp.users.provisioning import check_profile
from idp.users.provisioning import provision_user
from idp.users.provisioning import request_directory_email_change
from idp.users.provisioning import update_profile

#: RFC 7644 §3.4.2.4: without ``count``, a page holds this many.
DEFAULT_COUNT = 100
#: A ``startIndex`` past any contract's size (a larger one would overflow the SQL OFFSET).
MAX_START_INDEX = 2**31


def _body() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise InvalidSyntaxException(detail="The body is not a JSON object.")
    return body


def _parameters() -> ResponseParameters[ScimUser[Any]]:
    return ResponseParameters[ScimUser[Any]].model_validate(request.args.to_dict())


def _user_response(
    user: User, context: Context, parameters: ResponseParameters[ScimUser[Any]], status: int = 200
) -> Response:
    body = to_scim(user).model_dump(scim_ctx=context, response_parameters=parameters)
    headers = {"ETag": version(user)}
    if status == 201:
        headers["Location"] = location(user)
    return scim_response(body, status, **headers)


def _tags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def _check_if_match(user: User) -> None:
    """RFC 7644 §3.14, RFC 7232 §3.1: a write with ``If-Match`` applies only to the version
    the client holds (weak comparison: our tags are weak)."""
    header = request.headers.get("If-Match")
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or version(user).removeprefix("W/") in tags:
        return
    raise PreconditionFailedException(detail="The user changed since that version.")


def _contract_user(user_id: str) -> User:
    return find_contract_user(contract_id(), user_id)


@bp.get("/Users")
def list_users() -> Response:
    query = SearchRequest[ScimUser[Any]].model_validate(request.args.to_dict())
    condition = User.contract_id == contract_id()
    if query.filter is not None:
        condition = condition & user_condition(query.filter.ast)
    start = min(max(query.start_index or 1, 1), MAX_START_INDEX)
    count = min(DEFAULT_COUNT if query.count is None else max(query.count, 0), MAX_RESULTS)
    total = db.session.scalar(select(func.count()).select_from(User).where(condition)) or 0
    rows = (
        db.session.scalars(
            select(User)
            .where(condition)
            .order_by(User.created_at, User.id)
            .offset(start - 1)
            .limit(count)
        ).all()
        if count
        else []
    )
    listing = ListResponse[ScimUser[Any]](
        total_results=total,
        start_index=start,
        items_per_page=len(rows),
        resources=[to_scim(user) for user in rows],
    )
    body = listing.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=query)
    return scim_response(body)


@bp.get("/Users/<user_id>")
def get_user(user_id: str) -> Response:
    parameters = _parameters()
    user = _contract_user(user_id)
    response = _user_response(user, Context.RESOURCE_QUERY_RESPONSE, parameters)
    response.make_conditional(request)
    return response


def _name_of(resource: ScimUser[Any], current: str) -> str:
    """Our one name from the resource: ``name.formatted``, ``displayName`` or the family and
    given names (family first, the Japanese order), whichever the client changed."""
    parts = ""
    formatted = None
    if resource.name is not None:
        formatted = resource.name.formatted
        parts = " ".join(p for p in (resource.name.family_name, resource.name.given_name) if p)
    options = [formatted, resource.display_name, parts or None]
    changed = [option for option in options if option is not None and option != current]
    if changed:
        return changed[0]
    return current if any(option is not None for option in options) else ""


def _address_of(resource: ScimUser[Any], current: str | None) -> str | None:
    """The address the resource asks for: ``userName`` or the primary email, whichever
    differs from ``current`` (None: the same address, or none given)."""
    candidates = []
    if resource.user_name:
        candidates.append(resource.user_name.strip())
    if resource.emails:
        primary = [e for e in resource.emails if e.primary] or resource.emails[:1]
        if primary[0].value:
            candidates.append(str(primary[0].value).strip())
    wanted = {email_key(c): c for c in candidates if current is None or email_key(c) != current}
    if len(wanted) > 1:
        raise InvalidValueException(detail="userName and the primary email differ.")
    return next(iter(wanted.values()), None)


def _set_active(user: User, is_wanted_active: bool | None) -> None:
    """``active``: disable or enable as asked (absent: unchanged)."""
    if is_wanted_active is False and user.disabled_at is None:
        disable_user(actor(), user)
    elif is_wanted_active is True and user.disabled_at is not None:
        enable_user(actor(), user)


@bp.post("/Users")
def create_user() -> Response:
    parameters = _parameters()
    resource: ScimUser[Any] = ScimUser.model_validate(
        _body(), scim_ctx=Context.RESOURCE_CREATION_REQUEST
    )
    email = _address_of(resource, None)
    if email is None:
        raise InvalidValueException(detail="userName must be the user's email address.")
    user = provision_user(
        actor(),
        contract_id(),
        email,
        _name_of(resource, ""),
        resource.external_id,
        locale=locale_of(resource.preferred_language),
    )
    _set_active(user, resource.active)  # a directory may create an account disabled
    return _user_response(user, Context.RESOURCE_CREATION_RESPONSE, parameters, status=201)


def _apply(user: User, resource: ScimUser[Any]) -> None:
    """Make ``user`` what ``resource`` says, through the domain functions."""
    name = _name_of(resource, user.name)
    check_profile(name, resource.external_id)
    address = _address_of(resource, user.email_key)
    if address is not None:
        request_directory_email_change(actor(), user, address)
    locale = locale_of(resource.preferred_language) if resource.preferred_language else None
    update_profile(actor(), user, name, resource.external_id, locale=locale)
    _set_active(user, resource.active)


@bp.put("/Users/<user_id>")
def replace_user(user_id: str) -> Response:
    parameters = _parameters()
    user = _contract_user(user_id)
    _check_if_match(user)
    resource: ScimUser[Any] = ScimUser.model_validate(
        _body(), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST
    )
    _apply(user, resource)
    return _user_response(user, Context.RESOURCE_REPLACEMENT_RESPONSE, parameters)


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str) -> Response:
    parameters = _parameters()
    user = _contract_user(user_id)
    _check_if_match(user)
    patch = PatchOp[ScimUser[Any]].model_validate(_body(), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    resource = to_scim(user)
    patch.patch(resource)
    _apply(user, resource)
    return _user_response(user, Context.RESOURCE_PATCH_RESPONSE, parameters)


@bp.delete("/Users/<user_id>")
def remove_user(user_id: str) -> Response:
    user = _contract_user(user_id)
    _check_if_match(user)
    admin_delete_user(actor(), user)
    return Response(status=204)
