"""Second-factor step (L4, L5, L6, X1, X2): enrollment (SMS first, or an authenticator app),
challenges, the recovery code and "remember this browser". Each page checks that the
transaction is at this step, so none can be skipped or reached out of turn."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for

from idp import audit
from idp.i18n import gettext as _
from idp.login.limits import Limit
from idp.login.limits import is_exhausted
from idp.login.limits import reserve
from idp.login.limits import too_many
from idp.login.transaction import Transaction
from idp.login.transaction import redirect_to_next_step
from idp.login.views import load_step
from idp.models import User
from idp.models import db
from idp.twofactor import totp
from idp.twofactor.factors import add_factor
from idp.twofactor.factors import complete_enrollment
from idp.twofactor.factors import discard_unfinished_enrollment
from idp.twofactor.factors import factors_of
from idp.twofactor.factors import is_enrolled
from idp.twofactor.factors import issue_recovery_code
from idp.twofactor.factors import primary_factor
from idp.twofactor.factors import seal
from idp.twofactor.factors import unseal
from idp.twofactor.factors import use_recovery_code
from idp.twofactor.phone import mask_phone
from idp.twofactor.phone import normalise_phone
from idp.twofactor.remembered import remember
from idp.twofactor.sms_codes import check_code
from idp.twofactor.sms_codes import has_pending_code
from idp.twofactor.sms_codes import send_code
from policies.assurance import amr_for_factor

bp = Blueprint("twofactor", __name__)

#: Wrong second-factor codes (authenticator app, SMS; failed passkeys count too) per user per
#: hour; past it every code is refused, even a right one, until the hour has passed.
MAX_FAILURES_PER_HOUR = 10
CODE_LIMIT = Limit("2fa-failures", MAX_FAILURES_PER_HOUR, 3600)
#: Wrong recovery codes per user per hour. A budget of its own: the recovery code (80 bits)
#: cannot be guessed in ten tries, and someone who used up the codes' budget must not also
#: shut the user out of "Lost your device?" (L6).
RECOVERY_LIMIT = Limit("2fa-recovery-failures", 10, 3600)


def _step() -> tuple[Transaction, User, Response | None]:
    tx, elsewhere = load_step("second_factor")
    user = db.session.get(User, tx.user_id) if tx.user_id else None
    if user is None and elsewhere is None:
        elsewhere = redirect(url_for("login.identify", tx=tx.id), code=303)
    return tx, user, elsewhere  # type: ignore[return-value]


def _page(
    template: str, tx: Transaction, user: User, status: int = 200, **context: Any
) -> Response:
    others = {f.kind for f in factors_of(user.id)}
    return Response(
        render_template(f"login/{template}", tx=tx, user=user, others=others, **context), status
    )


def _refused(user: User, reason: str) -> None:
    audit.record("second_factor", "refused", reason, user_id=user.id, contract_id=user.contract_id)


def _count_failure(user: User, reason: str) -> None:
    """A failure that was not reserved beforehand (a passkey, which cannot be guessed)."""
    current_app.extensions["idp.store"].incr(CODE_LIMIT.key(user.id), CODE_LIMIT.window)
    _refused(user, reason)


def _too_many(tx: Transaction, user: User, limit: Limit, is_attempt: bool = True) -> Response:
    """429: this user's wrong codes (or recovery codes) are used up for the hour; an attempt
    refused for it is audited."""
    if limit is RECOVERY_LIMIT:
        reason, alternative = "too_many_recovery_codes", None
    else:
        reason, alternative = "too_many_codes", "recovery" if is_enrolled(user) else None
    if is_attempt:
        _refused(user, reason)
    return too_many(limit.key(user.id), reason, tx=tx, alternative=alternative)


def _exhausted(tx: Transaction, user: User, limit: Limit) -> Response | None:
    """The 429 page instead of a form whose next entry would be refused anyway."""
    return _too_many(tx, user, limit, is_attempt=False) if is_exhausted(limit, user.id) else None


def is_domain_issuer() -> bool:
    """WebAuthn needs a domain as RP ID (§5.1.3): no passkeys on an IP-address issuer."""
    host = urlsplit(current_app.extensions["idp.settings"].issuer).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _verified(tx: Transaction, user: User, kind: str) -> Response:
    """One factor verified: record amr; enrollment goes on to the recovery code."""
    tx.amr = amr_for_factor(kind)
    tx.data["remember"] = request.form.get("remember") == "yes"
    audit.record(
        "second_factor",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"kind": kind},
    )
    if kind == "recovery" or not is_enrolled(user) or tx.data.get("enrolling"):
        tx.data["enrolling"] = not is_enrolled(user)
        tx.data["recovery_sealed"] = seal(issue_recovery_code(user))
        tx.save()
        return redirect(url_for("twofactor.recovery_code", tx=tx.id), code=303)
    return _achieve(tx, user)


def _achieve(tx: Transaction, user: User) -> Response:
    remember_browser = bool(tx.data.get("remember"))
    tx.data = {}
    tx.achieve("second_factor")
    tx.save()
    response = redirect_to_next_step(tx)
    if remember_browser:
        remember(user.id, response)
    return response


@bp.get("/login/2fa")
def start() -> Response:
    """Enrolled: challenge the first factor. Not yet: enroll, SMS first (L4)."""
    tx, user, elsewhere = _step()
    if elsewhere:
        return elsewhere
    factor = primary_factor(user.id) if is_enrolled(user) else None
    if factor is None:
        if not tx.data.get("enrolling"):
            discard_unfinished_enrollment(user)
        return redirect(url_for("twofactor.enroll_sms", tx=tx.id), code=303)
    target = "twofactor.sms" if factor.kind == "sms" else "twofactor.app"
    return redirect(url_for(target, tx=tx.id), code=303)


@bp.route("/login/2fa/enroll/sms", methods=["GET", "POST"])
def enroll_sms() -> Response:
    """L4: phone number → code sent (then ``sms_code``)."""
    tx, user, elsewhere = _step()
    if elsewhere:
        return elsewhere
    if is_enrolled(user) and not tx.data.get("enrolling"):
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    if request.method == "GET":
        return _page("2fa_enroll_sms.html", tx, user)
    phone = normalise_phone(request.form.get("phone", ""))
    if phone is None:
        return _page(
            "2fa_enroll_sms.html",
            tx,
            user,
            400,
            error=_("Enter a mobile phone number that can receive SMS."),
            phone=request.form.get("phone", "")[:40],
        )
    outcome = send_code(tx.id, user.id, phone, tx.locale)
    if not outcome.sent and outcome.limit_key:
        return _send_limited(tx, user, outcome.reason, outcome.limit_key)
    if not outcome.sent:
        return _page(
            "2fa_enroll_sms.html",
            tx,
            user,
            503,
            error=_sms_failure(outcome.reason),
            phone=request.form.get("phone", "")[:40],
        )
    tx.data.update({"pending_phone": phone, "enrolling": True})
    tx.save()
    return redirect(url_for("twofactor.sms", tx=tx.id), code=303)


def _send_limited(tx: Transaction, user: User, reason: str | None, key: str) -> Response:
    """429: the hour's SMS sends (per user or per number) are used up."""
    audit.record("sms_send", "refused", reason, user_id=user.id, contract_id=user.contract_id)
    enrolling = not is_enrolled(user) or bool(tx.data.get("enrolling"))
    alternative = "app" if enrolling else "recovery"
    return too_many(key, reason or "rate_limited_user", tx=tx, alternative=alternative)


