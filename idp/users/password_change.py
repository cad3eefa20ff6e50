"""P1: a signed-in ``password`` user changes the password with the current one.

The current password counts towards K1 like a sign-in's: a wrong one is a failed attempt in
the same row of ten, so a session left open (or stolen) cannot be used to guess the password
without locking the account. A change voids older mailed links (``state_version``), ends the
user's other sessions and token families, and forgets remembered browsers (X2)."""

from __future__ import annotations

from sqlalchemy import update

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.errors import DomainError
from idp.models import User
from idp.models import db
from idp.sso import SsoSession
from idp.sso import sign_out_other_sessions
from idp.twofactor.remembered import revoke_all
from idp.users.lockout import lock_account
from idp.users.lockout import reserve_password_attempt
from idp.users.passwords import password_problems
from idp.vocabulary import LoginMethod
from policies.lockout import locks_after_failure

REASON = "password_change"


class PasswordChangeError(DomainError):
    default_reason = "password_change_refused"


@audit.change("password_change")
def change_password(
    actor: Actor, user: User, current: str, new: str, keep: SsoSession
) -> SsoSession:
    """Check ``current`` (K1), then P2 for ``new``, then set it.

    :param keep: the session the change is made in; it continues (rotated).
    :returns: the session that replaces ``keep`` (set its cookie).
    :raises PasswordChangeError: reason ``not_password_method``, ``locked``,
        ``wrong_password`` or ``weak_password``.
    """
    if user.login_method != LoginMethod.PASSWORD:
        raise PasswordChangeError(
            "This account does not sign in with a password.", "not_password_method"
        )
    hashing = extensions.passwords()
    attempt = reserve_password_attempt(user.id)
    if attempt is None:
        hashing.verify(None, current)  # the same cost as a check
        raise PasswordChangeError("The account is locked.", "locked")
    if not hashing.verify(user.password_hash, current):
        if locks_after_failure(attempt):
            lock_account(Actor.system(REASON), user)
        raise PasswordChangeError("The current password is not correct.", "wrong_password")
    problems = password_problems(new, user.email)
    if problems:
        db.session.execute(update(User).where(User.id == user.id).values(failed_logins=0))
        db.session.commit()
        raise PasswordChangeError("The new password breaks the password rule.", "weak_password")
    user.password_hash = hashing.hash(new)
    user.failed_logins = 0
    user.state_version = user.state_version + 1  # voids older mailed links and sessions
    db.session.commit()
    revoke_all(actor, user, REASON)
    session = sign_out_other_sessions(actor, user, keep, REASON)
    audit.record(
        "password_change", "ok", None, user_id=user.id, contract_id=user.contract_id, actor=actor
    )
    return session
