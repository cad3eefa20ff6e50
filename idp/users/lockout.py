"""K1, K2, T2, X7: locking (after failures, or by an admin), the lock mail with its unlock
link, unlocking, and clearing the second factor."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import bindparam
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.mail import send_mail
from idp.models import SecondFactor
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.sso import sign_out_everywhere
from idp.twofactor.remembered import revoke_all
from idp.users.links import create_link
from policies.lockout import MAX_FAILED_LOGINS

_USERS = User.__table__
#: K1's reservation, built once (issue 13: building and compiling the ORM's bulk update on
#: every sign-in cost more CPU than running it).
_RESERVE = (
    update(_USERS)
    .where(
        _USERS.c.id == bindparam("user_id"),
        _USERS.c.locked_at.is_(None),
        _USERS.c.failed_logins < MAX_FAILED_LOGINS,
    )
    .values(failed_logins=_USERS.c.failed_logins + 1)
    .returning(_USERS.c.failed_logins)
)


def reserve_password_attempt(user_id: str) -> int | None:
    """K1: count a password attempt before checking it (the sign-in's, or the current
    password of a password change); None when locked or at the limit. Atomic, so parallel
    wrong passwords cannot pass the limit.

    :returns: this attempt's number in the row of failures.
    """
    row = db.session.connection().execute(_RESERVE, {"user_id": user_id}).first()
    count = None if row is None else int(row[0])
    held = db.session.identity_map.get(identity_key(User, user_id))
    if held is not None and count is not None:
        # What the statement wrote, as the ORM's update synchronised it (a later
        # ``failed_logins = 0`` must be seen as a change).
        set_committed_value(held, "failed_logins", count)
    db.session.commit()
    return count


@audit.change("lock")
def lock_account(actor: Actor, user: User) -> None:
    """Lock once (the first caller wins) and mail the unlock link (K1)."""
    result = db.session.execute(
        update(User).where(User.id == user.id, User.locked_at.is_(None)).values(locked_at=utcnow())
    )
    db.session.commit()
    if rowcount(result) != 1:
        return
    audit.record(
        "lock",
        "ok",
        "too_many_failures",
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    extensions.mailer.of(app).submit(app, _send_lock_mail, user.id)


#: The audit reason of a lock an admin (or the operator) asked for.
ADMIN_LOCK = "admin_lock"


@audit.change("lock")
def lock_by_admin(actor: Actor, user: User) -> int:
    """G4, X7: an admin locks the account: locked (no sign-in until an admin unlocks it or a
    password reset, K2), mailed links sent before are void (X4: the account's state changed),
    and the user is signed out everywhere with back-channel logout to every client.

    No unlock link is mailed: the user did not cause this lock and cannot undo it by mail.

    :returns: how many token families were live and are now revoked."""
    user.locked_at = user.locked_at or utcnow()
    user.state_version = user.state_version + 1  # voids older links (an unlock link too)
    db.session.commit()
    revoked = sign_out_everywhere(actor, user, ADMIN_LOCK)
    audit.record(
        "lock", "ok", ADMIN_LOCK, user_id=user.id, contract_id=user.contract_id, actor=actor
    )
    return revoked


def _send_lock_mail(user_id: str) -> None:
    user = db.session.get(User, user_id)
    if user is None:
        return
    url = create_link(user, "unlock")
    send_mail(user.email, "lock", user.locale, user=user, url=url, days=14)


@audit.change("unlock")
def unlock_account(actor: Actor, user: User) -> None:
    db.session.execute(
        update(User).where(User.id == user.id).values(locked_at=None, failed_logins=0)
    )
    db.session.commit()
    audit.record("unlock", "ok", None, user_id=user.id, contract_id=user.contract_id, actor=actor)


@audit.change("two_factor_reset")
def reset_two_factor(actor: Actor, user: User, reason: str) -> None:
    """T2: clear the 2FA registration (factors, recovery code) and forget remembered
    browsers (X2); the next login enrolls again.

    :param reason: the reason code (``password_reset``, ``admin_reset`` …)."""
    db.session.query(SecondFactor).filter_by(user_id=user.id).delete()
    user.two_factor_enrolled_at = None
    revoke_all(actor, user, reason)  # commits
    audit.record(
        "two_factor_reset", "ok", reason, user_id=user.id, contract_id=user.contract_id, actor=actor
    )