def _sms_failure(reason: str | None) -> str:
    if reason in ("invalid_number", "unsupported_number"):
        return _(
            "This number cannot receive our SMS. Check the number, or use an authenticator app."
        )
    return _("The SMS could not be sent just now. Try again, or use an authenticator app.")


@bp.route("/login/2fa/sms", methods=["GET", "POST"])
def sms() -> Response:
    """L4/L6: send the code (a button, never on GET) and check it, with "remember"."""
    tx, user, elsewhere = _step()
    if elsewhere:
        return elsewhere
    enrolled = next((f for f in factors_of(user.id) if f.kind == "sms"), None)
    phone = tx.data.get("pending_phone") or (enrolled.data.get("phone") if enrolled else None)
    if phone is None:
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    context = {"masked": mask_phone(phone), "sent": has_pending_code(tx.id)}
    if request.method == "GET":
        return _exhausted(tx, user, CODE_LIMIT) or _page("2fa_sms.html", tx, user, **context)
    if request.form.get("action") == "send":
        outcome = send_code(tx.id, user.id, phone, tx.locale)
        if not outcome.sent and outcome.limit_key:
            return _send_limited(tx, user, outcome.reason, outcome.limit_key)
        if not outcome.sent:
            audit.record("sms_send", "refused", outcome.reason, user_id=user.id)
            return _page(
                "2fa_sms.html", tx, user, 503, error=_sms_failure(outcome.reason), **context
            )
        return redirect(url_for("twofactor.sms", tx=tx.id), code=303)
    attempt = reserve(CODE_LIMIT, user.id)
    if not attempt.allowed:
        return _too_many(tx, user, CODE_LIMIT)
    verified_phone, reason = check_code(tx.id, request.form.get("code", "")[:20])
    if verified_phone is None or verified_phone != phone:
        _refused(user, reason or "wrong_code")
        message = {
            "too_many_attempts": _("Too many wrong codes for this code. Send a new code."),
            "code_expired": _("The code has expired. Send a new code."),
        }.get(reason or "", _("The code is not correct."))
        return _page("2fa_sms.html", tx, user, 400, error=message, **context)
    attempt.hand_back()
    if enrolled is None:
        add_factor(user, "sms", {"phone": phone})
    return _verified(tx, user, "sms")


