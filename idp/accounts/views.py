"""Forgot password (K3) and mailed links (K1, K2, K3): GET shows, POST acts (X4)."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import g
from flask import render_template
from flask import request

from idp.accounts.links import consume_link
from idp.accounts.links import resolve_link
from idp.actor import Actor
from idp.errors import LinkError
from idp.i18n import gettext as _
from idp.models import User
from idp.users.lockout import unlock_account
from idp.users.passwords import password_problems
from idp.users.reset import request_reset
from idp.users.reset import set_new_password

bp = Blueprint("accounts", __name__)

MAX_EMAIL = 320
MAX_PASSWORD_FIELD = 1024


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
    request_reset(Actor.anonymous(), email)
    # The same answer whether or not the address exists (K3).
    return Response(render_template("account/forgot_sent.html"))


def _password_errors(user: User, password: str, confirmation: str) -> list[str]:
    messages = {
        "too_short": _("Use at least 8 characters."),
        "too_long": _("Use at most 128 characters."),
        "too_few_classes": _(
            "Use at least 3 of: upper-case letters, lower-case letters, digits, symbols."
        ),
        "common": _("This password is too common. Choose another."),
        "is_email": _("Do not use your email address as the password."),
    }
    errors = [messages[p] for p in password_problems(password, user.email)]
    if password != confirmation:
        errors.append(_("The two passwords do not match."))
    return errors


@bp.get("/links/<token>")
def open_link(token: str) -> Response:
    """Show the link's confirm page; changes nothing (mail scanners open links)."""
    link, user = resolve_link(token)
    g.locale = user.locale
    return Response(render_template(f"account/link_{link.purpose}.html", token=token, user=user))


@bp.post("/links/<token>")
def use_link(token: str) -> Response:
    link, user = resolve_link(token)
    g.locale = user.locale
    if link.purpose == "reset":
        password = request.form.get("password", "")[:MAX_PASSWORD_FIELD]
        confirmation = request.form.get("password_confirmation", "")[:MAX_PASSWORD_FIELD]
        errors = _password_errors(user, password, confirmation)
        if errors:
            return Response(
                render_template("account/link_reset.html", token=token, user=user, errors=errors),
                400,
            )
        if not consume_link(link):
            raise LinkError("used")
        set_new_password(Actor.user(user.id, user.contract_id), user, password)
        return Response(render_template("account/reset_done.html"))
    if not consume_link(link):
        raise LinkError("used")
    unlock_account(Actor.user(user.id, user.contract_id), user)
    return Response(render_template("account/unlock_done.html"))
