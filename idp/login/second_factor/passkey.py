"""X1: passkeys and security keys as a second factor, in the second-factor step: added once
this sign-in has verified another factor, then offered at later sign-ins. WebAuthn needs a
domain as RP ID: on an IP-address issuer no passkey is offered."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from flask import redirect
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.i18n import gettext as _
from idp.login.second_factor.attempts import count_failure
from idp.login.second_factor.flow import bp
from idp.login.second_factor.flow import page
from idp.login.second_factor.flow import verified
from idp.login.steps import step
from idp.login.transaction import Transaction
from idp.models import User
from idp.models import db
from idp.twofactor.factors import add_factor
from idp.twofactor.factors import factors_of
from idp.twofactor.factors import is_enrolled
from idp.twofactor.passkeys import PasskeyError
from idp.twofactor.passkeys import StoredCredential
from idp.twofactor.passkeys import finish_authentication
from idp.twofactor.passkeys import finish_registration
from idp.twofactor.passkeys import start_authentication
from idp.twofactor.passkeys import start_registration


def is_domain_issuer() -> bool:
    """WebAuthn needs a domain as RP ID (§5.1.3): no passkeys on an IP-address issuer."""
    host = urlsplit(extensions.settings().issuer).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _rp() -> tuple[str, str]:
    """WebAuthn relying party: the issuer's host is the RP ID, its origin the origin."""
    issuer = urlsplit(extensions.settings().issuer)
    return str(issuer.hostname), f"{issuer.scheme}://{issuer.netloc}"


def _credentials(user: User) -> list[tuple[Any, StoredCredential]]:
    return [(f, StoredCredential(**f.data)) for f in factors_of(user.id) if f.kind == "passkey"]


@bp.route("/login/2fa/passkey/add", methods=["GET", "POST"])
@step("second_factor", user=True)
def add_passkey(tx: Transaction, user: User) -> BaseResponse:
    """X1: add a passkey or security key, once this sign-in has verified another factor."""
    if not tx.data.get("recovery_sealed"):
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    store = extensions.store()
    rp_id, origin = _rp()
    if request.method == "GET":
        options, state = start_registration(
            rp_id=rp_id,
            rp_name="WORKSDRIVE",
            user_id=user.id,
            user_name=user.email,
            user_display_name=user.name or user.email,
            existing=[c for _f, c in _credentials(user)],
        )
        store.set_json(f"webauthn:{tx.id}", state, 300)
        return page("2fa_passkey.html", tx, user, mode="register", options=options)
    state = store.pop_json(f"webauthn:{tx.id}")
    try:
        if state is None:
            raise PasskeyError("invalid_state")
        credential = finish_registration(
            state=state,
            credential_json=request.form.get("credential", "")[:20000],
            expected_origin=origin,
            rp_id=rp_id,
            name=request.form.get("name", "")[:60],
            now=time.time(),
        )
    except PasskeyError as error:
        audit.record("passkey_added", "refused", error.reason, user_id=user.id)
        return page(
            "2fa_passkey.html",
            tx,
            user,
            400,
            mode="register",
            options=None,
            error=_("The passkey could not be registered. Try again."),
        )
    add_factor(Actor.user(user.id, user.contract_id), user, "passkey", asdict(credential))
    return redirect(url_for("twofactor.recovery_code", tx=tx.id), code=303)


@bp.route("/login/2fa/passkey", methods=["GET", "POST"])
@step("second_factor", user=True)
def passkey(tx: Transaction, user: User) -> BaseResponse:
    """X1: sign in with a registered passkey or security key."""
    registered = _credentials(user)
    if not registered or not is_enrolled(user):
        return redirect(url_for("twofactor.start", tx=tx.id), code=303)
    store = extensions.store()
    rp_id, origin = _rp()
    if request.method == "GET":
        options, state = start_authentication(rp_id=rp_id, credentials=[c for _f, c in registered])
        store.set_json(f"webauthn:{tx.id}", state, 300)
        return page("2fa_passkey.html", tx, user, mode="authenticate", options=options)
    state = store.pop_json(f"webauthn:{tx.id}")
    try:
        if state is None:
            raise PasskeyError("invalid_state")
        used_id, sign_count = finish_authentication(
            state=state,
            credential_json=request.form.get("credential", "")[:20000],
            credentials=[c for _f, c in registered],
            expected_origin=origin,
            rp_id=rp_id,
        )
    except PasskeyError as error:
        count_failure(user, f"passkey_{error.reason}")
        return page(
            "2fa_passkey.html",
            tx,
            user,
            400,
            mode="authenticate",
            options=None,
            error=_("The passkey was not accepted. Try again or use another way."),
        )
    for factor, credential in registered:
        if credential.credential_id == used_id:
            factor.data = {**factor.data, "sign_count": sign_count}
            db.session.commit()
    return verified(tx, user, "passkey")
