"""X2, X7: a person's sessions, listed and ended one by one (domain, DESIGN.md "Inside idp/").

The list reads the ``sso_sessions`` rows :mod:`idp.sso` writes and keeps those the ephemeral
store still says are live. Ending one session ends it in the store, revokes the token families
its sign-ins created and tells that session's relying parties by back-channel logout with its
``sid``; the person's other sessions are left alone. "All at once" is
:func:`idp.sso.sign_out_everywhere`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from ua_parser import parse

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.backchannel.notify import notify_logout
from idp.errors import NotFoundError
from idp.models import SsoSessionRecord
from idp.models import User
from idp.models import db
from idp.models import utcnow
from idp.sso import end_session
from idp.sso import is_session_live
from idp.sso import revoke_token_families
from idp.twofactor.remembered import aware

#: The audit reason of a session the person (or an admin) ended from the list.
SESSION_ENDED = "session_ended"
#: Longest ``sid`` looked up (``token_urlsafe(24)`` is 32 characters; the column holds 64).
MAX_SID_LENGTH = 64


@dataclass(frozen=True)
class ListedSession:
    """One live session as the account menu shows it."""

    sid: str
    #: Browser and OS, short ("Chrome on Windows"); empty when the browser said nothing.
    device: str
    #: The network it signed in from (``203.0.113.x``, ``2001:db8:1::/48``), or empty.
    network: str
    #: Signed in through line authentication (L9).
    line_auth: bool
    created_at: datetime
    last_used_at: datetime


def describe_device(user_agent: str) -> str:
    """A short readable form of a User-Agent: "Chrome on Windows", "Mobile Safari on iOS".

    ua-parser applies uap-core's maintained rules (browsers change their strings too often
    for rules of our own); what it does not recognise is shown by its family alone or not
    at all."""
    if not user_agent:
        return ""
    result = parse(user_agent)
    browser = result.user_agent.family if result.user_agent else ""
    system = result.os.family if result.os else ""
    browser = "" if browser == "Other" else browser
    system = "" if system == "Other" else system
    if browser and system:
        return f"{browser} / {system}"
    return browser or system


def list_sessions(user: User) -> list[ListedSession]:
    """The user's live sessions, the most recently used first."""
    since = utcnow() - timedelta(seconds=extensions.settings().sso_session_ttl)
    rows = db.session.scalars(
        select(SsoSessionRecord)
        .where(
            SsoSessionRecord.user_id == user.id,
            SsoSessionRecord.ended_at.is_(None),
            SsoSessionRecord.created_at >= since,
        )
        .order_by(SsoSessionRecord.last_used_at.desc())
    ).all()
    return [
        ListedSession(
            sid=row.sid,
            device=describe_device(row.user_agent),
            network=row.network,
            line_auth=row.line_auth,
            created_at=aware(row.created_at),
            last_used_at=aware(row.last_used_at),
        )
        for row in rows
        if is_session_live(row.sid, user)
    ]


@audit.change("session_end")
def end_one_session(actor: Actor, user: User, sid: str) -> int:
    """End ``user``'s session ``sid``: the browser is signed out, the token families of its
    sign-ins are revoked and its relying parties get a logout token with its ``sid`` (X7).

    :raises NotFoundError: ``sid`` is not a session of ``user`` (another user's is "not
        found" too, never "forbidden": its existence is not told), or it ended already (its
        clients were told then).
    :returns: how many token families were live and are now revoked."""
    record = db.session.get(SsoSessionRecord, sid) if 0 < len(sid) <= MAX_SID_LENGTH else None
    if record is None or record.user_id != user.id or record.ended_at is not None:
        raise NotFoundError("No such session.", "session_not_found")
    end_session(sid)
    notify_logout(actor, user.id, sid=sid, reason=SESSION_ENDED)  # before the revocation
    revoked = revoke_token_families(user.id, SESSION_ENDED, sid=sid)
    audit.record(
        "session_end",
        "ok",
        SESSION_ENDED,
        user_id=user.id,
        contract_id=user.contract_id,
        details={"token_families": revoked},
        actor=actor,
    )
    return revoked
