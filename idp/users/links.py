"""Mailed links (SPEC Links, X4): a random token in the URL, its SHA-256 in the database.

Create, resolve and consume the ``mail_links`` rows (domain); when a link may be used is
decided by ``policies.links.check_link``. The surface is ``idp/links/``: opening a link (GET)
changes nothing, only the confirming POST consumes it. The lock and reset mails call
``create_link``; the audited change is the one the link applies (unlock, password reset).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import update

from idp import extensions
from idp.errors import LinkError
from idp.models import MailLink
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from policies.links import LINK_VALIDITY
from policies.links import LinkPurpose
from policies.links import LinkState
from policies.links import check_link

#: Longer tokens are not ours (``secrets.token_urlsafe(32)`` gives 43 characters).
MAX_TOKEN_LENGTH = 100


def hash_token(token: str) -> str:
    """The stored form of a link's token (X4: links are stored hashed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def bound_version(user: User, purpose: str) -> int:
    """The account version a link of ``purpose`` is bound to (X4): ``state_version`` (any
    password, email or method change voids the link), except the "this was not me" link
    (X6), bound to ``identity_version`` so that only a later identity change voids it."""
    return user.identity_version if purpose == LinkPurpose.NOT_ME else user.state_version


def create_link(user: User, purpose: str, data: dict[str, Any] | None = None) -> str:
    """Store a new link and return its absolute URL, built from the issuer (never the Host)."""
    return new_link(user, purpose, data)[1]


def new_link(user: User, purpose: str, data: dict[str, Any] | None = None) -> tuple[MailLink, str]:
    """Store a new link bound to the account's current ``state_version``.

    :param data: what the link's use needs (the new address of an email change, what a
        "this was not me" link reverts); never a secret.
    :returns: the stored row and the link's URL (the token is in the URL only).
    """
    kind = LinkPurpose(purpose)  # ValueError for a purpose no handler serves
    token = secrets.token_urlsafe(32)
    now = utcnow()
    link = MailLink(
        token_hash=hash_token(token),
        purpose=kind.value,
        user_id=user.id,
        state_version=bound_version(user, kind),
        data=dict(data or {}),
        created_at=now,
        expires_at=now + LINK_VALIDITY,
    )
    db.session.add(link)
    db.session.commit()
    return link, f"{extensions.settings().issuer}/links/{token}"


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _state(link: MailLink) -> LinkState:
    created_at = _aware(link.created_at)
    assert created_at is not None
    return LinkState(link.purpose, created_at, _aware(link.used_at), link.state_version)


def find_link(token: str) -> MailLink:
    """The stored link for ``token`` whatever its state; ``LinkError("unknown")`` if none."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkError("unknown")
    link = db.session.query(MailLink).filter_by(token_hash=hash_token(token)).one_or_none()
    if link is None:
        raise LinkError("unknown")
    return link


def resolve_link(link: MailLink, purpose: str) -> User:
    """The user ``link`` may be used on now, for ``purpose``; raises ``LinkError`` with the
    reason otherwise (``policies.links.check_link``). Changes nothing."""
    user = db.session.get(User, link.user_id)
    version = bound_version(user, link.purpose) if user is not None else None
    state = _state(link)
    decision = check_link(state, purpose=purpose, account_state_version=version, now=utcnow())
    if decision.reason == "void":
        # A parallel use of this very link may have changed the account since the link was
        # read (it is marked used before the state changes): then say "used".
        db.session.refresh(link)
        if link.used_at is not None:
            raise LinkError("used", link.purpose)
    if not decision.is_allowed or user is None:
        raise LinkError(decision.reason or "void", link.purpose)
    return user


def consume_link(link: MailLink) -> bool:
    """Mark the link used, atomically: of two parallel POSTs exactly one wins."""
    result = db.session.execute(
        update(MailLink)
        .where(MailLink.id == link.id, MailLink.used_at.is_(None))
        .values(used_at=utcnow())
    )
    db.session.commit()
    return rowcount(result) == 1
