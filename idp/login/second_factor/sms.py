"""SMS as a second factor (L4, L6): the code is sent on a button (never on GET) and checked
once, with "remember this browser"."""

from __future__ import annotations

from typing import Any

from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp import audit
from idp.actor import Actor
from idp.i18n import gettext as _
from idp.login.limits import reserve
from idp.login.limits import too_many
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
from idp.twofactor.factors import add_factor
from idp.twofactor.factors import factors_of
from idp.twofactor.factors import is_enrolled
from idp.twofactor.phone import mask_phone
from idp.twofactor.sms_codes import check_code
from idp.twofactor.sms_codes import has_pending_code
from idp.twofactor.sms_codes import send_code


def send_limited(tx: Transaction, user: User, reason: str | None, key: str) -> BaseResponse:
    """429: the hour's SMS sends (per user or per number) are used up."""
    audit.record("sms_send", "refused", reason, user_id=user.id, contract_id=user.contract_id)
    enrolling = not is_enrolled(user) or bool(tx.data.get("enrolling"))
    alternative = "app" if enrolling else "recovery"
    return too_many(key, reason or "rate_limited_user", tx=tx, alternative=alternative)


#: Reasons that lie with the number the person typed (400: theirs to fix); every other
#: failure is the gateway's (503: nothing the client did, retrying may work).
NUMBER_REASONS = frozenset({"invalid_number", "unsupported_number", "rejected"})


def sms_failure_status(reason: str | None) -> int:
    return 400 if reason in NUMBER_REASONS else 503


def sms_failure(reason: str | None) -> str:
    if reason in NUMBER_REASONS:
        return _(
            "This number cannot receive our SMS. Check the number, or use an authenticator app."
        )
    return _("The SMS could not be sent just now. Try again, or use an authenticator app.")


@bp.route("/login/2fa/sms", methods=["GET", "POST"])
@step("second_factor", user=True)
def sms(tx: Transaction, user: User) -> BaseResponse:
    """L4/L6: send the code (a button, never on GET) and check it, with "remember"."""
    enrolled = next((f for f in factors_of(user.id) if f.kind == "sms"), None)
    phone = tx.data.get("pending_phone") or (enrolled.data.get("phone") if enrolled else None)
    if phone is None:
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    context: dict[str, Any] = {"masked": mask_phone(phone), "sent": has_pending_code(tx.id)}
    if request.method == "GET":
        return exhausted_page(tx, user, CODE_LIMIT) or page("2fa_sms.html", tx, user, **context)
    if request.form.get("action") == "send":
        outcome = send_code(tx.id, user.id, phone, tx.locale)
        if not outcome.sent and outcome.limit_key:
            return send_limited(tx, user, outcome.reason, outcome.limit_key)
        if not outcome.sent:
            audit.record("sms_send", "refused", outcome.reason, user_id=user.id)
            status = sms_failure_status(outcome.reason)
            return page(
                "2fa_sms.html", tx, user, status, error=sms_failure(outcome.reason), **context
            )
        return redirect(url_for("twofactor.sms", tx=tx.id), code=303)
    attempt = reserve(CODE_LIMIT, user.id)
    if not attempt.allowed:
        return too_many_attempts(tx, user, CODE_LIMIT)
    verified_phone, reason = check_code(tx.id, request.form.get("code", "")[:20])
    if verified_phone is None or verified_phone != phone:
        refuse(user, reason or "wrong_code")
        message = {
            "too_many_attempts": _("Too many wrong codes for this code. Send a new code."),
            "code_expired": _("The code has expired. Send a new code."),
        }.get(reason or "", _("The code is not correct."))
        return page("2fa_sms.html", tx, user, 400, error=message, **context)
    attempt.hand_back()
    if enrolled is None:
        add_factor(Actor.user(user.id, user.contract_id), user, "sms", {"phone": phone})
    return verified(tx, user, "sms")
