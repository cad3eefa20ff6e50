"""Which clients hear of a logout, and queueing their logout tokens (OIDC Back-Channel Logout
1.0 §2.5: "to each RP that had a session with the OP for that user")."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.models import BackchannelLogout
from idp.models import Client
from idp.models import TokenFamily
from idp.models import User
from idp.models import db
from idp.models import utcnow


def _targets(user_id: str, sid: str | None, keep_sid: str | None) -> list[tuple[str, str | None]]:
    """(client id, sid) per logout token to send.

    Each sign-in at a client created a token family that recorded the session's ``sid``.
    Families count while their tokens may still be in use (the refresh-token lifetime, at
    least the SSO session's). One session (``sid`` given): the clients of that session, each
    told its ``sid``. Every session: one token per client with ``sub`` alone (§2.4: every
    session of that user at the client), or one per session for a client that registered
    ``backchannel_logout_session_required``. Every session but ``keep_sid``: one token per
    other session, each with its ``sid``."""
    settings = extensions.settings()
    since = utcnow() - timedelta(seconds=max(settings.refresh_token_ttl, settings.sso_session_ttl))
    rows = db.session.execute(
        select(Client.client_id, Client.backchannel_logout_session_required, TokenFamily.session)
        .join(TokenFamily, TokenFamily.client_id == Client.client_id)
        .where(
            TokenFamily.user_id == user_id,
            TokenFamily.created_at >= since,
            Client.backchannel_logout_uri.is_not(None),
        )
    ).all()
    targets: set[tuple[str, str | None]] = set()
    for client_id, session_required, session in rows:
        family_sid = (session or {}).get("sid")
        if sid is not None:
            if family_sid == sid:
                targets.add((client_id, sid))
        elif keep_sid is not None:
            if family_sid and family_sid != keep_sid:
                targets.add((client_id, family_sid))
        elif session_required:
            if family_sid:
                targets.add((client_id, family_sid))
        else:
            targets.add((client_id, None))
    return sorted(targets, key=lambda target: (target[0], target[1] or ""))


@audit.change("backchannel_logout")
def notify_logout(
    actor: Actor,
    user_id: str,
    *,
    sid: str | None = None,
    keep_sid: str | None = None,
    reason: str,
) -> int:
    """Tell the user's clients that their sessions (or the one session ``sid``) ended: queue
    one logout token per client (X7) and deliver them off the request thread.

    Call it before the user's token families are deleted (a deletion): they say which
    clients to tell. Revoked families still count.

    :param sid: only this session ended (a logout).
    :param keep_sid: every session but this one ended (the others signed out).
    :param reason: the reason code (``logout``, ``sign_out_everywhere``, ``password_reset``…),
        kept in the audit log, never sent.
    :returns: how many logout tokens were queued."""
    targets = _targets(user_id, sid, keep_sid)
    now = utcnow()
    rows = [
        BackchannelLogout(
            client_id=client_id,
            subject=user_id,
            sid=target_sid,
            reason=reason,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
        for client_id, target_sid in targets
    ]
    db.session.add_all(rows)
    user = db.session.get(User, user_id)
    audit.record(
        "backchannel_logout",
        "ok",
        None,
        user_id=user_id,
        contract_id=user.contract_id if user else None,
        details={
            "reason": reason,
            "session": sid is not None,
            "kept_session": keep_sid is not None,
            "clients": sorted({client_id for client_id, _sid in targets}),
        },
        actor=actor,
    )  # commits the rows with the event
    if rows:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        extensions.backchannel.of(app).submit(app, [row.id for row in rows])
    return len(rows)
