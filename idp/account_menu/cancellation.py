"""C3: the contractor cancels a ``basic`` contract: warning (what ends, how long the data is
kept) → confirmation, where the contractor types the contract's name → done. Every session
of the contract ends, the menu's own included, so the done page says where to go."""

from __future__ import annotations

import unicodedata

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp import extensions
from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import forbidden
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.contracts.life import ContractChangeRefused
from idp.contracts.life import cancel_contract
from idp.i18n import gettext as _
from idp.sso import clear_session_cookie
from idp.vocabulary import MenuItem

ENDPOINTS[MenuItem.CANCELLATION] = "account_menu.cancellation"

#: The typed name is compared after NFKC and trimming (full-width and half-width letters
#: are the same name to the person typing it); longer input is not a name.
MAX_NAME_FIELD = 400


def _same_name(typed: str, name: str) -> bool:
    def norm(text: str) -> str:
        return unicodedata.normalize("NFKC", text).strip()

    return bool(typed.strip()) and norm(typed) == norm(name)


def _page(template: str, person: Person, status: int = 200, **values: object) -> BaseResponse:
    return Response(
        render_template(
            template,
            user=person.user,
            contract=person.contract,
            retention_days=extensions.settings().cancelled_retention_days,
            **values,
        ),
        status,
    )


@bp.route("/account/cancellation", methods=["GET", "POST"])
@menu_item(MenuItem.CANCELLATION)
def cancellation(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _page("account/cancellation.html", person)
    if request.form.get("step") != "cancel":
        return _page("account/cancellation_confirm.html", person, errors={}, typed="")
    typed = request.form.get("contract_name", "")[:MAX_NAME_FIELD]
    if not _same_name(typed, person.contract.name):
        message = _("The contract name does not match. Type it exactly as shown.")
        return _page(
            "account/cancellation_confirm.html",
            person,
            400,
            errors={"contract_name": [message]},
            typed=typed,
        )
    actor = Actor.user(person.user.id, person.contract.id)
    try:
        cancel_contract(actor, person.contract.id)
    except ContractChangeRefused as error:
        return forbidden(error.reason)
    response = _page("account/cancellation_done.html", person)
    clear_session_cookie(response)
    return response
