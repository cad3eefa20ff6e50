"""G2: the contract's users — search (email, name; Japanese names too), filters (method,
role, locked, 2FA enrolled, invited, disabled), sort and order, keyset paging (next page and
first page links carry the cursor; :func:`idp.users.listing.list_users`), and the total capped
at "1,000+". A bad parameter (a cursor of another list, an unknown filter) shows the page
again with a message, never an error: beside the field it is about (issue 14), a bad cursor
at the top only."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.admin.console.guard import Admin
from idp.admin.console.guard import bp
from idp.admin.console.guard import console_page
from idp.admin.console.words import method_labels
from idp.admin.console.words import role_labels
from idp.i18n import gettext as _
from idp.users.listing import COUNT_CAP
from idp.users.listing import MAX_SEARCH_LENGTH
from idp.users.listing import ListingError
from idp.users.listing import UserFilters
from idp.users.listing import UserListQuery
from idp.users.listing import UserPage
from idp.users.listing import UserSort
from idp.users.listing import list_users
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role

#: Users per page of the console.
PAGE_SIZE = 50
#: The yes/no filters: query parameter → ``UserFilters`` field.
FLAGS = {
    "locked": "is_locked",
    "two_factor": "has_two_factor",
    "invited": "is_invited",
    "disabled": "is_disabled",
}
#: What the page says after an operation (``?done=``).
DONE = ("deleted",)
#: The parameters a page link carries (the cursor is added to the next-page link).
KEPT = ("q", "method", "role", *FLAGS, "sort", "order")
#: The search form's fields in their order (the first with a message takes the focus).
FIELDS = KEPT
#: The key of a message about the page link (the cursor), not about a field.
PAGE_LINK = "cursor"
#: Messages by field name (``templates/account/_fields.html``).
Errors = dict[str, list[str]]


@dataclass(frozen=True)
class ListRequest:
    query: UserListQuery
    #: The parameters as given (what the form shows again and the links carry).
    shown: dict[str, str]


def _flag(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def _parse(admin: Admin) -> tuple[ListRequest, Errors]:
    """The list request from the query string, and a message by parameter for what could
    not be used (the rest of the request still applies; an unknown value means "either")."""
    args = request.args
    shown = {key: args.get(key, "")[:MAX_SEARCH_LENGTH] for key in KEPT}
    method = shown["method"] if shown["method"] in set(LoginMethod) else None
    role = shown["role"] if shown["role"] in set(Role) else None
    flags: dict[str, Any] = {field: _flag(shown[name]) for name, field in FLAGS.items()}
    sort = shown["sort"] if shown["sort"] in set(UserSort) else UserSort.EMAIL
    unknown = [
        name
        for name, value in shown.items()
        if value
        and name != "q"
        and not (
            (name == "method" and method)
            or (name == "role" and role)
            or (name in FLAGS and flags[FLAGS[name]] is not None)
            or (name == "sort" and value == sort)
            or (name == "order" and value in ("asc", "desc"))
        )
    ]
    if "\x00" in shown["q"]:
        unknown.insert(0, "q")
        shown["q"] = shown["q"].replace("\x00", "")
    errors: Errors = {}
    for name in unknown:
        errors[name] = [_("This condition could not be used and was ignored.")]
        if name != "q":
            shown[name] = ""
    cursor = args.get("cursor") or None
    query = UserListQuery(
        contract_id=admin.contract.id,
        search=shown["q"],
        filters=UserFilters(
            method=LoginMethod(method) if method else None,
            role=Role(role) if role else None,
            **flags,
        ),
        sort=UserSort(sort),
        is_descending=shown["order"] == "desc",
        after=cursor[:1000] if cursor else None,
        limit=PAGE_SIZE,
    )
    return ListRequest(query, shown), errors


def _links(shown: dict[str, str], page: UserPage) -> dict[str, str | None]:
    kept: dict[str, Any] = {key: value for key, value in shown.items() if value}
    return {
        "first": url_for("admin_console.users", **kept),
        "next": url_for("admin_console.users", **kept, cursor=page.next_cursor)
        if page.next_cursor
        else None,
    }


def count_label(page: UserPage) -> str:
    """G2, X9: "1,000+" once the count is capped."""
    return f"{COUNT_CAP:,}+" if page.is_total_capped else f"{page.total:,}"


@bp.get("")
@console_page()
def home(admin: Admin) -> BaseResponse:
    return redirect(url_for("admin_console.users"), code=303)


@bp.get("/users")
@console_page()
def users(admin: Admin) -> BaseResponse:
    wanted, errors = _parse(admin)
    status = 200
    try:
        page = list_users(wanted.query)
    except ListingError:
        # A page link that is not this list's (edited, or of another sort): the first page.
        errors[PAGE_LINK] = [_("The page link is not valid. The first page is shown.")]
        status = 400
        page = list_users(replace(wanted.query, after=None))
    return Response(
        render_template(
            "admin/users.html",
            admin=admin,
            page=page,
            count=count_label(page),
            shown=wanted.shown,
            is_later_page=wanted.query.after is not None,
            links=_links(wanted.shown, page),
            methods=method_labels(),
            roles=role_labels(),
            sorts=sort_labels(),
            errors=errors,
            names=FIELDS,
            page_link=PAGE_LINK,
            done=request.args.get("done") if request.args.get("done") in DONE else None,
        ),
        status,
    )


def sort_labels() -> dict[str, str]:
    return {
        UserSort.EMAIL: _("Email address"),
        UserSort.NAME: _("Name"),
        UserSort.CREATED: _("Added"),
    }
