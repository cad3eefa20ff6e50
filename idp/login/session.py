"""The single sign-on session: a random id in an HttpOnly cookie, the record in the
ephemeral store. It ends on logout, on expiry, and when the account's state changes."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask import request
from werkzeug.wrappers import Response

from idp.models import User
from idp.models import db

SSO_COOKIE = "idp_sso"
SSO_PREFIX = "sso:"


@dataclass
class SsoSession:
    sid: str
    user_id: str
    auth_time: int
    amr: list[str]
    acr: str
    route: dict[str, Any]
    state_version: int

    def claims(self) -> dict[str, Any]:
        """What the tokens of this sign-in carry (family ``session``)."""
        return {
            "sid": self.sid,
            "auth_time": self.auth_time,
            "amr": self.amr,
            "acr": self.acr,
            "route": self.route,
        }


def start_session(user: User, amr: list[str], acr: str, route: dict[str, Any]) -> SsoSession:
    session = SsoSession(
        sid=secrets.token_urlsafe(32),
        user_id=user.id,
        auth_time=int(time.time()),
        amr=amr,
        acr=acr,
        route=route,
        state_version=user.state_version,
    )
    ttl = current_app.extensions["idp.settings"].sso_session_ttl
    current_app.extensions["idp.store"].set_json(SSO_PREFIX + session.sid, asdict(session), ttl)
    return session


def current_session() -> tuple[SsoSession, User] | None:
    """The browser's live session and its user, or None."""
    sid = request.cookies.get(SSO_COOKIE)
    if not sid or len(sid) > 64:
        return None
    data = current_app.extensions["idp.store"].get_json(SSO_PREFIX + sid)
    if data is None:
        return None
    session = SsoSession(**data)
    user = db.session.get(User, session.user_id)
    if user is None or user.state_version != session.state_version:
        return None
    return session, user


def end_session(sid: str | None) -> None:
    if sid:
        current_app.extensions["idp.store"].delete(SSO_PREFIX + sid)


def set_session_cookie(response: Response, session: SsoSession) -> None:
    settings = current_app.extensions["idp.settings"]
    response.set_cookie(
        SSO_COOKIE,
        session.sid,
        max_age=settings.sso_session_ttl,
        httponly=True,
        secure=settings.cookies_secure,
        samesite="Lax",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    settings = current_app.extensions["idp.settings"]
    response.delete_cookie(
        SSO_COOKIE, path="/", secure=settings.cookies_secure, samesite="Lax", httponly=True
    )
