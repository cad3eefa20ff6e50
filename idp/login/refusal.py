"""How a sign-in ends without a code (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6): an OAuth error
redirected to the relying party with ``iss`` (RFC 9207), or a page when its redirect URI
cannot be trusted. Used by the start, policies and finish steps alike."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import AccessDeniedError
from authlib.oauth2.rfc6749 import OAuth2Error
from flask import render_template
from werkzeug.wrappers import Response

from idp import extensions
from idp.login.transaction import Transaction


def oauth_server() -> Any:
    return extensions.oauth()


def error_response(error: OAuth2Error, redirect_uri: str | None, state: str | None) -> Response:
    """Redirect an OAuth error to the client, with ``iss`` (RFC 9207); or show a page when
    the redirect URI is not trusted (RFC 6749 §4.1.2.1: never redirect then)."""
    if not redirect_uri:
        return error_page(error)
    error.redirect_uri = redirect_uri
    error.state = state
    return oauth_server().create_error_redirect(error)  # type: ignore[no-any-return]


def error_page(error: OAuth2Error) -> Response:
    return Response(
        render_template("login/error.html", error=error.error, description=error.description),
        status=400,
        mimetype="text/html",
    )


def deny(tx: Transaction) -> Response:
    tx.close()
    return error_response(
        AccessDeniedError(), tx.params.get("redirect_uri"), tx.params.get("state")
    )


def deny_with(tx: Transaction, error: OAuth2Error) -> Response:
    """End the transaction with an OAuth error at the client's redirect URI."""
    tx.close()
    return error_response(error, tx.params.get("redirect_uri"), tx.params.get("state"))
