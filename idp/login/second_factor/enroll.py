"""Second-factor step, entry and enrollment (L4, L5): an enrolled user is challenged with
the first factor; a user without one enrolls, SMS first or an authenticator app."""

from __future__ import annotations

from typing import Any

from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp import extensions
from idp.actor import Actor
from idp.i18n import gettext as _
from idp.login.limits import reserve
from idp.login.second_factor.attempts import CODE_LIMIT
from idp.login.second_factor.attempts import refuse
from idp.login.second_factor.attempts import too_many_attempts
from idp.login.second_factor.flow import bp
from idp.login.second_factor.flow import page
from idp.login.second_factor.flow import verified
from idp.login.second_factor.sms import send_limited
from idp.login.second_factor.sms import sms_failure
from idp.login.second_factor.sms import sms_failure_status
from idp.login.steps import step
from idp.login.transaction import Transaction
from idp.models import User
from idp.twofactor import totp
from idp.twofactor.factors import add_factor
from idp.twofactor.factors import discard_unfinished_enrollment
from idp.twofactor.factors import factors_of
from idp.twofactor.factors import is_enrolled
from idp.twofactor.factors import primary_factor
from idp.twofactor.factors import seal
from idp.twofactor.factors import unseal
from idp.twofactor.phone import normalise_phone
from idp.twofactor.sms_codes import send_code
from policies.two_factor import second_factor_mode


@bp.get("/login/2fa")
@step("second_factor", user=True)
def start(tx: Transaction, user: User) -> BaseResponse:
    """Enrolled: challenge the first factor. Not yet: enroll, SMS first (L4)."""
    kinds = [factor.kind for factor in factors_of(user.id)]
    mode = second_factor_mode(user.two_factor_enrolled_at is not None, kinds)
    factor = primary_factor(user.id) if mode == "challenge" else None
    if factor is None:
        if not tx.data.get("enrolling"):
            discard_unfinished_enrollment(Actor.user(user.id, user.contract_id), user)
        return redirect(url_for("twofactor.enroll_sms", tx=tx.id), code=303)
    target = "twofactor.sms" if factor.kind == "sms" else "twofactor.app"
    return redirect(url_for(target, tx=tx.id), code=303)


@bp.route("/login/2fa/enroll/sms", methods=["GET", "POST"])
@step("second_factor", user=True)
def enroll_sms(tx: Transaction, user: User) -> BaseResponse:
    """L4: phone number → code sent (then ``sms_code``)."""
    if is_enrolled(user) and not tx.data.get("enrolling"):
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    if request.method == "GET":
        return page("2fa_enroll_sms.html", tx, user)
    phone = normalise_phone(request.form.get("phone", ""))
    if phone is None:
        return page(
            "2fa_enroll_sms.html",
            tx,
            user,
            400,
            error=_("Enter a mobile phone number that can receive SMS."),
            phone=request.form.get("phone", "")[:40],
        )
    outcome = send_code(tx.id, user.id, phone, tx.locale)
    if not outcome.sent and outcome.limit_key:
        return send_limited(tx, user, outcome.reason, outcome.limit_key)
    if not outcome.sent:
        return page(
            "2fa_enroll_sms.html",
            tx,
            user,
            sms_failure_status(outcome.reason),
            error=sms_failure(outcome.reason),
            phone=request.form.get("phone", "")[:40],
        )
    tx.data.update({"pending_phone": phone, "enrolling": True})
    tx.save()
    return redirect(url_for("twofactor.sms", tx=tx.id), code=303)


@bp.route("/login/2fa/enroll/app", methods=["GET", "POST"])
@step("second_factor", user=True)
def enroll_app(tx: Transaction, user: User) -> BaseResponse:
    """L5: QR code and otpauth URI, then one code from the app."""
    if is_enrolled(user) and not tx.data.get("enrolling"):
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    if "totp_sealed" not in tx.data:
        tx.data["totp_sealed"] = seal(totp.new_secret())
        tx.data["enrolling"] = True
        tx.save()
    secret = unseal(tx.data["totp_sealed"])
    uri = totp.provisioning_uri(secret, user.email)
    context: dict[str, Any] = {"uri": uri, "qr": totp.qr_svg_data_uri(uri), "secret": secret}
    if request.method == "GET":
        return page("2fa_enroll_app.html", tx, user, **context)
    attempt = reserve(CODE_LIMIT, user.id)
    if not attempt.allowed:
        return too_many_attempts(tx, user, CODE_LIMIT)
    time_step = totp.matching_step(secret, request.form.get("code", "")[:20])
    if time_step is None or not totp.claim_step(extensions.store(), f"tx-{tx.id}", time_step):
        refuse(user, "wrong_code")
        return page(
            "2fa_enroll_app.html", tx, user, 400, error=_("The code is not correct."), **context
        )
    attempt.hand_back()
    factor = add_factor(
        Actor.user(user.id, user.contract_id), user, "totp", {"secret": tx.data.pop("totp_sealed")}
    )
    # The enrollment code's step may not be used again for sign-in either.
    totp.claim_step(extensions.store(), factor.id, time_step)
    return verified(tx, user, "totp")
