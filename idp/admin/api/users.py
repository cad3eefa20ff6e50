"""G2 through the admin API: ``GET /users`` (search, filters, sort, keyset paging) and
``GET /users/{id}`` (the detail), on the caller's contract only (G8)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from idp.admin.api.auth import READ
from idp.admin.api.auth import caller
from idp.admin.api.auth import requires
from idp.admin.api.blueprint import bp
from idp.admin.api.parameters import bad_parameter
from idp.admin.api.parameters import page_parameters
from idp.users.detail import UserDetail
from idp.users.detail import user_detail
from idp.users.listing import MAX_PAGE_SIZE
from idp.users.listing import MAX_SEARCH_LENGTH
from idp.users.listing import UserFilters
from idp.users.listing import UserListQuery
from idp.users.listing import UserRow
from idp.users.listing import UserSort
from idp.users.listing import list_users
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role

BOOLEANS = {"true": True, "false": False}


def _choice(name: str, allowed: dict[str, Any]) -> Any:
    value = request.args.get(name)
    if value is None:
        return None
    if value not in allowed:
        raise bad_parameter(name, f"One of: {', '.join(allowed)}.")
    return allowed[value]


def iso_time(value: datetime | None) -> str | None:
    """RFC 3339 with its offset (SQLite hands back naive UTC values)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def user_summary(row: UserRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "email": row.email,
        "name": row.name,
        "role": row.role,
        "login_method": row.login_method,
        "locked": row.is_locked,
        "two_factor_enrolled": row.has_two_factor,
        "invited": row.is_invited,
        "disabled": row.is_disabled,
        "created_at": iso_time(row.created_at),
    }


def _query() -> UserListQuery:
    search = request.args.get("search", "")
    if len(search) > MAX_SEARCH_LENGTH:
        raise bad_parameter("search", f"At most {MAX_SEARCH_LENGTH} characters.")
    cursor, limit = page_parameters(MAX_PAGE_SIZE)
    order = _choice("order", {"asc": False, "desc": True})
    return UserListQuery(
        contract_id=caller().contract_id,
        search=search,
        filters=UserFilters(
            method=_choice("method", {m.value: m for m in LoginMethod}),
            role=_choice("role", {r.value: r for r in Role}),
            is_locked=_choice("locked", BOOLEANS),
            has_two_factor=_choice("two_factor_enrolled", BOOLEANS),
            is_invited=_choice("invited", BOOLEANS),
            is_disabled=_choice("disabled", BOOLEANS),
        ),
        sort=_choice("sort", {s.value: s for s in UserSort}) or UserSort.EMAIL,
        is_descending=bool(order),
        after=cursor,
        limit=limit,
    )


@bp.get("/users")
@requires(READ)
def users_list() -> Response:
    page = list_users(_query())
    return jsonify(
        users=[user_summary(row) for row in page.rows],
        next_cursor=page.next_cursor,
        total=page.total,
        total_capped=page.is_total_capped,
    )


def detail_json(detail: UserDetail) -> dict[str, Any]:
    return {
        "id": detail.id,
        "email": detail.email,
        "name": detail.name,
        "role": detail.role,
        "login_method": detail.login_method,
        "locale": detail.locale,
        "locked": detail.locked_at is not None,
        "locked_at": iso_time(detail.locked_at),
        "disabled_at": iso_time(detail.disabled_at),
        "two_factor_enrolled_at": iso_time(detail.two_factor_enrolled_at),
        "second_factors": detail.second_factors,
        "upstream_accounts": [
            {"provider": u.provider, "email": u.email, "last_used_at": iso_time(u.last_used_at)}
            for u in detail.upstream_accounts
        ],
        "invitation_sent_at": iso_time(detail.invitation_sent_at),
        "sessions": [
            {
                "device": s.device,
                "network": s.network,
                "line_auth": s.line_auth,
                "created_at": iso_time(s.created_at),
                "last_used_at": iso_time(s.last_used_at),
            }
            for s in detail.sessions
        ],
        "remembered_browsers": [
            {"id": b.id, "device": b.device, "last_used_at": iso_time(b.last_used_at)}
            for b in detail.remembered_browsers
        ],
        "last_sign_in_at": iso_time(detail.last_sign_in_at),
        "recent_sign_ins": [
            {
                "at": iso_time(e.at),
                "event": e.event,
                "outcome": e.outcome,
                "reason": e.reason,
                "client_id": e.client_id,
                "rules": list(e.rules),
            }
            for e in detail.recent_sign_ins
        ],
        "created_at": iso_time(detail.created_at),
    }


@bp.get("/users/<user_id>")
@requires(READ)
def users_detail(user_id: str) -> Response:
    return jsonify(detail_json(user_detail(caller().contract_id, user_id)))
