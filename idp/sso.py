"""The single sign-on session (domain, DESIGN.md "Inside idp/"): a random secret in an
HttpOnly cookie, the record in the ephemeral store under that secret's SHA-256. It ends on
logout, on expiry, when the account's state changes, and when the user (or an admin) signs
the user out everywhere.

The cookie's secret goes to the browser and nowhere else: the store's keys are its hash,
and the ``sid`` that tokens carry (OIDC Front-/Back-Channel Logout's opaque session id) is a
second, unrelated random value. A relying party, its logs or an access log that sees ``sid``
therefore holds no session; the ``sid`` index (``sso-sid:<sid>`` → hash) lets the provider
find and end a session by its ``sid``.

"Sign out everywhere" needs no list of the user's sessions: it stores when it happened
(``sso-ended:<user>``, kept as long as a session lives) and a session started at or before
that moment no longer counts. One atomic write, so a sign-in racing with it cannot slip into
an index after it was read.

X2, X7: each session also leaves a row in ``sso_sessions`` (device, approximate place, last
use) so that the account menu can list a person's sessions and end one. The store stays the
source of truth for "is this session live": the listing (:mod:`idp.sessions`) keeps only the
rows whose store record still answers, so nothing on the hot path reads the table; the only
write there is the last-use touch, at most once per :data:`TOUCH_INTERVAL` per session."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import secrets
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from flask import has_request_context
from flask import request
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import update
from werkzeug.wrappers import Response

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.backchannel.notify import notify_logout
from idp.cookies import clear_cookie
from idp.cookies import set_cookie
from idp.models import SsoSessionRecord
from idp.models import TokenFamily
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.twofactor.remembered import revoke_all

SSO_COOKIE = "idp_sso"
#: Session records, keyed by the SHA-256 of the cookie's secret.
SSO_PREFIX = "sso:"
#: ``sid`` → SHA-256 of the cookie's secret, to end a session by its ``sid``.
SID_PREFIX = "sso-sid:"
#: When the user last signed out everywhere (``time.time()``); sessions started before end.
ENDED_PREFIX = "sso-ended:"
#: Longest cookie value we look up (``token_urlsafe(32)`` is 43 characters).
MAX_COOKIE_LENGTH = 64
#: ``sid`` → "touched": present while the session's last use was written recently.
TOUCH_PREFIX = "sso-touch:"
#: At most one write of a session's last use per this many seconds (keeps /authorize light).
TOUCH_INTERVAL = 300
#: The longest User-Agent kept for the session list.
MAX_USER_AGENT = 300


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
    #: When the session started (``time.time()``, finer than ``auth_time``); 0 in records
    #: written before sign-out everywhere existed, which it therefore ends too.
    started_at: float = 0.0
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


@dataclass
class Principal:
    """The signed-in user with the sign-in that authenticated them, handed to authlib as the
    grant's user so that the code and tokens carry ``auth_time``, ``amr`` and ``acr``."""

    user: User
    session: dict[str, Any]

    def get_user_id(self) -> str:
        return self.user.id


def _handle(secret: str) -> str:
    """The store key of a cookie secret (SHA-256: the secret has 256 bits of entropy)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def network_of(address: str | None) -> str:
    """An approximate place without a GeoIP database: the address cut to its network, IPv4
    /24 as ``203.0.113.x`` and IPv6 /48 as ``2001:db8:1::/48``; empty when unknown. The
    address itself is never kept."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address):
        return ".".join(str(ip).split(".")[:3]) + ".x"
    return str(ipaddress.IPv6Network((ip, 48), strict=False))


def start_session(
    user: User,
    amr: list[str],
    acr: str,
    route: dict[str, Any],
    *,
    commit: bool = True,
    replacing: SsoSession | None = None,
) -> SsoSession:
    """Start a session (its cookie secret set, for :func:`set_session_cookie`) and write its
    ``sso_sessions`` row.

    :param commit: False to let the row go with the caller's next commit (the frontend's
        sign-in writes it with the authorization code's token family: one write, not two).
    :param replacing: this browser's live session of the same user, signed in again
        (``prompt=login``, the menu's own sign-in, a step up): the new sign-in keeps its
        ``sid`` with a new cookie secret, so that one browser is one session in the list and
        ending it tells the clients of both sign-ins. The old secret stops working.
    """
    secret = secrets.token_urlsafe(32)
    now = time.time()
    continued = replacing is not None and replacing.user_id == user.id
    if continued and replacing is not None:
        _forget_handle(replacing.sid)
    session = SsoSession(
        sid=replacing.sid if continued and replacing is not None else secrets.token_urlsafe(24),
        user_id=user.id,
        auth_time=int(now),
        amr=amr,
        acr=acr,
        route=route,
        state_version=user.state_version,
        started_at=now,
        secret=secret,
    )
    _store_session(session)
    _record_start(session, commit, is_new_sid=not continued)
    return session


