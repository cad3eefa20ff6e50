"""The pages of the login steps that more than one request answers with: the password page
(L1) at ``/login`` and in answer to the authorization request itself, the consent page at
``/login/consent``, after the password and in answer to the authorization request (one
round trip less than a redirect to them, issue 13; Keycloak answers the authorization
request with its login form too)."""

from __future__ import annotations

from flask import Response
from flask import render_template
from werkzeug.wrappers import Response as BaseResponse

from idp import extensions
from idp.login.route import line_login_base
from idp.login.transaction import Transaction


def render_identify(
    tx: Transaction,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    action: str | None = None,
) -> BaseResponse:
    """The password page of ``tx``.

    :param action: where its form posts (with the transaction's id in the form); None: the
        page's own URL (``/login``, or ``/line/login`` through the line gateway).
    """
    return Response(
        render_template(
            "login/login.html",
            tx=tx,
            email=email or tx.login_hint,
            error=error,
            action=action,
            line_login=line_login_base() if extensions.settings().line_gateway_secret else None,
        ),
        status=status,
    )


def render_consent(tx: Transaction) -> BaseResponse:
    """The consent page of ``tx``; its form posts to ``/login/consent``."""
    # The registration cached since /authorize (idp/oidc/client_cache.py).
    client = extensions.oauth().query_client(tx.client_id)
    scopes = tx.params.get("scope", "").split()
    return Response(render_template("login/consent.html", tx=tx, client=client, scopes=scopes))
