"""Local OpenID providers standing in for Google and Microsoft (UPSTREAMS.md "Google",
"Microsoft", "Test doubles"), served over real HTTP on 127.0.0.1 with real RS256 signatures.

Why our own and not ``oidc-provider-mock``: under this project's warnings-as-errors its token
endpoint fails (0.3.x calls authlib's ``get_jwt_config``, deprecated and announced for removal,
and imports the deprecated ``authlib.jose``), and it cannot serve Microsoft's templated
issuer, keys with an ``issuer`` member, or tokens signed by an unpublished key.

:class:`OidcDouble` is a small code-flow OP built on joserfc and authlib's PKCE helper:

- ``{authority}/.well-known/openid-configuration``; for Microsoft the authorities ``common``,
  ``organizations``, ``consumers`` publish the issuer template
  ``{base}/{tenantid}/v2.0`` and a tenant id publishes its own issuer;
- ``/authorize`` has no login page: it signs in ``next_user`` (a sub) and redirects with a
  single-use code, or answers ``error=access_denied`` when ``next_user`` is ``None``; the
  request's parameters are kept in ``last_authorize`` for the tests;
- ``/token`` checks client authentication (Basic or post), redeems each code once, only with
  the authorize ``redirect_uri`` and the PKCE verifier (S256), and issues an RS256 ID token
  with ``iss``, ``aud``, ``iat``, ``exp``, ``auth_time``, ``nonce`` and the user's claims;
- ``/jwks`` publishes the signing keys (for Microsoft with the templated ``issuer`` member).

Test knobs: ``tamper(claims, header)`` edits an ID token before signing; ``sign_with`` signs
with another key (unpublished, or an extra one published via ``extra_keys``); ``key_issuer``
replaces the keys' ``issuer`` member; ``token_delay`` slows the token endpoint. ``stop()``
closes the port.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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

from flask import Flask
from flask import Response
from flask import jsonify
from flask import redirect
from flask import request
from joserfc import jwt
from joserfc.jwk import Key
from joserfc.jwk import RSAKey
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

PERSONAL_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
MULTI_TENANT_AUTHORITIES = ("common", "organizations", "consumers")
TOKEN_LIFETIME = 3600


@dataclass
class DoubleUser:
    """A person at the upstream: ``sub`` is the Google subject or the Microsoft ``oid``."""

    sub: str
    claims: dict[str, Any] = field(default_factory=dict)
    #: Microsoft: the person's tenant (``tid``); ``None`` at Google.
    tenant: str | None = None


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    user: DoubleUser
    nonce: str | None
    code_challenge: str | None
    auth_time: int


def generate_signing_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or uuid.uuid4().hex[:8]})


def _s256(verifier: str) -> str:
    # BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) == code_challenge (RFC 7636 §4.6)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class OidcDouble:
    """One upstream. ``microsoft=True``: templated issuer, ``tid``/``oid``, pairwise ``sub``."""

    def __init__(self, *, microsoft: bool = False) -> None:
        self.microsoft = microsoft
        self.users: dict[str, DoubleUser] = {}
        self.clients: dict[str, Client] = {}
        self.signing_key = generate_signing_key("k1")
        self.extra_keys: list[RSAKey] = []
        #: None: sign with ``signing_key``; else this key (published or not; an ``OctKey``
        #: with ``tamper`` setting ``alg`` to ``HS256`` for an HMAC-signed token).
        self.sign_with: Key | None = None
        #: Microsoft: the keys' ``issuer`` member; default the template.
        self.key_issuer: str | None = None
        self.tamper: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
        self.token_delay = 0.0
        #: The sub to sign in at the next authorization request; ``None``: the person declines.
        self.next_user: str | None = None
        self.last_authorize: dict[str, str] = {}
        self.jwks_fetches = 0
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- setup ---------------------------------------------------------------------------

    def add_client(self, client_id: str, redirect_uri: str) -> Client:
        client = Client(client_id, secrets.token_urlsafe(24), (redirect_uri,))
        self.clients[client_id] = client
        return client

    def add_user(self, sub: str, tenant: str | None = None, **claims: Any) -> DoubleUser:
        user = DoubleUser(sub=sub, claims=claims, tenant=tenant)
        self.users[sub] = user
        return user

    @property
    def issuer(self) -> str:
        """Google: the root URL. Microsoft: the template."""
        return f"{self.base_url}/{{tenantid}}/v2.0" if self.microsoft else self.base_url

    def tenant_issuer(self, tenant: str) -> str:
        return f"{self.base_url}/{tenant}/v2.0"

    def authority(self, tenant: str = "common") -> str:
        return f"{self.base_url}/{tenant}/v2.0"

    # -- the protocol --------------------------------------------------------------------

    def _metadata(self, tenant: str | None) -> dict[str, Any]:
        if tenant is None:
            issuer = self.issuer
        elif tenant in MULTI_TENANT_AUTHORITIES:
            issuer = self.issuer
        else:
            issuer = self.tenant_issuer(tenant)
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{self.base_url}/authorize",
            "token_endpoint": f"{self.base_url}/token",
            "jwks_uri": f"{self.base_url}/jwks",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["pairwise" if self.microsoft else "public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    def _jwks(self) -> dict[str, Any]:
        keys = []
        for key in (self.signing_key, *self.extra_keys):
            published = key.as_dict(private=False)
            published["use"] = "sig"
            if self.microsoft:
                published["issuer"] = self.key_issuer or self.issuer
            keys.append(published)
        return {"keys": keys}

    def _authorize(self) -> Response:
        args = request.args.to_dict()
        self.last_authorize = args
        client = self.clients.get(args.get("client_id", ""))
        redirect_uri = args.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return Response("unknown client or redirect_uri", status=400)
        back: dict[str, str] = {"state": args["state"]} if "state" in args else {}
        if args.get("response_type") != "code" or "openid" not in args.get("scope", "").split():
            back["error"] = "invalid_request"
        elif args.get("code_challenge") and args.get("code_challenge_method") != "S256":
            back["error"] = "invalid_request"
        elif self.next_user is None:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(32)
            with self._lock:
                self._grants[code] = _Grant(
                    client_id=client.client_id,
                    redirect_uri=redirect_uri,
                    user=self.users[self.next_user],
                    nonce=args.get("nonce"),
                    code_challenge=args.get("code_challenge"),
                    auth_time=int(time.time()),
                )
            back["code"] = code
        return redirect(f"{redirect_uri}?{urlencode(back)}")

    def _authenticate_client(self) -> Client | None:
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            client_id, secret = auth.username or "", auth.password or ""
        else:
            client_id = request.form.get("client_id", "")
            secret = request.form.get("client_secret", "")
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret, secret):
            return None
        return client

    def _token(self) -> tuple[Response, int] | Response:
        if self.token_delay:
            time.sleep(self.token_delay)
        client = self._authenticate_client()
        if client is None:
            return jsonify(error="invalid_client"), 401
        if request.form.get("grant_type") != "authorization_code":
            return jsonify(error="unsupported_grant_type"), 400
        with self._lock:
            grant = self._grants.pop(request.form.get("code", ""), None)  # single use
        if (
            grant is None
            or grant.client_id != client.client_id
            or grant.redirect_uri != request.form.get("redirect_uri")
        ):
            return jsonify(error="invalid_grant"), 400
        verifier = request.form.get("code_verifier")
        if grant.code_challenge is not None and (
            verifier is None or not hmac.compare_digest(_s256(verifier), grant.code_challenge)
        ):
            return jsonify(error="invalid_grant", error_description="PKCE"), 400
        access_token = secrets.token_urlsafe(32)
        return jsonify(
            access_token=access_token,
            token_type="Bearer",
            expires_in=TOKEN_LIFETIME,
            scope="openid email profile",
            id_token=self.issue_id_token(grant, client),
        )

    def issue_id_token(self, grant: _Grant, client: Client) -> str:
        now = int(time.time())
        user = grant.user
        claims: dict[str, Any] = {
            "aud": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "auth_time": grant.auth_time,
        }
        if self.microsoft:
            assert user.tenant is not None
            claims["iss"] = self.tenant_issuer(user.tenant)
            claims["tid"] = user.tenant
            claims["oid"] = user.sub
            # pairwise: a different sub for each client id
            claims["sub"] = hashlib.sha256(f"{client.client_id}|{user.sub}".encode()).hexdigest()
        else:
            claims["iss"] = self.issuer
            claims["sub"] = user.sub
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(user.claims)
        key = self.sign_with or self.signing_key
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
        if key.kid:
            header["kid"] = key.kid
        if self.tamper is not None:
            self.tamper(claims, header)
        return jwt.encode(header, claims, key, algorithms=[header["alg"]])

    def app(self) -> Flask:
        app = Flask(f"double-{'microsoft' if self.microsoft else 'google'}")

        @app.get("/.well-known/openid-configuration")
        def root_metadata() -> Response:
            return jsonify(self._metadata(None))

        @app.get("/<tenant>/v2.0/.well-known/openid-configuration")
        def tenant_metadata(tenant: str) -> Response:
            return jsonify(self._metadata(tenant))

        @app.get("/jwks")
        def jwks() -> Response:
            self.jwks_fetches += 1
            return jsonify(self._jwks())

        app.add_url_rule("/authorize", view_func=self._authorize)
        app.add_url_rule("/token", view_func=self._token, methods=["POST"])
        return app

    # -- server --------------------------------------------------------------------------

    def start(self) -> OidcDouble:
        self._server = make_server(
            "127.0.0.1", 0, self.app(), threaded=True, request_handler=_QuietHandler
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def reset(self) -> None:
        """Undo the test knobs."""
        self.sign_with = None
        self.extra_keys = []
        self.key_issuer = None
        self.tamper = None
        self.token_delay = 0.0
        self.next_user = None


@contextmanager
def running_double(*, microsoft: bool = False) -> Iterator[OidcDouble]:
    double = OidcDouble(microsoft=microsoft).start()
    try:
        yield double
    finally:
        double.stop()
