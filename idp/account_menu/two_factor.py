"""T1, A4: the contract's two-step verification setting (contractor, basic and trial): the
risk warning and the choice → confirmation (current and new setting, the box "I have
confirmed the explanation above", and for users whose method is not ``password`` where to set
up multi-factor authentication, §5.1(5)) → done → back to the menu. One URL; the form's
``step`` says whether it asks for the confirmation or applies the change."""

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
from idp.contracts.contract import set_two_factor
from idp.i18n import gettext as _
from idp.vocabulary import AccessRoute
from idp.vocabulary import MenuItem
from policies.two_factor import is_contract_two_factor_on

ENDPOINTS[MenuItem.TWO_FACTOR] = "account_menu.two_factor"

CHOICES = ("on", "off")


def _labels() -> dict[str, str]:
    return {"on": _("On"), "off": _("Off")}


def _current(person: Person) -> str:
    route = AccessRoute(person.contract.access_route)
    return "on" if is_contract_two_factor_on(person.contract.two_factor, route) else "off"


def _line_only(person: Person) -> bool:
    return person.contract.access_route == AccessRoute.LINE_ONLY


def _selection(person: Person, errors: dict[str, list[str]], status: int) -> BaseResponse:
    page = render_template(
        "account/two_factor.html",
        user=person.user,
        current=_current(person),
        labels=_labels(),
        line_only=_line_only(person),
        errors=errors,
    )
    return Response(page, status)


def _confirmation(person: Person, setting: str, error: str | None, status: int) -> BaseResponse:
    labels = _labels()
    page = render_template(
        "account/two_factor_confirm.html",
        user=person.user,
        current=labels[_current(person)],
        new=labels[setting],
        setting=setting,
        line_only=_line_only(person),
        error=error,
    )
    return Response(page, status)


@bp.route("/account/two-factor", methods=["GET", "POST"])
@menu_item(MenuItem.TWO_FACTOR)
def two_factor(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _selection(person, {}, 200)
    setting = request.form.get("two_factor", "")
    if setting not in CHOICES:
        return _selection(person, {"two_factor": [_("Choose on or off.")]}, 400)
    if request.form.get("step") != "apply":
        return _confirmation(person, setting, None, 200)
    if request.form.get("confirmed") != "yes":
        message = _("Tick the box to confirm that you have read the explanation above.")
        return _confirmation(person, setting, message, 400)
    actor = Actor.user(person.user.id, person.user.contract_id)
    set_two_factor(actor, person.contract.id, setting == "on")
    page = render_template(
        "account/two_factor_done.html",
        user=person.user,
        new=_labels()[setting],
        line_only=_line_only(person),
    )
    return Response(page)
