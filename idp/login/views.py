"""Hosted login pages (L1): thin views over the steps (STYLE.md §6)."""

from __future__ import annotations

import re

from flask import Blueprint
from flask import Response
from flask import g
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.actor import Actor
from idp.contracts.lines import choose_line_notification
from idp.i18n import gettext as _
from idp.login import finish as finish_step
from idp.login.gate import admit
from idp.login.identify import check_password_login
from idp.login.limits import too_many
from idp.login.refusal import deny
from idp.login.route import route_of_request
from idp.login.step_pages import render_consent
from idp.login.step_pages import render_identify
from idp.login.steps import is_due
from idp.login.steps import step
from idp.login.transaction import Transaction
from idp.login.transaction import bind_browser
from idp.login.transaction import browser_for_transaction
from idp.login.transaction import redirect_to_next_step
from idp.models import LineNumber
from idp.models import User
from idp.models import db
from idp.sso import current_session
from idp.vocabulary import Target
from policies.assurance import PASSWORD_AMR

bp = Blueprint("login", __name__)

MAX_EMAIL = 320
#: Pages of the account menu a sign-in may return to.
ACCOUNT_PATH = re.compile(r"/account(/[a-z][a-z-]{0,40})?")
#: Pages of the admin console (G1) a sign-in may return to: each segment starts with a
#: letter or digit, so the path never becomes ``//host`` or ``/\host`` (another site).
CONSOLE_PATH = re.compile(r"/admin(/[a-z0-9][a-z0-9-]{0,40}){0,3}")
#: Above policies.password.MAX_LENGTH so that an over-long password still gets one honest
#: verification; bounded so that the hashing cost is bounded.
MAX_PASSWORD = 1024


@bp.get("/login")
@bp.get("/line/login", endpoint="line_identify")
@step("identify")
def identify(tx: Transaction) -> BaseResponse:
    return render_identify(tx)


@bp.post("/login")
@bp.post("/line/login", endpoint="line_identify_password")
@step("identify", one_transaction=True)
def identify_password(tx: Transaction) -> BaseResponse:
    # The route is that of the identifying request: the line login URL with valid gateway
    # headers, or the internet.
    tx.route = route_of_request()
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    if not email or not password or len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
        return render_identify(
            tx, email[:MAX_EMAIL], _("Enter your email address and password."), 400
        )
    result = check_password_login(email, password, request.remote_addr)
    if result.limit_key:
        return too_many(result.limit_key, "ip_rate_limited", tx=tx)
    if result.user is None:
        message = (
            _(
                "This account is locked. If the address is registered, we have sent a mail "
                "with a link to unlock it. You can also reset your password."
            )
            if result.looks_locked
            else _("The email address or password is not correct.")
        )
        return render_identify(tx, email, message, 401)
    refused = admit(tx, result.user, list(PASSWORD_AMR), result.contract)
    if refused is not None:
        return refused
    if is_due(tx, "consent"):
        # The consent page in answer to the password itself (one round trip less than a
        # redirect to it, issue 13; Keycloak's login actions do the same). Its form posts to
        # /login/consent; a reload re-sends this form, which the step guard answers with a
        # redirect to the consent page (the identify step is achieved), never a second check.
        tx.save()
        return render_consent(tx)
    return finish_step.finish_or_redirect(tx, result.user)


@bp.route("/line/notice", methods=["GET", "POST"])
@bp.route("/login/line-notice", methods=["GET", "POST"], endpoint="line_notice")
@step("line_notice", user=True)
def line_notice(tx: Transaction, user: User) -> BaseResponse:
    """L9: West Japan — at a line's first line-authenticated access, notify or do not notify
    (then decide); the choice is kept per line. "Do not notify" closes line authentication
    for that line."""
    line = tx.route.get("line")
    row = db.session.get(LineNumber, (user.contract_id, line)) if line else None
    if row is None:
        return redirect(url_for("login.identify", tx=tx.id), code=303)
    if request.method == "GET":
        return Response(render_template("login/line_notice.html", tx=tx, line=line))
    choice = request.form.get("choice")
    if choice not in ("notify", "do_not_notify"):
        return Response(
            render_template(
                "login/line_notice.html", tx=tx, line=line, error=_("Choose one of the two.")
            ),
            400,
        )
    actor = Actor.user(user.id, user.contract_id)
    choose_line_notification(actor, user.contract_id, row.number, choice)
    if choice == "do_not_notify":
        tx.close()
        return Response(
            render_template("login/refused.html", reason="line_notification_declined"), 403
        )
    tx.achieve("line_notice")
    return finish_step.finish_or_redirect(tx, user)


def account_return_path() -> str | None:
    """The ``next`` of the account menu's sign-in when it is a page of the menu or of the
    admin console (never another site: an open redirect)."""
    value = request.args.get("next", "")
    return value if ACCOUNT_PATH.fullmatch(value) or CONSOLE_PATH.fullmatch(value) else None


@bp.get("/account/login")
def account_login() -> BaseResponse:
    """U1: the account menu's own login page: a transaction without a relying party.

    ``next``: the menu page to come back to (only a path of the menu). ``reauth=1``: the
    menu's fresh-factor guard asks again (``prompt=login``, ``max_age=0`` for upstreams)."""
    browser, fresh = browser_for_transaction()
    reauth = request.args.get("reauth") == "1"
    found = current_session() if reauth else None
    tx = Transaction.open(
        browser,
        params={"prompt": "login", "max_age": "0"} if reauth else {},
        client_id="",
        target=Target.ACCOUNT_MENU,
        locale=g.get("locale") or request.cookies.get("lang") or "ja",
        login_hint=found[1].email if found else "",
        data={"return_to": return_to} if (return_to := account_return_path()) else {},
    )
    tx.save()
    response = redirect_to_next_step(tx)
    if fresh:
        bind_browser(response, browser)
    return response


@bp.route("/login/consent", methods=["GET", "POST"])
@step("consent", one_transaction=True, ends_on_post=True)
def consent(tx: Transaction) -> BaseResponse:
    if request.method == "POST":
        if request.form.get("decision") != "allow":
            return deny(tx)
        tx.achieve("consent")
        return finish_step.finish_or_redirect(tx)
    return render_consent(tx)


@bp.get("/login/finish")
@step("finish", one_transaction=True)
def finish(tx: Transaction) -> BaseResponse:
    if tx.user_id is None:
        return redirect(url_for("login.identify", tx=tx.id), code=303)
    return finish_step.finish(tx)
