"""M1, M7: the email change of the account menu (the basic contractor's alone, U2): the
current address, the new one twice → the link goes to the new address
(:func:`idp.users.email_change.request_email_change`) → a page saying so, with what to do
when nothing arrives. Nothing changes until the mailed link is used (idp/links/email_change.py).
"""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.i18n import gettext as _
from idp.i18n import select_locale
from idp.login.limits import Limit
from idp.login.limits import reserve
from idp.login.limits import too_many
from idp.users.add import MAX_EMAIL
from idp.users.email_change import EmailChangeError
from idp.users.email_change import request_email_change
from idp.vocabulary import MenuItem
from policies.links import LINK_VALIDITY

ENDPOINTS[MenuItem.EMAIL_CHANGE] = "account_menu.email_change"

#: Each request that gets past the form counts, whether it mails or is refused: the limit
#: keeps a signed-in account from mailing strangers' addresses in bulk and from probing which
#: addresses are taken ("email_unavailable") faster than a person would.
REQUEST_LIMIT = Limit("email-change-requests", 5, 3600)


def _page(
    person: Person, errors: dict[str, list[str]], status: int, new_email: str = ""
) -> BaseResponse:
    page = render_template(
        "account/email.html", user=person.user, errors=errors, new_email=new_email
    )
    return Response(page, status)


def _refusal(error: EmailChangeError) -> str:
    messages = {
        "invalid_email": _("Enter a valid email address."),
        "same_email": _("This is already your email address."),
        # The same words whoever uses the address (L2, G8).
        "email_unavailable": _("This address cannot be used. Enter another address."),
    }
    return messages.get(error.reason, _("The email address could not be changed."))


@bp.route("/account/email", methods=["GET", "POST"])
@menu_item(MenuItem.EMAIL_CHANGE)
def email_change(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _page(person, {}, 200)
    new_email = request.form.get("new_email", "").strip()[: MAX_EMAIL + 1]
    confirmation = request.form.get("new_email_confirmation", "").strip()[: MAX_EMAIL + 1]
    errors: dict[str, list[str]] = {}
    if not new_email:
        errors["new_email"] = [_("Enter the new email address.")]
    if new_email != confirmation:
        errors["new_email_confirmation"] = [_("The two addresses do not match.")]
    if errors:
        return _page(person, errors, 400, new_email)
    attempt = reserve(REQUEST_LIMIT, person.user.id)
    if not attempt.allowed:
        return too_many(
            attempt.key,
            "email_change_rate_limited",
            back_url=url_for("account_menu.menu"),
            back_label=_("Back to the menu"),
        )
    actor = Actor.user(person.user.id, person.user.contract_id)
    try:
        link = request_email_change(actor, person.user, new_email, locale=select_locale())
    except EmailChangeError as error:
        return _page(person, {"new_email": [_refusal(error)]}, 400, new_email)
    page = render_template(
        "account/email_sent.html",
        user=person.user,
        new_email=link.data["new_email"],
        days=LINK_VALIDITY.days,
    )
    return Response(page)
