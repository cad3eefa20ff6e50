"""A1, A3, A4: the contract's access route (contractor, basic and trial): selection →
confirmation (current and new route; for ``line-only`` what it refuses, that 2FA reads off,
and how the contractor recovers) → done → back to the menu. One URL; the form's ``step``
says whether it asks for the confirmation or applies the change."""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.contracts.contract import set_access_route
from idp.i18n import gettext as _
from idp.vocabulary import AccessRoute
from idp.vocabulary import MenuItem

ENDPOINTS[MenuItem.ACCESS_ROUTE] = "account_menu.access_route"


def route_labels() -> dict[str, str]:
    return {
        AccessRoute.LINE_AND_INTERNET: _("Line and internet"),
        AccessRoute.LINE_ONLY: _("Line only"),
    }


def _selection(person: Person, errors: dict[str, list[str]], status: int) -> BaseResponse:
    page = render_template(
        "account/access_route.html",
        user=person.user,
        current=person.contract.access_route,
        labels=route_labels(),
        errors=errors,
    )
    return Response(page, status)


@bp.route("/account/access-route", methods=["GET", "POST"])
@menu_item(MenuItem.ACCESS_ROUTE)
def access_route(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _selection(person, {}, 200)
    route = request.form.get("route", "")
    if route not in set(AccessRoute):
        return _selection(person, {"route": [_("Choose an access route.")]}, 400)
    labels = route_labels()
    if request.form.get("step") != "apply":
        page = render_template(
            "account/access_route_confirm.html",
            user=person.user,
            current=labels[person.contract.access_route],
            new=labels[route],
            route=route,
            line_only=route == AccessRoute.LINE_ONLY,
        )
        return Response(page)
    actor = Actor.user(person.user.id, person.user.contract_id)
    set_access_route(actor, person.contract.id, route)
    page = render_template("account/access_route_done.html", user=person.user, new=labels[route])
    return Response(page)
