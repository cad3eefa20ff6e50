"""G5, A1, A2, A4: the contract's access route from the console: selection → confirmation
(current and new route; for ``line-only`` what it refuses, that 2FA reads off, and how the
contractor recovers; a warning when no line is registered) → the change through
:func:`idp.contracts.contract.set_access_route`, the function the account menu's route page
uses, which audits it. It can lock people out, so it asks for a fresh sign-in, as the menu's
route item does."""

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
from idp.contracts.contract import set_access_route
from idp.contracts.lines import list_lines
from idp.i18n import gettext as _
from idp.vocabulary import AccessRoute


def route_labels() -> dict[str, str]:
    return {
        AccessRoute.LINE_AND_INTERNET: _("Line and internet"),
        AccessRoute.LINE_ONLY: _("Line only"),
    }


def _selection(admin: Admin, errors: dict[str, list[str]], status: int) -> BaseResponse:
    page = render_template(
        "admin/route.html",
        admin=admin,
        current=admin.contract.access_route,
        labels=route_labels(),
        errors=errors,
    )
    return Response(page, status)


@bp.route("/route", methods=["GET", "POST"])
@console_page(destructive=True)
def route(admin: Admin) -> BaseResponse:
    if request.method == "GET":
        return _selection(admin, {}, 200)
    chosen = request.form.get("route", "")
    if chosen not in set(AccessRoute):
        return _selection(admin, {"route": [_("Choose an access route.")]}, 400)
    labels = route_labels()
    if request.form.get("step") != "apply":
        page = render_template(
            "admin/route_confirm.html",
            admin=admin,
            current=labels[admin.contract.access_route],
            new=labels[chosen],
            route=chosen,
            line_only=chosen == AccessRoute.LINE_ONLY,
            has_lines=bool(list_lines(admin.contract.id)),
            via_line=(admin.session.route or {}).get("kind") == "line",
        )
        return Response(page)
    set_access_route(admin.actor, admin.contract.id, chosen)
    return redirect(url_for("admin_console.lines", done="route"), code=303)
