"""X2, L3: "remember this browser" — a signed HttpOnly cookie naming server-side records,
one per (user, browser), so resets and "sign out everywhere" can revoke them, and the person
can list them and forget one or all in the account menu."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC
from datetime import datetime

from flask import current_app
from flask import request
from itsdangerous import BadSignature
from itsdangerous import URLSafeSerializer
from sqlalchemy import select
from sqlalchemy import update
from werkzeug.wrappers import Response

from idp import audit
from idp.actor import Actor
from idp.cookies import set_cookie
from idp.errors import NotFoundError
from idp.models import RememberedBrowser
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from policies.two_factor import REMEMBER_FOR

COOKIE = "idp_rb"
#: Several people may share a browser; keep the newest few.
MAX_ENTRIES = 8
#: Browsers keep cookies at most 400 days; the 30-day rule is enforced server-side.
COOKIE_MAX_AGE = 400 * 86400


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="remembered-browser")


def _entries() -> list[str]:
    raw = request.cookies.get(COOKIE)
    if not raw or len(raw) > 4000:
        return []
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return []
    return [e for e in value if isinstance(e, str)][:MAX_ENTRIES] if isinstance(value, list) else []


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def find_remembered(user_id: str) -> RememberedBrowser | None:
    """This browser's live record for this user (never another user's), or None."""
    for entry in _entries():
        record_id, _, token = entry.partition(".")
        record = db.session.get(RememberedBrowser, record_id)
        if record is None or record.user_id != user_id or record.revoked_at is not None:
            continue
        if hmac.compare_digest(record.token_hash, _hash(token)):
            return record
    return None


def touch(record: RememberedBrowser) -> None:
    """L3: the 30 days count from the last use."""
    record.last_used_at = utcnow()
    db.session.commit()


@audit.change("browser_remembered")
def remember(actor: Actor, user: User, response: Response) -> RememberedBrowser:
    """L3, X2: a server record for this (user, browser), named by a signed cookie."""
    token = secrets.token_urlsafe(32)
    record = RememberedBrowser(
        user_id=user.id,
        token_hash=_hash(token),
        user_agent=(request.headers.get("User-Agent") or "")[:300],
    )
    db.session.add(record)
    db.session.commit()
    entries = [f"{record.id}.{token}", *_entries()][:MAX_ENTRIES]
    set_cookie(response, COOKIE, _serializer().dumps(entries), max_age=COOKIE_MAX_AGE)
    audit.record(
        "browser_remembered",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
    )
    return record


@audit.change("remembered_browsers_revoked")
def revoke_all(actor: Actor, user: User, reason: str) -> int:
    """X2: password reset, email change, 2FA reset and "sign out everywhere" call this."""
    result = db.session.execute(
        update(RememberedBrowser)
        .where(RememberedBrowser.user_id == user.id, RememberedBrowser.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    db.session.commit()
    revoked = rowcount(result)
    audit.record(
        "remembered_browsers_revoked",
        "ok",
        reason,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"browsers": revoked},
        actor=actor,
    )
    return revoked


def list_remembered(user: User) -> list[RememberedBrowser]:
    """X2: the user's remembered browsers that still count (not revoked, used within the
    last 30 days, L3), the most recently used first."""
    return list(
        db.session.scalars(
            select(RememberedBrowser)
            .where(
                RememberedBrowser.user_id == user.id,
                RememberedBrowser.revoked_at.is_(None),
                RememberedBrowser.last_used_at >= utcnow() - REMEMBER_FOR,
            )
            .order_by(RememberedBrowser.last_used_at.desc())
        ).all()
    )


@audit.change("remembered_browser_revoked")
def revoke_remembered(actor: Actor, user: User, browser_id: str, reason: str) -> None:
    """X2: forget one remembered browser of ``user``; its next sign-in asks for the second
    factor again (L3).

    :raises NotFoundError: no live record ``browser_id`` of ``user`` (another user's is
        "not found" too)."""
    result = db.session.execute(
        update(RememberedBrowser)
        .where(
            RememberedBrowser.id == browser_id[:32],
            RememberedBrowser.user_id == user.id,
            RememberedBrowser.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    db.session.commit()
    if rowcount(result) != 1:
        raise NotFoundError("No such remembered browser.", "browser_not_found")
    audit.record(
        "remembered_browser_revoked",
        "ok",
        reason,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"browser": browser_id},
        actor=actor,
    )
