"""K3: the forgot-password page. The links it mails are served by ``idp/links/``."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import render_template
from flask import request

from idp.actor import Actor
from idp.i18n import gettext as _
from idp.i18n import select_locale
from idp.users.reset import request_reset

bp = Blueprint("accounts", __name__)

MAX_EMAIL = 320


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> Response:
    if request.method == "GET":
        return Response(render_template("account/forgot.html", tx=request.args.get("tx", "")))
    email = request.form.get("email", "").strip()
    if not email or len(email) > MAX_EMAIL or "@" not in email:
        return Response(
            render_template(
                "account/forgot.html", email=email[:MAX_EMAIL], error=_("Enter your email address.")
            ),
            400,
        )
    request_reset(Actor.anonymous(), email, select_locale())
    # The same answer whether or not the address exists (K3).
    return Response(render_template("account/forgot_sent.html"))
