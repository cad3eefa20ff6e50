"""The demo frontend's views: the home page, sign-in (authorization code flow with PKCE and
a nonce, the RFC 9207 ``iss`` check), refresh, RP-initiated logout and Back-Channel Logout."""

from __future__ import annotations

import secrets
import time
from typing import Any

import flask
from werkzeug.wrappers import Response as BaseResponse

from idp.demo.claims_table import claim_rows
from idp.demo.frontend.pages import error_page
from idp.demo.frontend.pages import render
from idp.demo.frontend.relying_party import current_relying_party
from idp.demo.frontend_errors import PROTOCOL_ERRORS
from idp.demo.frontend_errors import FrontendError
from idp.demo.frontend_errors import error_description
from idp.demo.frontend_words import LANGUAGES
from idp.demo.frontend_words import sign_in_facts
from idp.demo.id_tokens import LEEWAY
from idp.demo.id_tokens import claims_options
from idp.demo.logout_tokens import LogoutTokenError
from idp.demo.logout_tokens import UnknownKeyError

#: ``prompt`` values passed through from ``/login?prompt=...`` (handy for ``login_required``).
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})


def index() -> flask.Response:
    """Signed out: a sign-in button. Signed in: the user, claims, userinfo and actions."""
    relying_party = current_relying_party()
    signed_out = False
    state = flask.request.args.get("state")
    if state:
        framework = relying_party.client.framework
        pending = framework.get_state_data(flask.session, state)
        if pending and "post_logout_redirect_uri" in pending:
            framework.clear_state_data(flask.session, state)
            signed_out = True
    data = relying_party.current()
    if data is None:
        return render(signed_in=False, signed_out=signed_out)
    claims = data.get("claims") or {}
    userinfo = data.get("userinfo")
    refresh = data.get("refresh_result")
    return render(
        signed_in=True,
        email=(userinfo or {}).get("email") or claims.get("email"),
        name=(userinfo or {}).get("name") or claims.get("name"),
        claim_rows=claim_rows(claims),
        facts=sign_in_facts(claims),
        userinfo_rows=claim_rows(userinfo) if userinfo is not None else None,
        userinfo_error=data.get("userinfo_error", ""),
        has_refresh_token=bool(data.get("refresh_token")),
        scope=data.get("scope", ""),
        expires_at=data.get("expires_at"),
        refresh=refresh,
        refresh_rows=claim_rows(refresh.get("claims")) if refresh else None,
    )


def login() -> BaseResponse:
    """Start the authorization code flow (state and PKCE by authlib, nonce by us)."""
    relying_party = current_relying_party()
    relying_party.metadata()
    extra: dict[str, str] = {}
    ui_locales = (flask.request.args.get("ui_locales") or "").strip()
    if ui_locales.split()[:1] and ui_locales.split()[0] in LANGUAGES:
        flask.session["lang"] = ui_locales.split()[0]
    # The provider's pages in the language chosen here, if one was (OIDC Core §3.1.2.1).
    chosen = ui_locales or flask.session.get("lang")
    if chosen:
        extra["ui_locales"] = chosen
    prompt = (flask.request.args.get("prompt") or "").strip()
    if prompt in PROMPT_VALUES:
        extra["prompt"] = prompt
    nonce = secrets.token_urlsafe(32)
    # authlib keeps the nonce with the state data in the session and
    # authorize_access_token() validates the ID token's nonce against it.
    try:
        # authlib is untyped; this is Flask's redirect().
        response: BaseResponse = relying_party.client.authorize_redirect(
            relying_party.redirect_uri, nonce=nonce, **extra
        )
        return response
    except PROTOCOL_ERRORS as exc:
        code, description = error_description(exc)
        return error_page(code, description, 502)


