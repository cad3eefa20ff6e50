"""RP-initiated logout 1.0 on authlib's end-session endpoint."""

from __future__ import annotations

from typing import Any

from authlib.oidc.rpinitiated import EndSessionEndpoint
from authlib.oidc.rpinitiated import EndSessionRequest
from flask import g
from joserfc.jwk import KeySet

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.backchannel.notify import notify_logout
from idp.sso import current_session
from idp.sso import end_session


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    def get_server_jwks(self) -> KeySet:
        return extensions.keys().verification_keys()

    def get_algorithms(self) -> list[str]:
        return ["RS256", "ES256"]

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        found = current_session()
        if found is None:
            return
        session, user = found
        claims = end_session_request.id_token_claims
        # With a hint, end the session only of the user it names; without one the person
        # confirmed on our own page (rpinitiated §6).
        if claims is not None and claims.get("sub") != user.id:
            return
        end_session(session.sid)
        g.session_ended = True
        # X7: the session's other clients hear of it by back-channel (one token each, sid).
        notify_logout(
            Actor.user(user.id, user.contract_id), user.id, sid=session.sid, reason="logout"
        )
        audit.record(
            "logout",
            "ok",
            None,
            user_id=user.id,
            contract_id=user.contract_id,
            client_id=end_session_request.client.client_id if end_session_request.client else None,
        )

    def summary(self, request: EndSessionRequest) -> dict[str, Any]:
        return {"client": request.client.name if request.client else None}
