"""OpenID Connect endpoints: discovery, JWKS, authorize, token, userinfo, revocation,
introspection, end session. Thin: authlib does the protocol (STYLE.md §6)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint
from flask import Response
from flask import g
from flask import jsonify
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp import extensions
from idp.clients import SERVICE_SCOPES
from idp.login.refusal import error_page
from idp.login.start import handle_authorize
from idp.oidc.claims import SUPPORTED_CLAIMS
from idp.oidc.logout import EndSession
from idp.sso import clear_session_cookie
from idp.web import csrf
from idp.web import csrf_exempt
from policies.assurance import ACR_VALUES as ASSURANCE_ACR_VALUES

bp = Blueprint("oidc", __name__)

ACR_VALUES = list(ASSURANCE_ACR_VALUES)


@bp.get("/.well-known/openid-configuration")
def discovery() -> BaseResponse:
    """OpenID Connect Discovery 1.0 §3 and RFC 8414: every field that is true of us."""
    issuer = extensions.settings().issuer
    metadata = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "end_session_endpoint": f"{issuer}/logout",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "scopes_supported": [
            "openid",
            "profile",
            "email",
            "offline_access",
            "contract",
            *SERVICE_SCOPES,
        ],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(SUPPORTED_CLAIMS),
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "acr_values_supported": ACR_VALUES,
        "ui_locales_supported": ["ja", "en"],
        "claims_locales_supported": ["ja", "en"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": False,
        # OIDC Back-Channel Logout 1.0 §2.1 (X7): logout tokens, with ``sid`` (which every
        # ID token carries, §2.3).
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }
    response = jsonify(metadata)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.get("/jwks.json")
def jwks() -> BaseResponse:
    response = jsonify(extensions.keys().public_jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/authorize", methods=["GET", "POST"])
@csrf_exempt
def authorize() -> BaseResponse:
    return handle_authorize()


@bp.post("/token")
@csrf_exempt
def token() -> BaseResponse:
    return extensions.oauth().create_token_response()  # type: ignore[no-any-return]


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf_exempt
def userinfo() -> BaseResponse:
    return extensions.oauth().create_endpoint_response("userinfo")  # type: ignore[no-any-return]


@bp.post("/revoke")
@csrf_exempt
def revoke() -> BaseResponse:
    return extensions.oauth().create_endpoint_response("revocation")  # type: ignore[no-any-return]


@bp.post("/introspect")
@csrf_exempt
def introspect() -> BaseResponse:
    return extensions.oauth().create_endpoint_response("introspection")  # type: ignore[no-any-return]


@bp.route("/logout", methods=["GET", "POST"])
@csrf_exempt
def logout() -> BaseResponse:
    """RP-initiated logout: with a valid ``id_token_hint`` at once; without one, only after
    the person confirms on our page (a CSRF-protected POST)."""
    server = extensions.oauth()
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return error_page(error)
    confirmed = request.method == "POST" and request.form.get("confirm") == "yes"
    if validated.needs_confirmation and not confirmed:
        return Response(
            render_template("login/logout_confirm.html", params=request.values.to_dict())
        )
    if validated.needs_confirmation:
        csrf.protect()
    response = server.create_endpoint_response("end_session", validated)
    if response is None:
        response = Response(render_template("login/logged_out.html"))
    if g.get("session_ended") or validated.id_token_claims is None:
        clear_session_cookie(response)
    return response  # type: ignore[no-any-return]


def setup_oidc_views(app: Any) -> None:
    extensions.oauth.of(app).register_endpoint(EndSession)
    app.register_blueprint(bp)
