"""Enrolled factors of a user (``second_factors`` rows) and the recovery code (L4–L6, T2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.models import SecondFactor
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.twofactor import recovery
from policies.two_factor import CHALLENGE_KINDS

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
        if factor.kind in CHALLENGE_KINDS:
            return factor
    return None


@audit.change("factor_added")
def add_factor(actor: Actor, user: User, kind: str, data: dict[str, Any]) -> SecondFactor:
    """L4, L5, X1: store an SMS number, an authenticator secret (sealed) or a passkey."""
    factor = SecondFactor(user_id=user.id, kind=kind, data=data)
    db.session.add(factor)
    db.session.commit()
    audit.record(
        "factor_added",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"kind": kind},
        actor=actor,
    )
    return factor


def seal(secret: str) -> str:
    return str(extensions.secretbox().seal(secret))


def unseal(token: str) -> str:
    return str(extensions.secretbox().open(token))


@audit.change("recovery_code_issued")
def issue_recovery_code(actor: Actor, user: User) -> str:
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
    audit.record(
        "recovery_code_issued",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
    )
    return code


@audit.change("recovery_code_used")
def use_recovery_code(actor: Actor, user: User, code: str) -> bool:
    """Accept the code once: the matching row is deleted atomically (of two parallel uses,
    one wins). A wrong code changes nothing; the second-factor step audits it."""
    rows = db.session.query(SecondFactor).filter_by(user_id=user.id, kind="recovery").all()
    for row in rows:
        if recovery.matches(code, row.data.get("hash", "")):
            result = db.session.execute(delete(SecondFactor).where(SecondFactor.id == row.id))
            db.session.commit()
            used = rowcount(result) == 1
            if used:
                audit.record(
                    "recovery_code_used",
                    "ok",
                    None,
                    user_id=user.id,
                    contract_id=user.contract_id,
                    actor=actor,
                )
            return used
    return False


@audit.change("second_factor_enrolled")
def complete_enrollment(actor: Actor, user: User) -> None:
    """L4, L5: the recovery code was confirmed as saved; the registration is complete."""
    user.two_factor_enrolled_at = utcnow()
    db.session.commit()
    audit.record(
        "second_factor_enrolled",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
    )


def is_enrolled(user: User) -> bool:
    return user.two_factor_enrolled_at is not None and bool(factors_of(user.id))


@audit.change("enrollment_discarded")
def discard_unfinished_enrollment(actor: Actor, user: User) -> None:
    """An enrollment left before its recovery code was confirmed starts over from nothing."""
    if user.two_factor_enrolled_at is not None:
        return
    result = db.session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
    db.session.commit()
    audit.record(
        "enrollment_discarded",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"factors": rowcount(result)},
        actor=actor,
    )
