"""K3: forgot password → mail → new password; unlocks and clears 2FA (T2)."""

from __future__ import annotations

import hashlib

from flask import current_app

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.backchannel.notify import notify_logout
from idp.mail import send_mail
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import db
from idp.sso import revoke_token_families
from idp.users.find import email_key
from idp.users.find import find_user_by_email
from idp.users.invitations import pending_invitation
from idp.users.links import create_link
from idp.users.lockout import reset_two_factor
from idp.vocabulary import LoginMethod

#: At most this many reset mails per address per hour; more are dropped silently.
RESET_MAILS_PER_HOUR = 5


@audit.change("reset_requested")
def request_reset(actor: Actor, email: str, locale: str) -> None:
    """Queue the reset mail when the address belongs to a ``password`` user, in ``locale``:
    the language of the page the person asked on (not the account's stored one).

    The caller answers the same in every case, and the lookup, mail and audit event happen
    off the request thread, so that neither the answer nor its timing reveals the account
    (K3)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    extensions.mailer.of(app).submit(app, _send_reset_mail, actor, email, locale)


def _send_reset_mail(actor: Actor, email: str, locale: str) -> None:
    user = find_user_by_email(email)
    if user is None or user.login_method != LoginMethod.PASSWORD:
        audit.record("reset_requested", "refused", "unknown_or_not_password", actor=actor)
        return
    if pending_invitation(user) is not None:
        # L10: an invited user registers through the invitation link, not a reset.
        audit.record("reset_requested", "refused", "not_registered", user_id=user.id, actor=actor)
        return
    store = extensions.store()
    digest = hashlib.sha256(email_key(email).encode()).hexdigest()
    if store.incr("reset-mails:" + digest, 3600) > RESET_MAILS_PER_HOUR:
        audit.record("reset_requested", "refused", "rate_limited", user_id=user.id, actor=actor)
        return
    mail_reset_link(user, locale=locale)
    audit.record(
        "reset_requested", "ok", None, user_id=user.id, contract_id=user.contract_id, actor=actor
    )


def mail_reset_link(user: User, *, reverted: bool = False, locale: str | None = None) -> None:
    """Mail a reset link (14 days) to the account's address: a step of an audited change
    (the forgot-password request, the "this was not me" revert of X6).

    :param reverted: the mail says that a change was reverted and the account locked.
    :param locale: the language the person asked in; None (a mail not asked for now): the
        account's stored language."""
    url = create_link(user, "reset")
    language = locale or user.locale
    send_mail(user.email, "reset", language, user=user, url=url, days=14, reverted=reverted)


@audit.change("password_reset")
def set_new_password(actor: Actor, user: User, password: str) -> None:
    """Set the password, unlock, clear 2FA, void older links and end sessions and tokens.

    An account whose method is an upstream gets here only from the reset link of a "this
    was not me" revert (X6; the forgot-password request mails ``password`` users alone):
    the reset makes ``password`` its method and unbinds its upstream identities."""
    if user.login_method != LoginMethod.PASSWORD:
        user.login_method = LoginMethod.PASSWORD
        db.session.query(UpstreamIdentity).filter_by(user_id=user.id).delete()
    user.password_hash = extensions.passwords().hash(password)
    user.locked_at = None
    user.failed_logins = 0
    user.state_version = user.state_version + 1
    reset_two_factor(actor, user, "password_reset")  # commits
    notify_logout(actor, user.id, reason="password_reset")  # X7
    revoke_token_families(user.id, "password_reset")
    audit.record(
        "password_reset", "ok", None, user_id=user.id, contract_id=user.contract_id, actor=actor
    )