def callback() -> BaseResponse:
    """Finish sign-in: check ``iss`` and errors, redeem the code, validate, store tokens."""
    relying_party = current_relying_party()
    issuer = relying_party.issuer
    args = flask.request.args
    returned_iss = args.get("iss")
    if returned_iss is not None and returned_iss != issuer:
        return error_page(
            "issuer_mismatch",
            f"Authorization response iss {returned_iss!r} != expected issuer {issuer!r} "
            "(RFC 9207 mix-up protection)",
        )
    error = args.get("error")
    if error:
        state = args.get("state")
        if state:
            relying_party.client.framework.clear_state_data(flask.session, state)
        return error_page(error, args.get("error_description", ""))
    if not args.get("code") or not args.get("state"):
        return error_page("invalid_request", "Missing code or state in the callback")
    meta = relying_party.metadata()
    if returned_iss is None and meta.get("authorization_response_iss_parameter_supported"):
        return error_page(
            "issuer_missing",
            "The provider advertises RFC 9207 but the response has no iss parameter",
        )
    try:
        token = dict(
            relying_party.client.authorize_access_token(
                claims_options=claims_options(issuer, relying_party.client_id), leeway=LEEWAY
            )
        )
    except PROTOCOL_ERRORS as exc:
        code, description = error_description(exc)
        return error_page(code, description)
    claims = token.get("userinfo")
    if not claims or "id_token" not in token:
        return error_page("invalid_id_token", "The token response has no valid ID token")
    claims = dict(claims)
    userinfo, userinfo_error = relying_party.fetch_userinfo(token, claims["sub"])
    relying_party.store.delete(flask.session.get("sid"))
    flask.session["sid"] = secrets.token_urlsafe(32)  # fresh id on every sign-in
    relying_party.save(
        {
            "access_token": token.get("access_token"),
            "refresh_token": token.get("refresh_token"),
            "id_token": token["id_token"],
            "expires_at": token.get("expires_at"),
            "scope": token.get("scope", ""),
            "claims": claims,
            "userinfo": userinfo,
            "userinfo_error": userinfo_error,
        }
    )
    return flask.redirect(flask.url_for("index"), 303)


def refresh() -> BaseResponse:
    """Use the refresh-token grant; record the outcome and show it on the home page."""
    relying_party = current_relying_party()
    data = relying_party.current()
    if data is None:
        return error_page("not_signed_in", "Sign in first / 先にサインインしてください")
    result: dict[str, Any] = {"at": int(time.time())}
    refresh_token = data.get("refresh_token")
    if not refresh_token:
        result.update(ok=False, error="no_refresh_token", description="No refresh token")
    else:
        try:
            result.update(relying_party.refresh_tokens(data, refresh_token))
        except FrontendError as exc:
            result.update(ok=False, error=exc.error, description=exc.description)
        except PROTOCOL_ERRORS as exc:
            code, description = error_description(exc)
            result.update(ok=False, error=code, description=description)
    data["refresh_result"] = result
    relying_party.save(data)
    return flask.redirect(flask.url_for("index"), 303)


def logout() -> BaseResponse:
    """Drop the local session, then hand over to the provider's end_session_endpoint."""
    relying_party = current_relying_party()
    data = relying_party.current()
    relying_party.store.delete(flask.session.get("sid"))
    lang = flask.session.get("lang")
    flask.session.clear()
    if lang:
        flask.session["lang"] = lang
    meta = relying_party.metadata()
    if not meta.get("end_session_endpoint"):
        return error_page(
            "end_session_unsupported",
            "Signed out locally; the provider has no end_session_endpoint",
            502,
        )
    # authlib is untyped; this is Flask's redirect().
    response: BaseResponse = relying_party.client.logout_redirect(
        post_logout_redirect_uri=relying_party.post_logout_redirect_uri,
        id_token_hint=(data or {}).get("id_token"),
        client_id=relying_party.client_id,
        state=secrets.token_urlsafe(24),
    )
    return response


def backchannel_logout() -> flask.Response:
    """OIDC Back-Channel Logout 1.0 §2.5–2.8: end the sessions a valid logout token
    names; 400 for an invalid token; 503 (the provider retries) when the provider's keys
    cannot be fetched."""
    relying_party = current_relying_party()
    token = flask.request.form.get("logout_token", "")
    try:
        if not token:
            raise LogoutTokenError("missing logout_token")
        try:
            claims = relying_party.validate_logout_token(token, force_jwks=False)
        except UnknownKeyError:
            claims = relying_party.validate_logout_token(token, force_jwks=True)
    except LogoutTokenError as exc:
        response = flask.jsonify(error="invalid_request", error_description=str(exc))
        response.status_code = 400
    except PROTOCOL_ERRORS as exc:
        response = flask.jsonify(error="temporarily_unavailable", error_description="JWKS")
        response.status_code = 503
        flask.current_app.logger.warning("JWKS unavailable: %s", type(exc).__name__)
    else:
        relying_party.store.end_sessions(claims.get("sub"), claims.get("sid"))
        response = flask.make_response("", 200)
    response.headers["Cache-Control"] = "no-store"
    return response


def register_routes(app: flask.Flask) -> None:
    app.get("/")(index)
    app.get("/login")(login)
    app.get("/callback")(callback)
    app.post("/refresh")(refresh)
    app.post("/logout")(logout)
    app.post("/backchannel-logout")(backchannel_logout)