@bp.route("/login/2fa/enroll/app", methods=["GET", "POST"])
def enroll_app() -> Response:
    """L5: QR code and otpauth URI, then one code from the app."""
    tx, user, elsewhere = _step()
    if elsewhere:
        return elsewhere
    if is_enrolled(user) and not tx.data.get("enrolling"):
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    if "totp_sealed" not in tx.data:
        tx.data["totp_sealed"] = seal(totp.new_secret())
        tx.data["enrolling"] = True
        tx.save()
    secret = unseal(tx.data["totp_sealed"])
    uri = totp.provisioning_uri(secret, user.email)
    context = {"uri": uri, "qr": totp.qr_svg_data_uri(uri), "secret": secret}
    if request.method == "GET":
        return _page("2fa_enroll_app.html", tx, user, **context)
    attempt = reserve(CODE_LIMIT, user.id)
    if not attempt.allowed:
        return _too_many(tx, user, CODE_LIMIT)
    step = totp.matching_step(secret, request.form.get("code", "")[:20])
    if step is None or not totp.claim_step(
        current_app.extensions["idp.store"], f"tx-{tx.id}", step
    ):
        _refused(user, "wrong_code")
        return _page(
            "2fa_enroll_app.html", tx, user, 400, error=_("The code is not correct."), **context
        )
    attempt.hand_back()
    factor = add_factor(user, "totp", {"secret": tx.data.pop("totp_sealed")})
    # The enrollment code's step may not be used again for sign-in either.
    totp.claim_step(current_app.extensions["idp.store"], factor.id, step)
    return _verified(tx, user, "totp")


@bp.route("/login/2fa/app", methods=["GET", "POST"])
def app() -> Response:
    """L6: the authenticator app's current code; a code works once (replay refused)."""
    tx, user, elsewhere = _step()
    if elsewhere:
        return elsewhere
    factor = next((f for f in factors_of(user.id) if f.kind == "totp"), None)
    if factor is None:
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    if request.method == "GET":
        return _exhausted(tx, user, CODE_LIMIT) or _page("2fa_app.html", tx, user)
    attempt = reserve(CODE_LIMIT, user.id)
    if not attempt.allowed:
        return _too_many(tx, user, CODE_LIMIT)
    step = totp.matching_step(unseal(factor.data["secret"]), request.form.get("code", "")[:20])
    if step is None:
        _refused(user, "wrong_code")
        return _page("2fa_app.html", tx, user, 400, error=_("The code is not correct."))
    if not totp.claim_step(current_app.extensions["idp.store"], factor.id, step):
        _refused(user, "code_replayed")
        return _page(
            "2fa_app.html",
            tx,
            user,
            400,
            error=_("This code was already used. Wait for the next code."),
        )
    attempt.hand_back()
    return _verified(tx, user, "totp")


@bp.route("/login/2fa/recovery", methods=["GET", "POST"])
def recovery() -> Response:
    """L6: "Lost your device?" — the recovery code, accepted as copied."""
    tx, user, elsewhere = _step()
    if elsewhere:
        return elsewhere
    if request.method == "GET":
        return _exhausted(tx, user, RECOVERY_LIMIT) or _page("2fa_recovery.html", tx, user)
    attempt = reserve(RECOVERY_LIMIT, user.id)
    if not attempt.allowed:
        return _too_many(tx, user, RECOVERY_LIMIT)
    if not use_recovery_code(user, request.form.get("code", "")[:100]):
        _refused(user, "wrong_recovery_code")
        return _page(
            "2fa_recovery.html", tx, user, 400, error=_("The recovery code is not correct.")
        )
    attempt.hand_back()
    return _verified(tx, user, "recovery")


@bp.route("/login/2fa/recovery-code", methods=["GET", "POST"])
def recovery_code() -> Response:
    """L4/L6: the new recovery code, shown until the user ticks "I saved it"."""
    tx, user, elsewhere = _step()
    if elsewhere:
        return elsewhere
    sealed = tx.data.get("recovery_sealed")
    if not sealed:
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    code = unseal(sealed)
    if request.method == "GET":
        return _page(
            "2fa_recovery_code.html", tx, user, code=code, passkeys_possible=is_domain_issuer()
        )
    if request.form.get("saved") != "yes":
        return _page(
            "2fa_recovery_code.html",
            tx,
            user,
            400,
            code=code,
            passkeys_possible=is_domain_issuer(),
            error=_("Tick the box to confirm that you saved the recovery code."),
        )
    if tx.data.get("enrolling"):
        complete_enrollment(user)
        audit.record(
            "second_factor_enrolled", "ok", None, user_id=user.id, contract_id=user.contract_id
        )
    return _achieve(tx, user)