def _forget_handle(sid: str) -> None:
    """The store record behind ``sid`` goes (its cookie secret no longer signs in)."""
    store = extensions.store()
    handle = store.pop(SID_PREFIX + sid)
    if handle:
        store.delete(SSO_PREFIX + handle)


#: A new session's row for the list (X2).
_INSERT_RECORD = insert(SsoSessionRecord.__table__).values(
    sid=bindparam("sid"),
    user_id=bindparam("user_id"),
    user_agent=bindparam("user_agent"),
    network=bindparam("network"),
    line_auth=bindparam("line_auth"),
    created_at=bindparam("created_at"),
    last_used_at=bindparam("last_used_at"),
)


def _record_start(session: SsoSession, commit: bool, *, is_new_sid: bool = False) -> None:
    """The session's row for the list (X2): a new one, or the continued ``sid``'s, restarted.

    :param is_new_sid: the ``sid`` was just drawn, so no row can hold it (no read)."""
    user_agent = network = ""
    if has_request_context():
        user_agent = (request.headers.get("User-Agent") or "")[:MAX_USER_AGENT]
        network = network_of(request.remote_addr)
    if is_new_sid:
        now = utcnow()
        # A prebuilt Core statement on the session's transaction (issue 13: no ORM unit of
        # work on the sign-in's hot path); committed with the caller's next commit.
        db.session.connection().execute(
            _INSERT_RECORD,
            {
                "sid": session.sid,
                "user_id": session.user_id,
                "user_agent": user_agent,
                "network": network,
                "line_auth": session.route.get("kind") == "line",
                "created_at": now,
                "last_used_at": now,
            },
        )
        if commit:
            db.session.commit()
        return
    record = db.session.get(SsoSessionRecord, session.sid)
    if record is None:
        record = SsoSessionRecord(sid=session.sid, user_id=session.user_id)
        db.session.add(record)
    now = utcnow()
    record.user_agent = user_agent
    record.network = network
    record.line_auth = session.route.get("kind") == "line"
    record.created_at = record.last_used_at = now
    record.ended_at = None
    if commit:
        db.session.commit()


def touch_session(session: SsoSession) -> None:
    """X2: note that the session was used (shown as "last used"), at most once per
    :data:`TOUCH_INTERVAL`: one atomic add in the store, and a write only when it is due."""
    if not extensions.store().add(TOUCH_PREFIX + session.sid, "1", TOUCH_INTERVAL):
        return
    db.session.execute(
        update(SsoSessionRecord)
        .where(SsoSessionRecord.sid == session.sid)
        .values(last_used_at=utcnow())
    )
    db.session.commit()


def _store_session(session: SsoSession) -> None:
    """Write (or rewrite) the record of a session just started (its secret known)."""
    if session.secret is None:
        raise ValueError("only a session just started carries its cookie secret")
    handle = _handle(session.secret)
    ttl = extensions.settings().sso_session_ttl
    record = json.dumps(session.record(), separators=(",", ":"))
    # The record and its sid index in one round trip on Redis.
    extensions.store().set_many(
        {SSO_PREFIX + handle: record, SID_PREFIX + session.sid: handle}, ttl
    )


def current_session() -> tuple[SsoSession, User] | None:
    """The browser's live session and its user, or None."""
    session = _cookie_session()
    if session is None or _ended_everywhere(session):
        return None
    user = db.session.get(User, session.user_id)
    if user is None or user.state_version != session.state_version:
        return None
    return session, user


def current_session_of(user: User) -> SsoSession | None:
    """The browser's live session when it is ``user``'s: :func:`current_session`'s checks
    against the user the caller has just read, not a second read of that user's row (the
    sign-in's finish, issue 13)."""
    session = _cookie_session()
    if session is None or session.user_id != user.id:
        return None
    if session.state_version != user.state_version or _ended_everywhere(session):
        return None
    return session


def _cookie_session() -> SsoSession | None:
    """The store's record of the browser's session cookie, whatever its state."""
    secret = request.cookies.get(SSO_COOKIE)
    if not secret or len(secret) > MAX_COOKIE_LENGTH:
        return None
    data = extensions.store().get_json(SSO_PREFIX + _handle(secret))
    return None if data is None else SsoSession(**data)


def _ended_everywhere(session: SsoSession) -> bool:
    """Signed out everywhere after this session started."""
    ended = extensions.store().get(ENDED_PREFIX + session.user_id)
    return ended is not None and session.started_at <= float(ended)


