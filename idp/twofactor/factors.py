"""Enrolled factors of a user (``second_factors`` rows) and the recovery code (L4–L6, T2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from idp import extensions
from idp.models import SecondFactor
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.twofactor import recovery

FACTOR_KINDS = ("sms", "totp", "passkey")


def factors_of(user_id: str) -> list[SecondFactor]:
    return list(
        db.session.query(SecondFactor)
        .filter(SecondFactor.user_id == user_id, SecondFactor.kind.in_(FACTOR_KINDS))
        .order_by(SecondFactor.created_at)
        .all()
    )


def primary_factor(user_id: str) -> SecondFactor | None:
    """The factor a challenge asks for first: the one enrolled first (SMS or app)."""
    for factor in factors_of(user_id):
        if factor.kind in ("sms", "totp"):
            return factor
    return None


def add_factor(user: User, kind: str, data: dict[str, Any]) -> SecondFactor:
    factor = SecondFactor(user_id=user.id, kind=kind, data=data)
    db.session.add(factor)
    db.session.commit()
    return factor


def seal(secret: str) -> str:
    return str(extensions.secretbox().seal(secret))


def unseal(token: str) -> str:
    return str(extensions.secretbox().open(token))


def issue_recovery_code(user: User) -> str:
    """L6: a new recovery code replaces the old one, which never works again."""
    code = recovery.new_recovery_code()
    db.session.execute(
        delete(SecondFactor).where(SecondFactor.user_id == user.id, SecondFactor.kind == "recovery")
    )
    db.session.add(
        SecondFactor(
            user_id=user.id, kind="recovery", data={"hash": recovery.hash_recovery_code(code)}
        )
    )
    db.session.commit()
    return code


def use_recovery_code(user: User, code: str) -> bool:
    """Accept the code once: the matching row is deleted atomically (of two parallel uses,
    one wins)."""
    rows = db.session.query(SecondFactor).filter_by(user_id=user.id, kind="recovery").all()
    for row in rows:
        if recovery.matches(code, row.data.get("hash", "")):
            result = db.session.execute(delete(SecondFactor).where(SecondFactor.id == row.id))
            db.session.commit()
            return rowcount(result) == 1
    return False


def complete_enrollment(user: User) -> None:
    user.two_factor_enrolled_at = utcnow()
    db.session.commit()


def is_enrolled(user: User) -> bool:
    return user.two_factor_enrolled_at is not None and bool(factors_of(user.id))


def discard_unfinished_enrollment(user: User) -> None:
    """An enrollment left before its recovery code was confirmed starts over from nothing."""
    if user.two_factor_enrolled_at is None:
        db.session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
        db.session.commit()
