"""The second-factor step's blueprint and what every factor shares: the page, a verified
factor (amr, then the recovery code while enrolling) and the end of the step ("remember this
browser")."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp import audit
from idp.actor import Actor
from idp.login.finish import finish_or_redirect
from idp.login.transaction import Transaction
from idp.models import User
from idp.twofactor.factors import factors_of
from idp.twofactor.factors import is_enrolled
from idp.twofactor.factors import issue_recovery_code
from idp.twofactor.factors import seal
from idp.twofactor.remembered import remember
from policies.assurance import amr_for_factor

bp = Blueprint("twofactor", __name__)


def page(
    template: str, tx: Transaction, user: User, status: int = 200, **context: Any
) -> BaseResponse:
    """A second-factor page; ``others`` lists the user's factors for "use another way"."""
    others = {f.kind for f in factors_of(user.id)}
    return Response(
        render_template(f"login/{template}", tx=tx, user=user, others=others, **context), status
    )


def verified(tx: Transaction, user: User, kind: str) -> BaseResponse:
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
        tx.data["recovery_sealed"] = seal(
            issue_recovery_code(Actor.user(user.id, user.contract_id), user)
        )
        tx.save()
        return redirect(url_for("twofactor.recovery_code", tx=tx.id), code=303)
    return achieve(tx, user)


def achieve(tx: Transaction, user: User) -> BaseResponse:
    """The step is done: on to the next one, remembering this browser when asked (L3)."""
    remember_browser = bool(tx.data.get("remember"))
    tx.data = {}
    tx.achieve("second_factor")
    # Finish here when nothing else is due (no /login/finish hop), else on to the next step.
    response = finish_or_redirect(tx, user)
    if remember_browser:
        remember(Actor.user(user.id, user.contract_id), user, response)
    return response