def is_session_live(sid: str, user: User) -> bool:
    """Whether ``user``'s session ``sid`` still signs a browser in (the store's answer, the
    same checks as :func:`current_session`)."""
    store = extensions.store()
    handle = store.get(SID_PREFIX + sid)
    data = store.get_json(SSO_PREFIX + handle) if handle else None
    if data is None:
        return False
    session = SsoSession(**data)
    return (
        session.user_id == user.id
        and session.state_version == user.state_version
        and not _ended_everywhere(session)
    )


def end_session(sid: str | None) -> None:
    """End the session whose ``sid`` this is (logout, a session ended from the list)."""
    if not sid:
        return
    _forget_handle(sid)
    db.session.execute(
        update(SsoSessionRecord)
        .where(SsoSessionRecord.sid == sid, SsoSessionRecord.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    db.session.commit()


def _mark_all_ended(user_id: str) -> None:
    """Every listed session of the user ended (the store's marker is what ends them)."""
    db.session.execute(
        update(SsoSessionRecord)
        .where(SsoSessionRecord.user_id == user_id, SsoSessionRecord.ended_at.is_(None))
        .values(ended_at=utcnow())
    )
    db.session.commit()


def set_session_cookie(response: Response, session: SsoSession) -> None:
    """Hand the session's secret to the browser (only on the response that started it)."""
    if session.secret is None:
        raise ValueError("only a session just started carries its cookie secret")
    ttl = extensions.settings().sso_session_ttl
    set_cookie(response, SSO_COOKIE, session.secret, max_age=ttl)


def clear_session_cookie(response: Response) -> None:
    clear_cookie(response, SSO_COOKIE)


def revoke_token_families(user_id: str, reason: str, sid: str | None = None) -> int:
    """Revoke every live token family of a user (password reset, sign out everywhere), or
    those of the one session ``sid``: their refresh tokens stop working at once, access
    tokens at their next check."""
    statement = update(TokenFamily).where(
        TokenFamily.user_id == user_id, TokenFamily.revoked_at.is_(None)
    )
    if sid is not None:
        statement = statement.where(TokenFamily.session["sid"].as_string() == sid)
    result = db.session.execute(statement.values(revoked_at=utcnow(), revoked_reason=reason))
    db.session.commit()
    return rowcount(result)


@audit.change("sign_out_everywhere")
def sign_out_everywhere(actor: Actor, user: User, reason: str = "sign_out_everywhere") -> int:
    """End every SSO session of ``user`` in every browser, revoke the refresh-token
    families of every relying party and forget the remembered browsers (X2); one audit
    event names the actor.

    :returns: how many token families were live and are now revoked.
    """
    ttl = extensions.settings().sso_session_ttl
    extensions.store().set(ENDED_PREFIX + user.id, repr(time.time()), ttl)
    _mark_all_ended(user.id)
    notify_logout(actor, user.id, reason=reason)  # X7: the clients end theirs too
    revoked = revoke_token_families(user.id, reason)
    revoke_all(actor, user, reason)  # X2
    audit.record(
        "sign_out_everywhere",
        "ok",
        reason,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"token_families": revoked},
        actor=actor,
    )
    return revoked


@audit.change("sign_out_other_sessions")
def sign_out_other_sessions(actor: Actor, user: User, keep: SsoSession, reason: str) -> SsoSession:
    """Like :func:`sign_out_everywhere`, but this browser stays signed in: every session of
    ``user`` ends (the ``sso-ended`` marker) and every token family is revoked, then the
    sign-in of ``keep`` (its ``auth_time``, ``amr``, ``acr``, route) continues in a new session
    started after the marker, with the account's current ``state_version``. The caller sets
    the new session's cookie; the old one is ended by its ``sid``.

    :returns: the session that replaces ``keep`` (its secret set, for the cookie).
    """
    ended = time.time()
    ttl = extensions.settings().sso_session_ttl
    extensions.store().set(ENDED_PREFIX + user.id, repr(ended), ttl)
    _mark_all_ended(user.id)
    notify_logout(actor, user.id, keep_sid=keep.sid, reason=reason)  # X7: the others' clients
    revoked = revoke_token_families(user.id, reason)
    end_session(keep.sid)
    session = start_session(user, keep.amr, keep.acr, keep.route)
    # Strictly after the marker, even when the clock has not moved since (sessions started
    # at or before it count as ended).
    session.started_at = max(session.started_at, math.nextafter(ended, math.inf))
    session.auth_time = keep.auth_time
    _store_session(session)
    audit.record(
        "sign_out_other_sessions",
        "ok",
        reason,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"token_families": revoked},
        actor=actor,
    )
    return session
