"""X3 through the admin API: ``GET /users/{id}/what-if`` — which steps a sign-in of that user
would need, and why, for a route and a browser state (on the caller's contract only, G8)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify
from flask import request

from idp.admin.api.auth import READ
from idp.admin.api.auth import caller
from idp.admin.api.auth import requires
from idp.admin.api.blueprint import bp
from idp.admin.api.parameters import bad_parameter
from idp.admin.api.users import iso_time
from idp.users.what_if import AREAS
from idp.users.what_if import WhatIfAnswer
from idp.users.what_if import WhatIfQuery
from idp.users.what_if import what_if_for_user
from idp.vocabulary import Target

ROUTES = ("internet", "line")
BROWSERS = ("new", "remembered")
TARGETS = {"frontend": Target.FRONTEND, "account": Target.ACCOUNT_MENU}
#: Longer than any line number as typed (``CAF-1234-567-890``), any browser id or acr list.
MAX_LINE_LENGTH = 40
MAX_BROWSER_ID_LENGTH = 64
MAX_ACR_LENGTH = 200


def _one_of(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.args.get(name, default)
    if value not in allowed:
        raise bad_parameter(name, f"One of: {', '.join(allowed)}.")
    return value


def _text(name: str, limit: int) -> str | None:
    value = request.args.get(name)
    if value is not None and (not 0 < len(value) <= limit or "\x00" in value):
        raise bad_parameter(name, f"From 1 to {limit} characters.")
    return value


def _query() -> WhatIfQuery:
    route = _one_of("route", ROUTES, "internet")
    line = _text("line", MAX_LINE_LENGTH)
    if (route == "line") != (line is not None):
        raise bad_parameter("line", "A line number with route=line, and only then.")
    browser = _one_of("browser", BROWSERS, "new")
    browser_id = _text("browser_id", MAX_BROWSER_ID_LENGTH)
    if browser_id is not None and browser != "remembered":
        raise bad_parameter("browser_id", "Only with browser=remembered.")
    acr_values = _text("acr_values", MAX_ACR_LENGTH)
    return WhatIfQuery(
        line=line,
        area=_one_of("area", AREAS, "east"),
        is_remembered=browser == "remembered",
        remembered_browser_id=browser_id,
        target=TARGETS[_one_of("target", tuple(TARGETS), "frontend")],
        requested_acr=tuple(acr_values.split()) if acr_values else (),
    )


def what_if_json(answer: WhatIfAnswer) -> dict[str, Any]:
    return {
        "steps": [
            {"step": s.name, "rules": list(s.rules), "reason": s.reason, "detail": s.detail}
            for s in answer.steps
        ],
        "line": answer.line,
        "line_registered": answer.is_line_registered,
        "remembered_browser": None
        if answer.remembered_at is None
        else {
            "id": answer.remembered_browser_id,
            "remembered_at": iso_time(answer.remembered_at),
            "last_used_at": iso_time(answer.last_used_at),
        },
    }


@bp.get("/users/<user_id>/what-if")
@requires(READ)
def users_what_if(user_id: str) -> Response:
    return jsonify(what_if_json(what_if_for_user(caller().contract_id, user_id, _query())))
