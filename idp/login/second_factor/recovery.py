"""The recovery code (L4, L6): "Lost your device?" signs in with it, and a new one is shown
until the user confirms it was saved."""

from __future__ import annotations

from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.actor import Actor
from idp.i18n import gettext as _
from idp.login.limits import reserve
from idp.login.second_factor.attempts import RECOVERY_LIMIT
from idp.login.second_factor.attempts import exhausted_page
from idp.login.second_factor.attempts import refuse
from idp.login.second_factor.attempts import too_many_attempts
from idp.login.second_factor.flow import achieve
from idp.login.second_factor.flow import bp
from idp.login.second_factor.flow import page
from idp.login.second_factor.flow import verified
from idp.login.second_factor.passkey import is_domain_issuer
from idp.login.steps import step
from idp.login.transaction import Transaction
from idp.models import User
from idp.twofactor.factors import complete_enrollment
from idp.twofactor.factors import unseal
from idp.twofactor.factors import use_recovery_code


@bp.route("/login/2fa/recovery", methods=["GET", "POST"])
@step("second_factor", user=True)
def recovery(tx: Transaction, user: User) -> BaseResponse:
    """L6: "Lost your device?" — the recovery code, accepted as copied."""
    if request.method == "GET":
        return exhausted_page(tx, user, RECOVERY_LIMIT) or page("2fa_recovery.html", tx, user)
    attempt = reserve(RECOVERY_LIMIT, user.id)
    if not attempt.allowed:
        return too_many_attempts(tx, user, RECOVERY_LIMIT)
    if not use_recovery_code(
        Actor.user(user.id, user.contract_id), user, request.form.get("code", "")[:100]
    ):
        refuse(user, "wrong_recovery_code")
        return page(
            "2fa_recovery.html", tx, user, 400, error=_("The recovery code is not correct.")
        )
    attempt.hand_back()
    return verified(tx, user, "recovery")


@bp.route("/login/2fa/recovery-code", methods=["GET", "POST"])
@step("second_factor", user=True)
def recovery_code(tx: Transaction, user: User) -> BaseResponse:
    """L4/L6: the new recovery code, shown until the user ticks "I saved it"."""
    sealed = tx.data.get("recovery_sealed")
    if not sealed:
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    code = unseal(sealed)
    if request.method == "GET":
        return page(
            "2fa_recovery_code.html", tx, user, code=code, passkeys_possible=is_domain_issuer()
        )
    if request.form.get("saved") != "yes":
        return page(
            "2fa_recovery_code.html",
            tx,
            user,
            400,
            code=code,
            passkeys_possible=is_domain_issuer(),
            error=_("Tick the box to confirm that you saved the recovery code."),
        )
    if tx.data.get("enrolling"):
        complete_enrollment(Actor.user(user.id, user.contract_id), user)
    return achieve(tx, user)
