"""Mailed links (SPEC Links, X4): a random token in the URL, its SHA-256 in the database;
single-use, valid 14 days, bound to purpose, user and the account's state when sent.
Opening a link (GET) changes nothing; only the confirming POST uses it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC
from datetime import datetime

from flask import current_app
from sqlalchemy import update

from idp.errors import LinkError
from idp.models import MailLink
from idp.models import User
from idp.models import db
from idp.models import utcnow
from policies.lockout import LINK_VALIDITY
from policies.lockout import is_link_valid

PURPOSES = ("unlock", "reset")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_link(user: User, purpose: str) -> str:
    """Store a new link and return its absolute URL, built from the issuer (never the Host)."""
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        MailLink(
            token_hash=_hash(token),
            purpose=purpose,
            user_id=user.id,
            state_version=user.state_version,
            created_at=now,
            expires_at=now + LINK_VALIDITY,
        )
    )
    db.session.commit()
    return f"{current_app.extensions['idp.settings'].issuer}/links/{token}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def resolve_link(token: str) -> tuple[MailLink, User]:
    """The live link and its user; raises LinkError with a reason otherwise. Changes nothing."""
    if not token or len(token) > 100:
        raise LinkError("unknown")
    link = db.session.query(MailLink).filter_by(token_hash=_hash(token)).one_or_none()
    if link is None:
        raise LinkError("unknown")
    if link.used_at is not None:
        raise LinkError("used")
    if not is_link_valid(_aware(link.created_at), utcnow()):
        raise LinkError("expired")
    user = db.session.get(User, link.user_id)
    if user is None or user.state_version != link.state_version:
        # A parallel use of this very link may have changed the account since the link was
        # read above (it is marked used before the state changes): then say "used".
        db.session.refresh(link)
        raise LinkError("used" if link.used_at is not None else "void")
    return link, user


def consume_link(link: MailLink) -> bool:
    """Mark the link used, atomically: of two parallel POSTs exactly one wins."""
    result = db.session.execute(
        update(MailLink)
        .where(MailLink.id == link.id, MailLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.session.commit()
    return result.rowcount == 1
