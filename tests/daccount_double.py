"""A local d account (d アカウント・コネクト) OpenID provider for the broker tests.

UPSTREAMS.md "NTT docomo d account", Double: the issuer has the trailing slash
(``http://127.0.0.1:PORT/``), the JWKS holds one RSA key without ``kid``, ``id_token_alg``
switches to HS256 (HMAC with the client secret), the token endpoint takes HTTP Basic only
(``client_secret_post`` is refused), ``sub`` is opaque and pairwise, unknown authorize
parameters (``authif``) are ignored, codes are single-use, and the login page can decline
(``error=access_denied``). The endpoint paths are d account's; ``/common/token`` is the older
token path. JOSE is joserfc's, PKCE authlib's.

The login page is driven over plain HTTP: GET the authorization URL, then POST ``user=<id>``
(or ``action=deny``) to the same URL. ``tamper`` changes the next ID token (claim overrides,
``None`` deletes a claim, ``"_sign_with": "foreign"`` signs it with a key the JWKS lacks).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode
from urllib.parse import urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import Key
from joserfc.jwk import OctKey
from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

AUTHORIZE_PATH = "/cgi8/oidc/authorize"
TOKEN_PATHS = ("/token", "/common/token")
USERINFO_PATH = "/userinfo"
JWKS_PATH = "/oft/external/ofrnt/v1.0/jwksget"
ID_TOKEN_TTL = 600


class QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class DAccountDouble:
    """d account for one registered RP, served on 127.0.0.1 in a thread until :meth:`stop`."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        #: ``RS256`` (kid-less JWKS key) or ``HS256`` (the client secret).
        self.id_token_alg = "RS256"
        #: One-shot changes to the next ID token; see the module docstring.
        self.tamper: dict[str, Any] | None = None
        #: The query of every authorization request, as received.
        self.authorize_requests: list[dict[str, str]] = []
        #: Every token request: ``path`` and client ``auth`` (``basic``, ``post``, ``none``).
        self.token_requests: list[dict[str, str]] = []
        self._key = RSAKey.generate_key(2048, auto_kid=False)
        self._foreign_key = RSAKey.generate_key(2048, auto_kid=False)
        self._salt = secrets.token_bytes(16)
        self._codes: dict[str, dict[str, Any]] = {}
        self._access_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        #: With the trailing slash, as d account's.
        self.issuer = self.url + "/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def reset(self) -> None:
        self.id_token_alg = "RS256"
        self.tamper = None
        self.authorize_requests.clear()
        self.token_requests.clear()

    def subject_for(self, user: str) -> str:
        """The pairwise ``sub`` of ``user`` for this RP's sector (its redirect URI host)."""
        sector = urlsplit(self.redirect_uri).hostname or ""
        message = f"{sector}\0{user}".encode()
        return hmac.new(self._salt, message, hashlib.sha256).hexdigest()

    # -- HTTP --------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._route(request)
        return response(environ, start_response)

    def _route(self, request: Request) -> Response:
        path = request.path
        if path == "/.well-known/openid-configuration":
            return _json(self._discovery())
        if path == JWKS_PATH:
            return _json({"keys": [self._key.as_dict(private=False, use="sig")]})
        if path == AUTHORIZE_PATH:
            return self._authorize(request)
        if path in TOKEN_PATHS and request.method == "POST":
            return self._token(request)
        if path == USERINFO_PATH:
            return self._userinfo(request)
        return _json({"error": "not_found"}, 404)

    def _discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url + AUTHORIZE_PATH,
            "token_endpoint": self.url + TOKEN_PATHS[0],
            "userinfo_endpoint": self.url + USERINFO_PATH,
            "jwks_uri": self.url + JWKS_PATH,
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["HS256", "RS256"],
        }

    def _authorize(self, request: Request) -> Response:
        query = request.args
        if query.get("client_id") != self.client_id:
            return Response("unknown client_id", 400)
        if query.get("redirect_uri") != self.redirect_uri:
            return Response("redirect_uri is not registered", 400)
        state = query.get("state")
        if query.get("response_type") != "code":
            return self._redirect({"error": "unsupported_response_type", "state": state})
        if "openid" not in query.get("scope", "").split():
            return self._redirect({"error": "invalid_scope", "state": state})
        if request.method == "GET":
            self.authorize_requests.append(dict(query))
            page = _LOGIN_PAGE.format(action=html.escape(request.full_path))
            return Response(page, 200, mimetype="text/html")
        if request.form.get("action") == "deny":
            return self._redirect({"error": "access_denied", "state": state})
        user = request.form.get("user", "")
        if not user:
            return Response("user expected", 400)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "user": user,
                "nonce": query.get("nonce"),
                "redirect_uri": query["redirect_uri"],
                "code_challenge": query.get("code_challenge"),
                "auth_time": int(time.time()),
            }
        return self._redirect({"code": code, "state": state})

    def _redirect(self, params: dict[str, str | None]) -> Response:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return Response(status=302, headers={"Location": f"{self.redirect_uri}?{query}"})

    def _token(self, request: Request) -> Response:
        form = request.form
        auth = request.authorization
        is_basic = auth is not None and auth.type == "basic"
        method = "basic" if is_basic else "post" if "client_secret" in form else "none"
        self.token_requests.append({"path": request.path, "auth": method})
        if not is_basic or "client_secret" in form:
            # Basic only: client_secret_post is refused like a wrong secret
            return _json({"error": "invalid_client"}, 401, {"WWW-Authenticate": "Basic"})
        assert auth is not None
        if not (
            auth.username == self.client_id
            and hmac.compare_digest(auth.password or "", self.client_secret)
        ):
            return _json({"error": "invalid_client"}, 401, {"WWW-Authenticate": "Basic"})
        if form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type"}, 400)
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return _json({"error": "invalid_grant"}, 400)
        challenge = grant["code_challenge"]
        verifier = form.get("code_verifier")
        if challenge is not None and (
            not verifier or create_s256_code_challenge(verifier) != challenge
        ):
            return _json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        access_token = secrets.token_urlsafe(24)
        subject = self.subject_for(grant["user"])
        with self._lock:
            self._access_tokens[access_token] = subject
        return _json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self._id_token(subject, grant),
            }
        )

    def _id_token(self, subject: str, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.client_id,
            "exp": now + ID_TOKEN_TTL,
            "iat": now,
            "auth_time": grant["auth_time"],
        }
        if grant["nonce"] is not None:
            claims["nonce"] = grant["nonce"]
        tamper, self.tamper = dict(self.tamper or {}), None
        sign_with = tamper.pop("_sign_with", None)
        for name, value in tamper.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        key: Key
        if self.id_token_alg == "HS256":
            key = OctKey.import_key(self.client_secret)
        else:
            key = self._foreign_key if sign_with == "foreign" else self._key
        # no kid: d account's JWKS has a single key
        return jwt.encode({"alg": self.id_token_alg, "typ": "JWT"}, claims, key)

    def _userinfo(self, request: Request) -> Response:
        auth = request.authorization
        subject = self._access_tokens.get(auth.token or "") if auth and auth.token else None
        if subject is None:
            return _json({"error": "invalid_token"}, 401, {"WWW-Authenticate": "Bearer"})
        return _json({"sub": subject})


_LOGIN_PAGE = """<!doctype html>
<html lang="ja">
<title>dアカウント ログイン</title>
<link rel="icon" href="data:,">
<main>
<h1>dアカウント ログイン</h1>
<form method="post" action="{action}">
  <label for="user">dアカウントID</label>
  <input id="user" name="user" autocomplete="username">
  <button>ログイン</button>
  <button name="action" value="deny">キャンセル</button>
</form>
</main>
"""


def _json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(json.dumps(body), status, headers=headers, mimetype="application/json")
