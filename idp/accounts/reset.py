"""K3: forgot password → mail → new password; unlocks and clears 2FA (T2)."""

from __future__ import annotations

import hashlib

from flask import current_app

from idp import audit
from idp.accounts.links import create_link
from idp.accounts.lockout import reset_two_factor
from idp.login.identify import email_key
from idp.login.identify import find_user_by_email
from idp.mail import send_mail
from idp.models import User
from idp.models import db
from idp.oidc.tokens import revoke_user_families

#: At most this many reset mails per address per hour; more are dropped silently.
RESET_MAILS_PER_HOUR = 5


def request_reset(email: str) -> None:
    """Queue the reset mail when the address belongs to a ``password`` user.

    The caller answers the same in every case, and the lookup and mail happen off the
    request thread, so that neither the answer nor its timing reveals the account (K3)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    app.extensions["idp.mailer"].submit(app, _send_reset_mail, email)


def _send_reset_mail(email: str) -> None:
    user = find_user_by_email(email)
    if user is None or user.login_method != "password":
        audit.record("reset_requested", "refused", "unknown_or_not_password")
        return
    store = current_app.extensions["idp.store"]
    digest = hashlib.sha256(email_key(email).encode()).hexdigest()
    if store.incr("reset-mails:" + digest, 3600) > RESET_MAILS_PER_HOUR:
        audit.record("reset_requested", "refused", "rate_limited", user_id=user.id)
        return
    url = create_link(user, "reset")
    send_mail(user.email, "reset", user.locale, user=user, url=url, days=14)
    audit.record("reset_requested", "ok", None, user_id=user.id, contract_id=user.contract_id)


def set_new_password(user: User, password: str) -> None:
    """Set the password, unlock, clear 2FA, void older links and end sessions and tokens."""
    user.password_hash = current_app.extensions["idp.passwords"].hash(password)
    user.locked_at = None
    user.failed_logins = 0
    user.state_version = user.state_version + 1
    reset_two_factor(user, "password_reset")
    db.session.commit()
    revoke_user_families(user.id, "password_reset")
    audit.record("password_reset", "ok", None, user_id=user.id, contract_id=user.contract_id)
