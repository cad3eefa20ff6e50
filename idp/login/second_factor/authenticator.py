"""An authenticator app as a second factor (L6): the current code, each code once."""

from __future__ import annotations

from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp import extensions
from idp.i18n import gettext as _
from idp.login.limits import reserve
from idp.login.second_factor.attempts import CODE_LIMIT
from idp.login.second_factor.attempts import exhausted_page
from idp.login.second_factor.attempts import refuse
from idp.login.second_factor.attempts import too_many_attempts
from idp.login.second_factor.flow import bp
from idp.login.second_factor.flow import page
from idp.login.second_factor.flow import verified
from idp.login.steps import step
from idp.login.transaction import Transaction
from idp.models import User
from idp.twofactor import totp
from idp.twofactor.factors import factors_of
from idp.twofactor.factors import unseal


@bp.route("/login/2fa/app", methods=["GET", "POST"])
@step("second_factor", user=True)
def app(tx: Transaction, user: User) -> BaseResponse:
    """L6: the authenticator app's current code; a code works once (replay refused)."""
    factor = next((f for f in factors_of(user.id) if f.kind == "totp"), None)
    if factor is None:
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    if request.method == "GET":
        return exhausted_page(tx, user, CODE_LIMIT) or page("2fa_app.html", tx, user)
    attempt = reserve(CODE_LIMIT, user.id)
    if not attempt.allowed:
        return too_many_attempts(tx, user, CODE_LIMIT)
    time_step = totp.matching_step(unseal(factor.data["secret"]), request.form.get("code", "")[:20])
    if time_step is None:
        refuse(user, "wrong_code")
        return page("2fa_app.html", tx, user, 400, error=_("The code is not correct."))
    if not totp.claim_step(extensions.store(), factor.id, time_step):
        refuse(user, "code_replayed")
        return page(
            "2fa_app.html",
            tx,
            user,
            400,
            error=_("This code was already used. Wait for the next code."),
        )
    attempt.hand_back()
    return verified(tx, user, "totp")
