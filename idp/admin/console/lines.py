"""G5, A2, D2: the contract's line numbers — listed, added (several at once, each checked:
``CAF`` + 10 or ``COP`` + 8, spaces and hyphens as on NTT's paperwork are dropped) and removed,
through :mod:`idp.contracts.lines`, which audits each change; the access route as it is now
(changed at /admin/route); and the Active Directory setting, read-only (D2: the contractor
changes it in the account menu)."""

from __future__ import annotations

import re

from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.admin.console.guard import Admin
from idp.admin.console.guard import bp
from idp.admin.console.guard import console_page
from idp.admin.console.route import route_labels
from idp.contracts.ad import ad_login_urls
from idp.contracts.ad import contract_connection
from idp.contracts.lines import add_line
from idp.contracts.lines import list_lines
from idp.contracts.lines import remove_line
from idp.errors import ProvisioningError
from idp.i18n import gettext as _
from policies.line_numbers import MAX_INPUT_LENGTH
from policies.line_numbers import normalise_line_number

#: Numbers are separated by new lines, commas or semicolons (spaces belong to a number).
SEPARATOR = re.compile(r"[\r\n,;、]+")
#: The most numbers one form adds.
MAX_AT_ONCE = 100
#: What the page says after an operation (``?done=``).
DONE = ("added", "removed", "route")


def _page(
    admin: Admin, numbers: str = "", errors: list[str] | None = None, status: int = 200
) -> BaseResponse:
    """The page; ``errors``: the messages about the numbers entered, shown beside the field."""
    connection = contract_connection(admin.contract.id)
    urls = ad_login_urls(connection.connection_id) if connection else None
    done = request.args.get("done")
    return Response(
        render_template(
            "admin/lines.html",
            admin=admin,
            lines=list_lines(admin.contract.id),
            numbers=numbers,
            errors={"numbers": errors} if errors else {},
            route=route_labels()[admin.contract.access_route],
            is_line_only=admin.contract.access_route == "line-only",
            connection=connection,
            urls=urls,
            done=done if done in DONE else None,
        ),
        status,
    )


def _check(entries: list[str], registered: set[str]) -> tuple[list[str], list[str]]:
    """(the numbers to add, a message per entry that cannot be added)."""
    numbers: list[str] = []
    errors: list[str] = []
    for entry in entries:
        number = normalise_line_number(entry)
        shown = entry if len(entry) <= MAX_INPUT_LENGTH else entry[:MAX_INPUT_LENGTH] + "…"
        if number is None:
            errors.append(
                _("%(entry)s is not a line number (CAF + 10 letters or digits, or COP + 8).")
                % {"entry": shown}
            )
        elif number in registered:
            errors.append(_("%(number)s is already registered.") % {"number": number})
        elif number in numbers:
            errors.append(_("%(number)s is entered twice.") % {"number": number})
        else:
            numbers.append(number)
    return numbers, errors


@bp.get("/lines")
@console_page()
def lines(admin: Admin) -> BaseResponse:
    return _page(admin)


@bp.post("/lines")
@console_page()
def add_lines(admin: Admin) -> BaseResponse:
    raw = request.form.get("numbers", "")[: MAX_AT_ONCE * (MAX_INPUT_LENGTH + 2)]
    entries = [entry.strip() for entry in SEPARATOR.split(raw) if entry.strip()]
    if not entries:
        return _page(admin, raw, [_("Enter one or more line numbers.")], 400)
    if len(entries) > MAX_AT_ONCE:
        message = _("Enter at most %(count)d numbers at once.") % {"count": MAX_AT_ONCE}
        return _page(admin, raw, [message], 400)
    registered = {line.number for line in list_lines(admin.contract.id)}
    numbers, errors = _check(entries, registered)
    if errors:
        # Nothing is added until every number can be: the form comes back to be fixed.
        return _page(admin, raw, errors, 400)
    for number in numbers:
        try:
            add_line(admin.actor, admin.contract.id, number)
        except ProvisioningError:
            continue  # added meanwhile by someone else: it is registered, as asked
    return redirect(url_for("admin_console.lines", done="added"), code=303)


@bp.post("/lines/remove")
@console_page()
def remove(admin: Admin) -> BaseResponse:
    number = request.form.get("number", "")[:MAX_INPUT_LENGTH]
    # Another contract's number, or none, is not found here (G8): the 404 page.
    remove_line(admin.actor, admin.contract.id, number)
    return redirect(url_for("admin_console.lines", done="removed"), code=303)
