"""Menu items whose pages arrive with later parts of issue 11: each has its URL now, behind
the same guard, and says that it is not available yet (200). A module of its own replaces
an entry here when the item is built."""

from __future__ import annotations

from flask import Response
from flask import render_template
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import menu_item
from idp.vocabulary import MenuItem

#: Item → path under /account.
PENDING = {
    MenuItem.EMAIL_CHANGE: "email",
}


def _pending_view(item: MenuItem) -> None:
    def view(person: Person) -> BaseResponse:
        return Response(render_template("account/pending.html", item=item, user=person.user))

    view.__name__ = f"pending_{item.value}"
    bp.get(f"/account/{PENDING[item]}", endpoint=item.value)(menu_item(item)(view))
    ENDPOINTS[item] = f"account_menu.{item.value}"


for _item in PENDING:
    _pending_view(_item)
