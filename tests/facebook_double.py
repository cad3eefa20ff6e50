"""A local Facebook: the Login Dialog and the Graph API routes our broker meets, served over
real HTTP on 127.0.0.1 (UPSTREAMS.md "Facebook", "Double").

- ``/{version}/dialog/oauth`` has no login form: it signs in ``next_user`` and redirects
  with a single-use ``code``, or with ``error=access_denied&error_reason=user_denied`` when
  ``deny`` is set. Like Facebook it echoes ``state`` and appends ``#_=_``.
- ``/{version}/oauth/access_token`` (GET or POST) checks the app id and secret, redeems each
  code once, and only with the ``redirect_uri`` of the dialog.
- ``/{version}/me`` answers ``id``, ``name`` and ``email`` (omitted when not granted), with
  ids scoped to each app; the ``appsecret_proof`` is required and checked against the
  token's app secret, and a wrong or missing one gets the exact Graph error.
- ``/debug_token`` (versioned or not) answers for the app whose app token ``{id}|{secret}``
  asks.

Errors are Graph's ``{"error": {"message", "type", "code"}}`` with Facebook's texts. Test
knobs: ``slow`` (route names answered after ``delay``), ``before_answer`` (called with the
route name, e.g. to reset an app secret mid-login) and ``foreign_token_app`` (the token
endpoint issues tokens of that app instead: a token substitution). ``stop()`` closes the port.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from flask import Flask
from flask import Response
from flask import jsonify
from flask import request
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

VERSION = re.compile(r"v[1-9][0-9]*\.0")
PROFILE_FIELDS = ("id", "name", "email")
#: UPSTREAMS.md: the answer to a wrong or missing ``appsecret_proof``, exactly.
INVALID_PROOF = {
    "error": {
        "message": "Invalid appsecret_proof provided in the API argument",
        "type": "GraphMethodException",
        "code": 100,
    }
}
TOKEN_LIFETIME = 60 * 86400


@dataclass
class FacebookUser:
    """A person on Facebook. ``grants_email`` False: they untick email in the dialog."""

    name: str
    email: str | None = None
    grants_email: bool = True
    #: The person's global identity, from which every app-scoped id derives.
    key: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class FacebookApp:
    app_id: str
    secret: str
    name: str = "WORKSDRIVE"


@dataclass(frozen=True)
class Grant:
    """What one sign-in granted one app: behind a code, then behind an access token."""

    app_id: str
    user: FacebookUser
    redirect_uri: str
    scopes: tuple[str, ...]
    issued_at: int = field(default_factory=lambda: int(time.time()))


class QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


def app_scoped_id(user: FacebookUser, app_id: str) -> str:
    """A numeric id for the person, stable for one app and different for each app."""
    digest = hashlib.sha256(f"{app_id}:{user.key}".encode()).hexdigest()
    return str(10**15 + int(digest, 16) % (9 * 10**15))


def graph_error(status: int, message: str, code: int, type: str = "OAuthException") -> Response:
    response = jsonify({"error": {"message": message, "type": type, "code": code}})
    response.status_code = status
    return response


def add_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")) + "#_=_"


class FacebookDouble:
    """Facebook's dialog and Graph API for the apps in ``apps``, served in a thread."""

    def __init__(self) -> None:
        self.apps: dict[str, FacebookApp] = {}
        #: Who is signed in to Facebook in "the browser"; the dialog approves as them.
        self.next_user: FacebookUser | None = None
        #: The person presses "Cancel" in the dialog.
        self.deny = False
        self.slow: set[str] = set()
        self.delay = 2.0
        self.before_answer: Callable[[str], None] | None = None
        self.foreign_token_app: str | None = None
        #: The dialog requests' query parameters, in order.
        self.dialogs: list[dict[str, str]] = []
        #: Requests per route, and how many ``appsecret_proof`` values were refused.
        self.hits: dict[str, int] = {}
        self.proof_rejections = 0
        self.codes: dict[str, Grant] = {}
        self.used_codes: set[str] = set()
        self.tokens: dict[str, Grant] = {}
        self._release = threading.Event()
        self.app = self.build_app()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def add_app(self, app_id: str | None = None, secret: str | None = None) -> FacebookApp:
        app = FacebookApp(
            app_id or str(secrets.randbelow(9 * 10**14) + 10**14),
            secret or secrets.token_hex(16),
        )
        self.apps[app.app_id] = app
        return app

    def reset_secret(self, app_id: str) -> str:
        """ "Reset" in the app dashboard: the old secret stops working at once."""
        self.apps[app_id].secret = secrets.token_hex(16)
        return self.apps[app_id].secret

    def issue_token(self, app_id: str, user: FacebookUser, scopes: tuple[str, ...]) -> str:
        """A user access token, as after a completed dialog (for tests of the Graph routes)."""
        token = "EAA" + secrets.token_urlsafe(48)
        self.tokens[token] = Grant(app_id, user, "", scopes)
        return token

    def stop(self) -> None:
        """Close the port (a later request is refused) and release slow answers."""
        if self._thread.is_alive():
            self._release.set()
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()

    def build_app(self) -> Flask:
        app = Flask(__name__)

        @app.before_request
        def count_and_delay() -> None:
            route = request.endpoint or "unknown"
            self.hits[route] = self.hits.get(route, 0) + 1
            if route in self.slow:
                self._release.wait(self.delay)
            if self.before_answer is not None:
                self.before_answer(route)

        app.add_url_rule("/<version>/dialog/oauth", "dialog", self.dialog)
        app.add_url_rule(
            "/<version>/oauth/access_token", "token", self.token, methods=["GET", "POST"]
        )
        app.add_url_rule("/<version>/me", "me", self.me)
        app.add_url_rule("/debug_token", "debug_token", self.debug_token)
        app.add_url_rule("/<version>/debug_token", "debug_token", self.debug_token)
        return app

    def dialog(self, version: str) -> Response:
        args = request.args.to_dict()
        self.dialogs.append(args)
        if not VERSION.fullmatch(version):
            return Response("Unsupported Graph API version", 400)
        if args.get("client_id") not in self.apps:
            return Response("Invalid App ID: the provided app ID does not look valid.", 400)
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_uri.startswith(("https://", "http://")):
            return Response("URL blocked: the redirect URI is not whitelisted.", 400)
        if args.get("response_type", "code") != "code":
            return Response("This double serves response_type=code only.", 400)
        state = {"state": args["state"]} if "state" in args else {}
        if self.deny:
            denied = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
            }
            return Response(
                status=302, headers={"Location": add_query(redirect_uri, denied | state)}
            )
        if self.next_user is None:
            return Response("Nobody is signed in to the double: set next_user.", 400)
        asked = {scope.strip() for scope in args.get("scope", "").split(",") if scope.strip()}
        scopes = {"public_profile"} | asked
        if not (self.next_user.grants_email and self.next_user.email):
            scopes.discard("email")
        code = secrets.token_urlsafe(64)
        self.codes[code] = Grant(
            args["client_id"], self.next_user, redirect_uri, tuple(sorted(scopes))
        )
        location = add_query(redirect_uri, {"code": code} | state)
        return Response(status=302, headers={"Location": location})

    def token(self, version: str) -> Response:
        values = request.values
        client_id = values.get("client_id")
        if not client_id:
            return graph_error(400, "Missing client_id parameter.", 101)
        app = self.apps.get(client_id)
        if app is None:
            return graph_error(400, "Error validating application. Invalid application ID.", 101)
        if not hmac.compare_digest(values.get("client_secret", ""), app.secret):
            return graph_error(400, "Error validating client secret.", 1)
        code = values.get("code", "")
        grant = self.codes.pop(code, None)
        if grant is None or grant.app_id != app.app_id:
            if code in self.used_codes:
                return graph_error(400, "This authorization code has been used.", 100)
            return graph_error(400, "Invalid verification code format.", 100)
        self.used_codes.add(code)
        if values.get("redirect_uri") != grant.redirect_uri:
            return graph_error(
                400,
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request",
                100,
            )
        token = self.issue_token(self.foreign_token_app or grant.app_id, grant.user, grant.scopes)
        return jsonify(
            {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_LIFETIME}
        )

    def me(self, version: str) -> Response:
        args = request.args
        token = args.get("access_token")
        if not token:
            return graph_error(
                400,
                "An active access token must be used to query information about the current user.",
                2500,
            )
        grant = self.tokens.get(token)
        if grant is None:
            return graph_error(400, "Invalid OAuth access token data.", 190)
        secret = self.apps[grant.app_id].secret.encode()
        expected = hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(args.get("appsecret_proof", ""), expected):
            self.proof_rejections += 1
            response = jsonify(INVALID_PROOF)
            response.status_code = 400
            return response
        fields = [name for name in args.get("fields", "id,name").split(",") if name]
        for name in fields:
            if name not in PROFILE_FIELDS:
                return graph_error(
                    400,
                    f"(#100) Tried accessing nonexisting field ({name}) on node type (User)",
                    100,
                )
        profile = {"id": app_scoped_id(grant.user, grant.app_id), "name": grant.user.name}
        if "email" in grant.scopes and grant.user.email:
            profile["email"] = grant.user.email
        return jsonify({name: profile[name] for name in fields if name in profile})

    def debug_token(self, version: str | None = None) -> Response:
        args = request.args
        app_id, _, secret = args.get("access_token", "").partition("|")
        app = self.apps.get(app_id)
        if app is None or not hmac.compare_digest(secret, app.secret):
            return graph_error(400, "Invalid OAuth access token signature.", 190)
        if not args.get("input_token"):
            return graph_error(400, "(#100) The parameter input_token is required", 100)
        grant = self.tokens.get(args["input_token"])
        if grant is None:
            invalid = {"code": 190, "message": "Invalid OAuth access token."}
            return jsonify({"data": {"error": invalid, "is_valid": False, "scopes": []}})
        if grant.app_id != app.app_id:
            return graph_error(
                400,
                "(#100) You must provide an app access token, or a user access token that is "
                "an owner or developer of the app",
                100,
            )
        data: dict[str, Any] = {
            "app_id": grant.app_id,
            "type": "USER",
            "application": app.name,
            "data_access_expires_at": grant.issued_at + 90 * 86400,
            "expires_at": grant.issued_at + TOKEN_LIFETIME,
            "is_valid": True,
            "issued_at": grant.issued_at,
            "scopes": list(grant.scopes),
            "user_id": app_scoped_id(grant.user, grant.app_id),
        }
        return jsonify({"data": data})


@contextmanager
def run_facebook_double() -> Iterator[FacebookDouble]:
    """A running double, stopped on exit (the test fixture's body)."""
    double = FacebookDouble()
    try:
        yield double
    finally:
        double.stop()
