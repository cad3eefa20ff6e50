"""Finding users: by id, or by email case-insensitively (L2)."""

from __future__ import annotations

from idp.errors import NotFoundError
from idp.models import User
from idp.models import db


def email_key(email: str) -> str:
    """L2: emails match case-insensitively."""
    return email.strip().casefold()


def find_user_by_email(email: str) -> User | None:
    return db.session.query(User).filter_by(email_key=email_key(email)).one_or_none()


def get_user(user_id: str) -> User:
    """The user, or ``NotFoundError``."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"no user {user_id}")
    return user
