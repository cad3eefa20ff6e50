"""U1: the menu page: exactly the items U2 allows this person, plan and date, in U1's order."""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import applies_to
from idp.account_menu.guard import bp
from idp.account_menu.guard import menu_item
from idp.admin.console.guard import console_decision
from idp.vocabulary import MenuItem
from policies.permissions import menu_items


@bp.get("/account")
@menu_item(MenuItem.TOP)
def menu(person: Person) -> BaseResponse:
    items = [
        (item, url_for(ENDPOINTS[item]))
        for item in menu_items(person.role, person.state, person.now)
        if item != MenuItem.TOP and applies_to(item, person.user)
    ]
    # G1: the console is linked for those who may use it (its guard asks the same).
    has_console = console_decision(person.user, person.contract, person.session, person.now)
    return Response(
        render_template(
            "account/menu.html",
            person=person,
            user=person.user,
            items=items,
            has_console=has_console.is_allowed,
        )
    )
