"""X3: "what if" for one user of the contract — for a route (the internet, or a line number in
East or West Japan) and a browser (new, or one remembered for this user), which steps a
sign-in at the storage frontend would need and why, computed by the same rules the login uses
(idp/users/what_if.py → policies/what_if.py). A read: a GET form, nothing changes."""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.admin.console.guard import Admin
from idp.admin.console.guard import bp
from idp.admin.console.guard import console_page
from idp.admin.console.guard import contract_user
from idp.admin.console.words import method_labels
from idp.admin.console.words import reason_texts
from idp.errors import ProvisioningError
from idp.i18n import gettext as _
from idp.users.what_if import WhatIfAnswer
from idp.users.what_if import WhatIfQuery
from idp.users.what_if import what_if_for_user

ROUTES = ("internet", "line")
AREAS = ("east", "west")
BROWSERS = ("new", "remembered")
MAX_LINE_FIELD = 40
#: The form's fields in their order (the first with a message takes the focus).
FIELDS = ("route", "line", "area", "browser")
#: Messages by field name (``templates/account/_fields.html``).
Errors = dict[str, list[str]]


def _query() -> tuple[WhatIfQuery | None, dict[str, str], Errors]:
    """The imagined sign-in from the form, the values to show again, and errors by field."""
    values = {
        "route": request.args.get("route", "internet"),
        "line": request.args.get("line", "")[:MAX_LINE_FIELD].strip(),
        "area": request.args.get("area", "east"),
        "browser": request.args.get("browser", "new"),
    }
    errors: Errors = {}
    if values["route"] not in ROUTES:
        errors["route"] = [_("Choose the internet or a line.")]
    if values["area"] not in AREAS:
        errors["area"] = [_("Choose East or West Japan.")]
    if values["browser"] not in BROWSERS:
        errors["browser"] = [_("Choose a new or a remembered browser.")]
    if values["route"] == "line" and not values["line"]:
        errors["line"] = [_("Enter the line number.")]
    if errors:
        return None, values, errors
    query = WhatIfQuery(
        line=values["line"] if values["route"] == "line" else None,
        area=values["area"],
        is_remembered=values["browser"] == "remembered",
    )
    return query, values, errors


@bp.get("/users/<user_id>/what-if")
@console_page()
def what_if(admin: Admin, user_id: str) -> BaseResponse:
    target = contract_user(admin, user_id)
    answer: WhatIfAnswer | None = None
    values = {"route": "internet", "line": "", "area": "east", "browser": "new"}
    errors: Errors = {}
    status = 200
    if "route" in request.args:
        query, values, errors = _query()
        if query is not None:
            try:
                answer = what_if_for_user(admin.contract.id, target.id, query, now=admin.now)
            except ProvisioningError as error:
                field = "line" if error.reason == "not_a_line_number" else "route"
                errors[field] = [
                    _("This is not a line number (CAF + 10 or COP + 8 letters or digits).")
                    if field == "line"
                    else _("This sign-in cannot be imagined.")
                ]
        if errors:
            status = 400
    page = render_template(
        "admin/what_if.html",
        admin=admin,
        target=target,
        values=values,
        errors=errors,
        names=FIELDS,
        answer=answer,
        reasons=reason_texts(),
        methods=method_labels(),
    )
    return Response(page, status)
