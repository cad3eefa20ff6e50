"""Finish step: mark the SSO session, record amr/acr/auth_time, and hand the stored
authorization request back to authlib, which issues the code (DESIGN.md step 5)."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import AccessDeniedError
from flask import redirect
from sqlalchemy import bindparam
from sqlalchemy import select
from werkzeug.wrappers import Response

from idp import audit
from idp import extensions
from idp.audit import record_in_transaction
from idp.errors import TransactionError
from idp.login.refusal import error_response
from idp.login.start import StoredAuthorizationRequest
from idp.login.transaction import Transaction
from idp.login.transaction import redirect_to_next_step
from idp.models import User
from idp.models import db
from idp.models import transient
from idp.sso import Principal
from idp.sso import SsoSession
from idp.sso import current_session_of
from idp.sso import set_session_cookie
from idp.sso import start_session
from idp.vocabulary import Target
from policies.assurance import acr_for
from policies.assurance import amr_with_route

_USERS = User.__table__
#: The transaction's user, read by a prebuilt Core statement (issue 13: the ORM's identity
#: map and loading cost more than the statement), as the token path does
#: (idp/oidc/grant_statements.py).
_READ_USER = select(_USERS).where(_USERS.c.id == bindparam("user_id"))


def read_user(user_id: str) -> User | None:
    """The user, as a transient ``User`` (never added to the session: its columns only, for
    the code, session and audit event of this sign-in)."""
    row = db.session.connection().execute(_READ_USER, {"user_id": user_id}).mappings().first()
    return None if row is None else transient(User, row)


def finish_or_redirect(tx: Transaction, user: User | None = None) -> Response:
    """After a step's form: when finish is the step due, finish in this same request, so
    that the browser goes straight on to the client (one round trip less than a redirect
    to ``/login/finish``); else save the transaction and redirect to the step that is due.
    Nothing is skipped: finish runs only when every earlier step is achieved.

    :param user: the transaction's user when this request has read it already.
    """
    if tx.next_step() == "finish" and tx.user_id is not None:
        return finish(tx, user if user is not None and user.id == tx.user_id else None)
    tx.save()
    return redirect_to_next_step(tx)


def finish(tx: Transaction, user: User | None = None) -> Response:
    """Only reachable when every earlier step is achieved (checked by the caller).

    :param user: the transaction's user when this request has read it already.
    """
    server = extensions.oauth()
    user = user or (read_user(tx.user_id) if tx.user_id else None)
    stored = StoredAuthorizationRequest(tx.params)
    if not tx.claim():
        raise TransactionError("finished")  # a parallel request finished it
    if user is None:
        return error_response(
            AccessDeniedError(), tx.params.get("redirect_uri"), tx.params.get("state")
        )
    if tx.target == Target.ACCOUNT_MENU:
        return _finish_account_menu(tx, user)
    new_session = None
    if tx.reused_session is not None:
        claims = tx.reused_session
    else:
        amr = amr_with_route(tx.amr, tx.route.get("kind") == "line")
        # Its sso_sessions row goes with the code's token family (one commit).
        new_session = start_session(
            user, amr, acr_for(amr), tx.route, commit=False, replacing=_this_browsers(user)
        )
        claims = new_session.claims()
        # A prebuilt Core INSERT on the session's transaction, committed with the
        # authorization code's token family (no ORM unit of work at the commit, issue 13).
        record_in_transaction(
            "login",
            "ok",
            None,
            user_id=user.id,
            contract_id=user.contract_id,
            client_id=tx.client_id,
            details={"amr": tx.amr, "route": tx.route["kind"], "method": user.login_method},
        )
    grant = server.get_authorization_grant(stored)
    response = server.create_authorization_response(stored, Principal(user, claims), grant)
    if new_session is not None:
        set_session_cookie(response, new_session)
    return response  # type: ignore[no-any-return]


def _this_browsers(user: User) -> SsoSession | None:
    """This browser's live session of ``user``, which the new sign-in continues (its sid)."""
    return current_session_of(user)


def _finish_account_menu(tx: Transaction, user: User) -> Response:
    """U1: the account menu's own sign-in ends in the menu, not at a relying party."""
    amr = amr_with_route(tx.amr, tx.route.get("kind") == "line")
    session = start_session(user, amr, acr_for(amr), tx.route, replacing=_this_browsers(user))
    audit.record(
        "login",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        details={
            "amr": amr,
            "route": tx.route["kind"],
            "target": Target.ACCOUNT_MENU.value,
            "method": user.login_method,
        },
    )
    # Back to the menu page that asked for this sign-in (checked when the sign-in began).
    response = redirect(tx.data.get("return_to") or "/account", code=303)
    set_session_cookie(response, session)
    return response
