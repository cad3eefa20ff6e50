"""C1, C2: the contractor's plan change ``trial`` → ``basic`` (during the trial or the
15-day window after it): selection → confirmation → done. The frontend sign-in works again
at once (the login's gate reads the plan)."""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import forbidden
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.contracts.life import ContractChangeRefused
from idp.contracts.life import change_plan
from idp.i18n import gettext as _
from idp.vocabulary import MenuItem
from idp.vocabulary import Plan

ENDPOINTS[MenuItem.PLAN_CHANGE] = "account_menu.plan_change"

#: The only change there is (C2): ``basic`` is final, a basic contract is cancelled instead.
TARGET = Plan.BASIC


def _selection(person: Person, errors: dict[str, list[str]], status: int) -> BaseResponse:
    """The plan page; ``errors['plan']``: said on the choice (or at the top when there is
    none to make)."""
    return Response(
        render_template(
            "account/plan.html",
            user=person.user,
            contract=person.contract,
            changeable=person.contract.plan != TARGET,
            target=TARGET.value,
            errors=errors,
        ),
        status,
    )


@bp.route("/account/plan", methods=["GET", "POST"])
@menu_item(MenuItem.PLAN_CHANGE)
def plan_change(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _selection(person, {}, 200)
    if request.form.get("plan") != TARGET.value or person.contract.plan == TARGET:
        return _selection(person, {"plan": [_("Choose the plan to change to.")]}, 400)
    if request.form.get("step") != "change":
        return Response(
            render_template(
                "account/plan_confirm.html",
                user=person.user,
                contract=person.contract,
                target=TARGET.value,
            )
        )
    actor = Actor.user(person.user.id, person.contract.id)
    try:
        change_plan(actor, person.contract.id, TARGET.value)
    except ContractChangeRefused as error:
        return forbidden(error.reason)
    return Response(
        render_template("account/plan_done.html", user=person.user, target=TARGET.value)
    )
