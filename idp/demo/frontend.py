"""Demo storage frontend ("WORKSDRIVE"): a small but careful OpenID Connect relying party.

It stands in for the hosted storage service in ``make demo`` and in browser tests. It uses the
authorization code flow with PKCE (S256), a nonce, ``state`` (handled by authlib), the RFC 9207
``iss`` check, discovery-issuer pinning, strict ID-token audience checks, the refresh-token grant
(with the OIDC Core 12.2 checks on a refreshed ID token), RP-initiated logout and Back-Channel
Logout (``/backchannel-logout`` ends the sessions a valid logout token names).

Tokens are kept in a small in-process store keyed by a random id held in the signed session
cookie: browsers drop cookies above 4 KB and a signed (not encrypted) cookie would also expose the
tokens. The frontend runs on the same host as the provider in demos (cookies ignore ports), so its
session cookie has its own name.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask
import requests
from authlib.integrations.flask_client import OAuth
from joserfc.jwk import KeySet
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from idp.demo.claims_table import claim_rows
from idp.demo.frontend_errors import PROTOCOL_ERRORS
from idp.demo.frontend_errors import FrontendError
from idp.demo.frontend_errors import error_description
from idp.demo.frontend_words import DEFAULT_LANGUAGE
from idp.demo.frontend_words import LANGUAGES
from idp.demo.frontend_words import gettext_for
from idp.demo.frontend_words import sign_in_facts
from idp.demo.id_tokens import LEEWAY
from idp.demo.id_tokens import check_refreshed_claims
from idp.demo.id_tokens import claims_options
from idp.demo.id_tokens import refreshed_claims_cls
from idp.demo.logout_tokens import LogoutTokenError
from idp.demo.logout_tokens import SeenTokens
from idp.demo.logout_tokens import UnknownKeyError
from idp.demo.logout_tokens import validate_logout_token
from idp.demo.session_store import SessionStore

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
TEMPLATE = "demo/frontend.html"
SCOPE = "openid profile email offline_access contract"
#: Seconds to wait for any server-side HTTP call (discovery, JWKS, token, userinfo).
HTTP_TIMEOUT = 10
#: ``prompt`` values passed through from ``/login?prompt=...`` (handy for ``login_required``).
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})
SESSION_COOKIE = "worksdrive_demo_session"


def _origin(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def create_frontend_app(
    issuer: str,
    client_id: str,
    client_secret: str,
    base_url: str,
    provider_internal_url: str | None = None,
) -> flask.Flask:
    """Build the demo relying party for ``issuer``, served at ``base_url``."""
    issuer = issuer.rstrip("/")
    base_url = base_url.rstrip("/")
    redirect_uri = base_url + "/callback"
    post_logout_redirect_uri = base_url + "/"
    metadata_base = (provider_internal_url or issuer).rstrip("/")
    own_origin = _origin(base_url)

    app = flask.Flask(__name__, template_folder=str(TEMPLATES_DIR), static_folder=None)
    app.secret_key = os.urandom(32)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=base_url.startswith("https://"),
    )
    store = SessionStore()
    seen_logout_tokens = SeenTokens()

    oauth = OAuth(app)
    idp = oauth.register(
        name="idp",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=metadata_base + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": SCOPE,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
            # authlib's requests session applies ``default_timeout`` to every call it makes
            # (discovery, JWKS, token, userinfo); a plain ``timeout`` key would be ignored.
            "default_timeout": HTTP_TIMEOUT,
        },
    )

    def metadata() -> dict[str, Any]:
        """Load discovery (cached by authlib) and pin its ``issuer`` to the configured one."""
        try:
            meta: dict[str, Any] = idp.load_server_metadata()
        except (requests.RequestException, ValueError) as exc:
            raise FrontendError(
                "provider_unreachable",
                f"Discovery failed / ディスカバリーに失敗しました: {type(exc).__name__}: {exc}",
                status=502,
            ) from exc
        if meta.get("issuer") != issuer:
            raise FrontendError(
                "issuer_mismatch",
                f"Discovery issuer {meta.get('issuer')!r} != configured issuer {issuer!r}",
                status=502,
            )
        return meta

    def current() -> dict[str, Any] | None:
        """Return the signed-in user's stored data, if any."""
        return store.get(flask.session.get("sid"))

    def save(data: dict[str, Any]) -> None:
        """Store data for the current browser session (which must already have an id)."""
        store.put(flask.session["sid"], data)

    def fetch_userinfo(token: Mapping[str, Any], sub: str) -> tuple[dict[str, Any] | None, str]:
        """Call the userinfo endpoint; return (claims, error text); ``sub`` must match."""
        try:
            info = dict(idp.userinfo(token=dict(token)))
        except PROTOCOL_ERRORS as exc:
            code, description = error_description(exc)
            return None, f"{code}: {description}"
        if info.get("sub") != sub:
            return None, f"sub_mismatch: userinfo sub {info.get('sub')!r} != ID token sub {sub!r}"
        return info, ""

    def language() -> str:
        chosen = flask.session.get("lang")
        return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE

    @app.before_request
    def language_switch() -> None:
        """``?lang=ja|en`` switches the frontend's language (kept in its session cookie)."""
        chosen = flask.request.args.get("lang")
        if chosen in LANGUAGES:
            flask.session["lang"] = chosen

    def render(status: int = 200, **context: Any) -> flask.Response:
        """Render the single template in the chosen language, with no-store caching."""
        context.setdefault("view", "home")
        lang = language()
        html = flask.render_template(
            TEMPLATE,
            issuer=issuer,
            base_url=base_url,
            lang=lang,
            _=gettext_for(lang),
            # The provider's sessions page (X2, X7), in the same language.
            sessions_url=f"{issuer}/account/sessions?lang={lang}",
            **context,
        )
        response = flask.make_response(html, status)
        response.headers["Cache-Control"] = "no-store"
        return response

    def error_page(error: str, description: str = "", status: int = 400) -> flask.Response:
        """Render an error page whose ``#error`` element holds the error code."""
        return render(status, view="error", error=error, error_description=description)

    @app.errorhandler(FrontendError)
    def on_frontend_error(exc: FrontendError) -> flask.Response:
        """Show a FrontendError as a page, not a stack trace."""
        return error_page(exc.error, exc.description, exc.status)

    @app.errorhandler(HTTPException)
    def on_http_error(exc: HTTPException) -> flask.Response:
        """An unknown address or method: the frontend's own page with a way back, not
        werkzeug's bare one (headers such as 405's ``Allow`` kept)."""
        status = exc.code or 500
        response = error_page(f"http_{status}", exc.name, status)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.after_request
    def security_headers(response: flask.Response) -> flask.Response:
        """Forbid framing, scripts and third-party loads; keep full URLs off referrers."""
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # "same-origin" (not "no-referrer") so browsers still send a real Origin on our POSTs.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.before_request
    def check_post_origin() -> flask.Response | None:
        """Reject cross-site form posts (on top of SameSite=Lax) using Origin/Referer."""
        if flask.request.method != "POST":
            return None
        origin = flask.request.headers.get("Origin")
        referer = flask.request.headers.get("Referer")
        if origin is not None:
            allowed = origin == own_origin
        elif referer:
            allowed = _origin(referer) == own_origin
        else:
            allowed = True  # non-browser client (scripts, test clients)
        if allowed:
            return None
        return error_page(
            "csrf_rejected",
            f"Cross-origin POST rejected; open the frontend at {base_url}",
            403,
        )

    @app.get("/")
    def index() -> flask.Response:
        """Signed out: a sign-in button. Signed in: the user, claims, userinfo and actions."""
        signed_out = False
        state = flask.request.args.get("state")
        if state:
            pending = idp.framework.get_state_data(flask.session, state)
            if pending and "post_logout_redirect_uri" in pending:
                idp.framework.clear_state_data(flask.session, state)
                signed_out = True
        data = current()
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

    @app.get("/login")
    def login() -> BaseResponse:
        """Start the authorization code flow (state and PKCE by authlib, nonce by us)."""
        metadata()
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
            response: BaseResponse = idp.authorize_redirect(redirect_uri, nonce=nonce, **extra)
            return response
        except PROTOCOL_ERRORS as exc:
            code, description = error_description(exc)
            return error_page(code, description, 502)

    @app.get("/callback")
    def callback() -> BaseResponse:
        """Finish sign-in: check ``iss`` and errors, redeem the code, validate, store tokens."""
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
                idp.framework.clear_state_data(flask.session, state)
            return error_page(error, args.get("error_description", ""))
        if not args.get("code") or not args.get("state"):
            return error_page("invalid_request", "Missing code or state in the callback")
        meta = metadata()
        if returned_iss is None and meta.get("authorization_response_iss_parameter_supported"):
            return error_page(
                "issuer_missing",
                "The provider advertises RFC 9207 but the response has no iss parameter",
            )
        try:
            token = dict(
                idp.authorize_access_token(
                    claims_options=claims_options(issuer, client_id), leeway=LEEWAY
                )
            )
        except PROTOCOL_ERRORS as exc:
            code, description = error_description(exc)
            return error_page(code, description)
        claims = token.get("userinfo")
        if not claims or "id_token" not in token:
            return error_page("invalid_id_token", "The token response has no valid ID token")
        claims = dict(claims)
        userinfo, userinfo_error = fetch_userinfo(token, claims["sub"])
        store.delete(flask.session.get("sid"))
        flask.session["sid"] = secrets.token_urlsafe(32)  # fresh id on every sign-in
        save(
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

    @app.post("/refresh")
    def refresh() -> BaseResponse:
        """Use the refresh-token grant; record the outcome and show it on the home page."""
        data = current()
        if data is None:
            return error_page("not_signed_in", "Sign in first / 先にサインインしてください")
        result: dict[str, Any] = {"at": int(time.time())}
        refresh_token = data.get("refresh_token")
        if not refresh_token:
            result.update(ok=False, error="no_refresh_token", description="No refresh token")
        else:
            try:
                result.update(refresh_tokens(data, refresh_token))
            except FrontendError as exc:
                result.update(ok=False, error=exc.error, description=exc.description)
            except PROTOCOL_ERRORS as exc:
                code, description = error_description(exc)
                result.update(ok=False, error=code, description=description)
        data["refresh_result"] = result
        save(data)
        return flask.redirect(flask.url_for("index"), 303)

    def refresh_tokens(data: dict[str, Any], refresh_token: str) -> dict[str, Any]:
        """Redeem the refresh token, validate any new ID token and update ``data`` in place."""
        metadata()
        token = dict(
            idp.fetch_access_token(grant_type="refresh_token", refresh_token=refresh_token)
        )
        old = data.get("claims") or {}
        new_claims: dict[str, Any] | None = None
        if "id_token" in token:
            new_claims = dict(
                idp.parse_id_token(
                    token,
                    nonce=old.get("nonce"),
                    claims_options=claims_options(issuer, client_id),
                    claims_cls=refreshed_claims_cls(token.get("access_token")),
                    leeway=LEEWAY,
                )
            )
            check_refreshed_claims(old, new_claims)
        rotated = bool(token.get("refresh_token")) and token["refresh_token"] != refresh_token
        data.update(
            access_token=token.get("access_token"),
            refresh_token=token.get("refresh_token") or refresh_token,
            expires_at=token.get("expires_at"),
            scope=token.get("scope", data.get("scope", "")),
        )
        if new_claims is not None:
            data.update(id_token=token["id_token"], claims=new_claims)
        userinfo, userinfo_error = fetch_userinfo(token, old.get("sub", ""))
        data.update(userinfo=userinfo, userinfo_error=userinfo_error)
        return {
            "ok": True,
            "id_token_returned": new_claims is not None,
            "refresh_token_rotated": rotated,
            "claims": new_claims,
        }

    @app.post("/logout")
    def logout() -> BaseResponse:
        """Drop the local session, then hand over to the provider's end_session_endpoint."""
        data = current()
        store.delete(flask.session.get("sid"))
        lang = flask.session.get("lang")
        flask.session.clear()
        if lang:
            flask.session["lang"] = lang
        meta = metadata()
        if not meta.get("end_session_endpoint"):
            return error_page(
                "end_session_unsupported",
                "Signed out locally; the provider has no end_session_endpoint",
                502,
            )
        # authlib is untyped; this is Flask's redirect().
        response: BaseResponse = idp.logout_redirect(
            post_logout_redirect_uri=post_logout_redirect_uri,
            id_token_hint=(data or {}).get("id_token"),
            client_id=client_id,
            state=secrets.token_urlsafe(24),
        )
        return response

    @app.post("/backchannel-logout")
    def backchannel_logout() -> flask.Response:
        """OIDC Back-Channel Logout 1.0 §2.5–2.8: end the sessions a valid logout token
        names; 400 for an invalid token; 503 (the provider retries) when the provider's keys
        cannot be fetched."""
        token = flask.request.form.get("logout_token", "")
        try:
            if not token:
                raise LogoutTokenError("missing logout_token")
            try:
                claims = validate(token, force_jwks=False)
            except UnknownKeyError:
                claims = validate(token, force_jwks=True)
        except LogoutTokenError as exc:
            response = flask.jsonify(error="invalid_request", error_description=str(exc))
            response.status_code = 400
        except PROTOCOL_ERRORS as exc:
            response = flask.jsonify(error="temporarily_unavailable", error_description="JWKS")
            response.status_code = 503
            app.logger.warning("JWKS unavailable: %s", type(exc).__name__)
        else:
            store.end_sessions(claims.get("sub"), claims.get("sid"))
            response = flask.make_response("", 200)
        response.headers["Cache-Control"] = "no-store"
        return response

    def validate(token: str, force_jwks: bool) -> dict[str, Any]:
        """Validate against the provider's JWKS (cached by authlib; ``force_jwks`` fetches it
        again, once, for a key it does not know: a rotation since the last fetch)."""
        jwks = KeySet.import_key_set(idp.fetch_jwk_set(force=force_jwks))
        return validate_logout_token(token, jwks, issuer, client_id, seen_logout_tokens)

    return app


def main() -> None:
    """Run the frontend with Flask's dev server (manual testing only), configured from env."""
    names = ("FRONTEND_ISSUER", "FRONTEND_CLIENT_ID", "FRONTEND_CLIENT_SECRET", "FRONTEND_BASE_URL")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"missing environment variables: {', '.join(missing)}")
    base_url = os.environ["FRONTEND_BASE_URL"]
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    app = create_frontend_app(
        issuer=os.environ["FRONTEND_ISSUER"],
        client_id=os.environ["FRONTEND_CLIENT_ID"],
        client_secret=os.environ["FRONTEND_CLIENT_SECRET"],
        base_url=base_url,
    )
    app.run(host=parts.hostname or "127.0.0.1", port=port, debug=False, threaded=True)


if __name__ == "__main__":
    main()
