"""The demo frontend's app factory (``create_frontend_app``) and its command-line start."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import flask
from authlib.integrations.flask_client import OAuth

from idp.demo.frontend.guards import register_guards
from idp.demo.frontend.pages import register_pages
from idp.demo.frontend.relying_party import RelyingParty
from idp.demo.frontend.relying_party import relying_party_service
from idp.demo.frontend.routes import register_routes

TEMPLATES_DIR = Path(__file__).resolve().parents[3] / "templates"
#: The app's import name (and so its logger's), the package's as before it was cut in modules.
IMPORT_NAME = "idp.demo.frontend"
SCOPE = "openid profile email offline_access contract"
#: Seconds to wait for any server-side HTTP call (discovery, JWKS, token, userinfo).
HTTP_TIMEOUT = 10
SESSION_COOKIE = "worksdrive_demo_session"


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
    metadata_base = (provider_internal_url or issuer).rstrip("/")

    app = flask.Flask(IMPORT_NAME, template_folder=str(TEMPLATES_DIR), static_folder=None)
    app.secret_key = os.urandom(32)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=base_url.startswith("https://"),
    )
    oauth = OAuth(app)
    client = oauth.register(
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
    relying_party_service.register(app, RelyingParty(issuer, client_id, base_url, client))
    register_pages(app)
    register_guards(app)
    register_routes(app)
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
