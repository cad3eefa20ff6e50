"""The single sign-on session: a random secret in an HttpOnly cookie, the record in the
ephemeral store under that secret's SHA-256. It ends on logout, on expiry, and when the
account's state changes.

The cookie's secret goes to the browser and nowhere else: the store's keys are its hash,
and the ``sid`` that tokens carry (OIDC Front-/Back-Channel Logout's opaque session id) is a
second, unrelated random value. A relying party, its logs or an access log that sees ``sid``
therefore holds no session; the ``sid`` index (``sso-sid:<sid>`` → hash) lets the provider
find and end a session by its ``sid``."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import current_app
from flask import request
from werkzeug.wrappers import Response

from idp.cookies import clear_cookie
from idp.cookies import set_cookie
from idp.models import User
from idp.models import db

SSO_COOKIE = "idp_sso"
#: Session records, keyed by the SHA-256 of the cookie's secret.
SSO_PREFIX = "sso:"
#: ``sid`` → SHA-256 of the cookie's secret, to end a session by its ``sid``.
SID_PREFIX = "sso-sid:"
#: Longest cookie value we look up (``token_urlsafe(32)`` is 43 characters).
MAX_COOKIE_LENGTH = 64


@dataclass
class SsoSession:
    #: Opaque session id for relying parties (``sid`` claim); not a credential.
    sid: str
    user_id: str
    auth_time: int
    amr: list[str]
    acr: str
    route: dict[str, Any]
    state_version: int
    #: The cookie's secret: known only on the response that starts the session; never stored.
    secret: str | None = field(default=None, repr=False, compare=False)

    def claims(self) -> dict[str, Any]:
        """What the tokens of this sign-in carry (family ``session``)."""
        return {
            "sid": self.sid,
            "auth_time": self.auth_time,
            "amr": self.amr,
            "acr": self.acr,
            "route": self.route,
        }

    def record(self) -> dict[str, Any]:
        """The stored form: everything but the secret."""
        data = asdict(self)
        del data["secret"]
        return data


def _handle(secret: str) -> str:
    """The store key of a cookie secret (SHA-256: the secret has 256 bits of entropy)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def start_session(user: User, amr: list[str], acr: str, route: dict[str, Any]) -> SsoSession:
    secret = secrets.token_urlsafe(32)
    session = SsoSession(
        sid=secrets.token_urlsafe(24),
        user_id=user.id,
        auth_time=int(time.time()),
        amr=amr,
        acr=acr,
        route=route,
        state_version=user.state_version,
        secret=secret,
    )
    handle = _handle(secret)
    ttl = current_app.extensions["idp.settings"].sso_session_ttl
    store = current_app.extensions["idp.store"]
    store.set_json(SSO_PREFIX + handle, session.record(), ttl)
    store.set(SID_PREFIX + session.sid, handle, ttl)
    return session


def current_session() -> tuple[SsoSession, User] | None:
    """The browser's live session and its user, or None."""
    secret = request.cookies.get(SSO_COOKIE)
    if not secret or len(secret) > MAX_COOKIE_LENGTH:
        return None
    data = current_app.extensions["idp.store"].get_json(SSO_PREFIX + _handle(secret))
    if data is None:
        return None
    session = SsoSession(**data)
    user = db.session.get(User, session.user_id)
    if user is None or user.state_version != session.state_version:
        return None
    return session, user


def end_session(sid: str | None) -> None:
    """End the session whose ``sid`` this is (logout; later Back-Channel Logout)."""
    if not sid:
        return
    store = current_app.extensions["idp.store"]
    handle = store.pop(SID_PREFIX + sid)
    if handle:
        store.delete(SSO_PREFIX + handle)


def set_session_cookie(response: Response, session: SsoSession) -> None:
    """Hand the session's secret to the browser (only on the response that started it)."""
    if session.secret is None:
        raise ValueError("only a session just started carries its cookie secret")
    ttl = current_app.extensions["idp.settings"].sso_session_ttl
    set_cookie(response, SSO_COOKIE, session.secret, max_age=ttl)


def clear_session_cookie(response: Response) -> None:
    clear_cookie(response, SSO_COOKIE)
