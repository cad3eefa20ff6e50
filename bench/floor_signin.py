"""The floor of a whole password sign-in on this stack (issue 13): a deliberately minimal
Flask app that does the least a correct sign-in of the provider's shape must do, served like
the provider, driven like the provider by the bench, with its server CPU per sign-in put in
bare argon2id verifications measured in the same run.

The sign-in (authorization code + PKCE S256, a consent page), four requests:

1. ``GET /authorize``: the client and its exact redirect URI (from a dict in memory), the
   request's parameters; one INSERT of the login transaction; the login page (Jinja, with a
   CSRF token in Flask's signed cookie session): no redirect hop.
2. ``POST /login``: the CSRF token and the transaction; one SELECT of the user by email; one
   argon2id verification at the provider's parameters (of a dummy hash for an unknown
   email); one UPDATE (failure counter reset, last sign-in) in its own transaction; the
   consent page, with a fresh CSRF token.
3. ``POST /consent``: the CSRF token; one transaction: the login transaction taken (DELETE …
   RETURNING: single use), a browser session row, the authorization code's row (its SHA-256,
   never the code), an audit row; 302 to the redirect URI with ``code``, ``state``, ``iss``.
4. ``POST /token``: ``client_secret_basic`` (SHA-256 of the secret, compared in constant
   time); one transaction: the code taken (DELETE … RETURNING), client, redirect URI, expiry
   and PKCE S256 checked, the access token's row; an ID token signed with RS256 (2,048-bit
   key; ``--alg ES256`` for P-256) by joserfc, as the provider signs; JSON, ``no-store``.

Served like ``idp serve`` (idp/cli/servers.py): gunicorn, sync workers, 2 workers, timeout
120 s, no control socket, and in each worker ``gc.freeze()`` and a GIL switch interval of
1 ms (``tune_worker``); the access log on, to stdout (a file here), in the provider's
format (``idp.logs.ACCESS_LOG_FORMAT``) built from the same eight values as the provider's
logger (``--no-access-log``: off). Not the provider's shedding sync worker, nor its JSON log
lines or redaction (no request line of this flow carries a secret).

SQLite in WAL mode with the provider's pragmas (idp/factory.py: ``synchronous=NORMAL``,
``busy_timeout``, ``foreign_keys=ON``, foreign keys declared), through SQLAlchemy Core
statements built once (``--db core``, the default: the cheapest this stack offers beside
raw SQL) or the ``sqlite3`` module with the same SQL (``--db sqlite3``).

``python bench/floor_signin.py`` provisions a throw-away database and key, starts the app
under gunicorn, runs sign-ins in a closed loop with 4 client threads through loginbench's
runner (``run_phase``: the window, the warm-up and the server CPU as ``login_bench.py``
counts them; the browser steps with ``requests``, the token request with its back channel),
measures bare argon2id verifications (``loginbench.ceiling``, one process per core) and
prints server CPU ms per sign-in, ms per verification and their ratio, and what one
verification cost inside the workers (thread CPU, summed by each worker and printed at its
exit). ``--no-hash`` skips the verification (what the framework and the writes cost);
``--alg ES256`` signs with P-256; ``--db sqlite3``, ``--no-access-log`` as above.
See bench/README.md, "The sign-in's floor".
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from resource import RUSAGE_THREAD
from resource import getrusage
from typing import Any
from typing import Protocol
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlencode
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
from flask import Flask  # noqa: E402
from flask import Response  # noqa: E402
from flask import render_template  # noqa: E402
from flask import request  # noqa: E402
from flask import session  # noqa: E402
from jinja2 import DictLoader  # noqa: E402
from loginbench.backchannel import Backchannel  # noqa: E402
from loginbench.ceiling import argon2_hasher  # noqa: E402
from loginbench.ceiling import argon2_parameters  # noqa: E402
from loginbench.ceiling import argon2_verify_ceiling  # noqa: E402
from loginbench.flows import DEFAULT_PASSWORD  # noqa: E402
from loginbench.flows import REDIRECT_URI  # noqa: E402
from loginbench.flows import jwt_claims  # noqa: E402
from loginbench.flows import pkce_pair  # noqa: E402
from loginbench.machine import background_cpu_cores  # noqa: E402
from loginbench.runner import run_phase  # noqa: E402
from loginbench.server import free_port  # noqa: E402
from loginbench.server import wait_for_workers  # noqa: E402
from loginbench.steps import TIMEOUT  # noqa: E402
from loginbench.steps import FlowError  # noqa: E402
from loginbench.steps import form_fields  # noqa: E402
from loginbench.steps import unexpected  # noqa: E402
from sqlalchemy import Column  # noqa: E402
from sqlalchemy import ForeignKey  # noqa: E402
from sqlalchemy import Integer  # noqa: E402
from sqlalchemy import MetaData  # noqa: E402
from sqlalchemy import String  # noqa: E402
from sqlalchemy import Table  # noqa: E402
from sqlalchemy import Text  # noqa: E402
from sqlalchemy import bindparam  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy import delete  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy import update  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.sql import Executable  # noqa: E402

CLIENT_ID = "floor"
TX_TTL = 600
CODE_TTL = 60
TOKEN_TTL = 300
SESSION_TTL = 8 * 3600
ALLOWED_SCOPES = ("openid", "profile", "email")
#: RFC 7636 §4.1 and §4.2: the verifier and an S256 challenge.
VERIFIER_RE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
CHALLENGE_RE = re.compile(r"[A-Za-z0-9\-_]{43}")
#: What the provider's pages send (no framing, no referrer, not cached).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}

TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}{% endblock %}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main>{% block main %}{% endblock %}</main></body></html>""",
    "login.html": """{% extends "base.html" %}{% block title %}Sign in{% endblock %}
{% block main %}<h1>Sign in to {{ client_name }}</h1>
{% if error %}<p class="error">{{ error }}</p>{% endif %}
<form id="password-form" method="post" action="/login">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="tx" value="{{ tx }}">
<label>Email <input type="email" name="email" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password"
 required></label>
<button type="submit">Sign in</button></form>{% endblock %}""",
    "consent.html": """{% extends "base.html" %}{% block title %}Allow access{% endblock %}
{% block main %}<h1>{{ client_name }} asks for</h1>
<ul>{% for scope in scopes %}<li>{{ scope }}</li>{% endfor %}</ul>
<form method="post" action="/consent">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<input type="hidden" name="tx" value="{{ tx }}">
<button name="decision" value="allow">Allow</button>
<button name="decision" value="deny">Deny</button></form>{% endblock %}""",
}

metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String, nullable=False, unique=True),
    Column("name", String, nullable=False),
    Column("password_hash", String, nullable=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", Integer, nullable=False, default=0),
    Column("last_login_at", Integer),
)
login_tx = Table(
    "login_tx",
    metadata,
    Column("id", String, primary_key=True),
    Column("client_id", String, nullable=False),
    Column("redirect_uri", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("state", String),
    Column("nonce", String),
    Column("code_challenge", String, nullable=False),
    Column("expires_at", Integer, nullable=False),
)
browser_sessions = Table(
    "browser_sessions",
    metadata,
    Column("id_hash", String, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("auth_time", Integer, nullable=False),
    Column("amr", String, nullable=False),
    Column("expires_at", Integer, nullable=False),
)
codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String, primary_key=True),
    Column("client_id", String, nullable=False),
    Column("redirect_uri", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("nonce", String),
    Column("code_challenge", String, nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("session_hash", ForeignKey("browser_sessions.id_hash"), nullable=False),
    Column("sid", String, nullable=False),
    Column("claims", Text, nullable=False),
    Column("auth_time", Integer, nullable=False),
    Column("expires_at", Integer, nullable=False),
)
tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String, primary_key=True),
    Column("client_id", String, nullable=False),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("session_hash", String, nullable=False),
    Column("scope", String, nullable=False),
    Column("expires_at", Integer, nullable=False),
)
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Integer, nullable=False),
    Column("kind", String, nullable=False),
    Column("user_id", Integer),
    Column("client_id", String),
    Column("ip", String),
)

#: Each statement of the flow, built once: (SQLAlchemy Core, the same as SQL for sqlite3).
STATEMENTS: dict[str, tuple[Executable, str]] = {
    "insert_tx": (
        insert(login_tx),
        "INSERT INTO login_tx (id, client_id, redirect_uri, scope, state, nonce, "
        "code_challenge, expires_at) VALUES (:id, :client_id, :redirect_uri, :scope, :state, "
        ":nonce, :code_challenge, :expires_at)",
    ),
    "user_by_email": (
        select(
            users.c.id,
            users.c.name,
            users.c.password_hash,
            users.c.failed_logins,
            users.c.locked_until,
        ).where(users.c.email == bindparam("email")),
        "SELECT id, name, password_hash, failed_logins, locked_until FROM users "
        "WHERE email = :email",
    ),
    "login_done": (
        update(users)
        .where(users.c.id == bindparam("uid"))
        .values(failed_logins=0, last_login_at=bindparam("now")),
        "UPDATE users SET failed_logins = 0, last_login_at = :now WHERE id = :uid",
    ),
    "login_failed": (
        update(users)
        .where(users.c.id == bindparam("uid"))
        .values(failed_logins=users.c.failed_logins + 1),
        "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = :uid",
    ),
    "take_tx": (
        delete(login_tx).where(login_tx.c.id == bindparam("tx")).returning(*login_tx.c),
        "DELETE FROM login_tx WHERE id = :tx RETURNING id, client_id, redirect_uri, scope, "
        "state, nonce, code_challenge, expires_at",
    ),
    "insert_session": (
        insert(browser_sessions),
        "INSERT INTO browser_sessions (id_hash, user_id, auth_time, amr, expires_at) "
        "VALUES (:id_hash, :user_id, :auth_time, :amr, :expires_at)",
    ),
    "insert_code": (
        insert(codes),
        "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, scope, nonce, "
        "code_challenge, user_id, session_hash, sid, claims, auth_time, expires_at) VALUES "
        "(:code_hash, :client_id, :redirect_uri, :scope, :nonce, :code_challenge, :user_id, "
        ":session_hash, :sid, :claims, :auth_time, :expires_at)",
    ),
    "insert_audit": (
        insert(audit),
        "INSERT INTO audit (at, kind, user_id, client_id, ip) "
        "VALUES (:at, :kind, :user_id, :client_id, :ip)",
    ),
    "take_code": (
        delete(codes).where(codes.c.code_hash == bindparam("h")).returning(*codes.c),
        "DELETE FROM authorization_codes WHERE code_hash = :h RETURNING code_hash, client_id, "
        "redirect_uri, scope, nonce, code_challenge, user_id, session_hash, sid, claims, "
        "auth_time, expires_at",
    ),
    "insert_token": (
        insert(tokens),
        "INSERT INTO tokens (token_hash, client_id, user_id, session_hash, scope, expires_at) "
        "VALUES (:token_hash, :client_id, :user_id, :session_hash, :scope, :expires_at)",
    ),
}

Row = dict[str, Any]
#: Runs one statement by name inside the current transaction: its first row, if it has any.
Execute = Callable[[str, dict[str, Any]], Row | None]


def sqlite_pragmas(connection: Any, _record: Any = None) -> None:
    """idp/factory.py's ``_sqlite_pragmas``."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def core_engine(path: str) -> Engine:
    """The engine as the provider configures it for SQLite (idp/factory.py)."""
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"timeout": 30, "check_same_thread": False}
    )
    event.listen(engine, "connect", sqlite_pragmas)
    return engine


class Database(Protocol):
    def read(self, name: str, params: dict[str, Any]) -> Row | None: ...

    def write(self, work: Callable[[Execute], Any]) -> Any: ...


class CoreDatabase:
    """SQLAlchemy Core, the statements built once (their compiled forms cached by the
    engine); ``write`` is one transaction (``engine.begin``)."""

    def __init__(self, path: str) -> None:
        self.engine = core_engine(path)
        self.statements = {name: core for name, (core, _) in STATEMENTS.items()}

    def read(self, name: str, params: dict[str, Any]) -> Row | None:
        with self.engine.connect() as connection:
            row = connection.execute(self.statements[name], params).mappings().first()
            return dict(row) if row is not None else None

    def write(self, work: Callable[[Execute], Any]) -> Any:
        with self.engine.begin() as connection:

            def execute(name: str, params: dict[str, Any]) -> Row | None:
                result = connection.execute(self.statements[name], params)
                if not result.returns_rows:
                    return None
                row = result.mappings().first()
                return dict(row) if row is not None else None

            return work(execute)


class RawDatabase:
    """The ``sqlite3`` module: one connection per worker process, autocommit outside
    ``write``'s explicit BEGIN … COMMIT."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(
            path, timeout=30, check_same_thread=False, isolation_level=None
        )
        self.connection.row_factory = sqlite3.Row
        sqlite_pragmas(self.connection)
        self.statements = {name: sql for name, (_, sql) in STATEMENTS.items()}

    def read(self, name: str, params: dict[str, Any]) -> Row | None:
        row = self.connection.execute(self.statements[name], params).fetchone()
        return dict(row) if row is not None else None

    def write(self, work: Callable[[Execute], Any]) -> Any:
        connection = self.connection

        def execute(name: str, params: dict[str, Any]) -> Row | None:
            rows = connection.execute(self.statements[name], params).fetchall()
            return dict(rows[0]) if rows else None

        connection.execute("BEGIN")
        try:
            out = work(execute)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        return out


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    secret_sha256: bytes
    redirect_uris: frozenset[str]


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def create_app() -> Flask:
    """The app, from the ``FLOOR_*`` environment the runner sets."""
    from argon2.exceptions import InvalidHashError
    from argon2.exceptions import VerificationError
    from joserfc import jwt
    from joserfc.jwk import ECKey
    from joserfc.jwk import KeySet
    from joserfc.jwk import RSAKey

    env = os.environ
    issuer = env["FLOOR_ISSUER"]
    hashing = env.get("FLOOR_HASH", "on") == "on"
    alg = env.get("FLOOR_ALG", "RS256")
    database: Database = (
        RawDatabase(env["FLOOR_DB"])
        if env.get("FLOOR_DB_API") == "sqlite3"
        else CoreDatabase(env["FLOOR_DB"])
    )
    clients = {
        CLIENT_ID: Client(
            CLIENT_ID,
            "Floor RP",
            bytes.fromhex(env["FLOOR_CLIENT_SECRET_SHA256"]),
            frozenset([REDIRECT_URI]),
        )
    }
    jwk = json.loads(Path(env["FLOOR_KEYS"]).read_text())[alg]
    key = RSAKey.import_key(jwk) if jwk["kty"] == "RSA" else ECKey.import_key(jwk)
    keys = KeySet([key])
    header = {"alg": alg, "kid": key.kid, "typ": "JWT"}
    hasher = argon2_hasher(argon2_parameters())
    dummy_hash = hasher.hash("dummy password for timing equality")

    app = Flask(__name__, static_folder=None)
    #: Verifications, their thread CPU seconds and minor page faults in this worker (logged
    #: at its exit: what one costs inside the server, beside the bare figure).
    hash_stats: list[float] = [0, 0.0, 0]
    app.extensions["floor.hash_stats"] = hash_stats
    app.secret_key = env["FLOOR_SECRET_KEY"]
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.jinja_loader = DictLoader(TEMPLATES)

    def page(template: str, status: int = 200, **context: Any) -> Response:
        return Response(render_template(template, **context), status, PAGE_HEADERS)

    def refused(text: str, status: int = 400) -> Response:
        return Response(text, status, {"Content-Type": "text/plain; charset=utf-8"})

    def csrf_ok() -> bool:
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf", "")
        return bool(expected) and hmac.compare_digest(sent.encode(), expected.encode())

    def verify(password_hash: str | None, password: str) -> bool:
        if not hashing:  # --no-hash: the breakdown's framework and writes alone
            return password_hash is not None
        cpu, faults = time.thread_time(), getrusage(RUSAGE_THREAD).ru_minflt
        try:
            return hasher.verify(password_hash or dummy_hash, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False
        finally:
            hash_stats[0] += 1
            hash_stats[1] += time.thread_time() - cpu
            hash_stats[2] += getrusage(RUSAGE_THREAD).ru_minflt - faults

    @app.get("/healthz")
    def healthz() -> Response:
        return refused("ok", 200)

    @app.get("/authorize")
    def authorize() -> Response:
        args = request.args
        client = clients.get(args.get("client_id", ""))
        redirect_uri = args.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return refused("unknown client or redirect_uri")  # never redirected to
        state = args.get("state")

        def back(error: str) -> Response:
            answer = {"error": error, **({"state": state} if state else {}), "iss": issuer}
            return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(answer)}"})

        if args.get("response_type") != "code":
            return back("unsupported_response_type")
        requested = args.get("scope", "").split()
        if "openid" not in requested:
            return back("invalid_scope")
        challenge = args.get("code_challenge", "")
        if args.get("code_challenge_method") != "S256" or not CHALLENGE_RE.fullmatch(challenge):
            return back("invalid_request")
        scope = " ".join(s for s in ALLOWED_SCOPES if s in requested)
        tx = secrets.token_urlsafe(16)
        row = {
            "id": tx,
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": args.get("nonce"),
            "code_challenge": challenge,
            "expires_at": int(time.time()) + TX_TTL,
        }
        database.write(lambda execute: execute("insert_tx", row))
        csrf = secrets.token_urlsafe(24)
        session.clear()
        session.update(csrf=csrf, tx=tx, client=client.client_id, scope=scope)
        return page("login.html", tx=tx, csrf=csrf, client_name=client.name, error=None)

    @app.post("/login")
    def login() -> Response:
        tx = session.get("tx")
        if not csrf_ok() or not tx or request.form.get("tx") != tx:
            return refused("bad request")
        client = clients[session["client"]]
        email = request.form.get("email", "").strip().lower()
        password = request.form.get("password", "")
        user = database.read("user_by_email", {"email": email})
        now = int(time.time())
        ok = verify(user["password_hash"] if user else None, password)
        if user is None or not ok or user["locked_until"] > now:
            if user is not None and not ok:
                database.write(lambda execute: execute("login_failed", {"uid": user["id"]}))
            return page(
                "login.html",
                401,
                tx=tx,
                csrf=session["csrf"],
                client_name=client.name,
                error="Wrong email or password.",
            )
        database.write(lambda execute: execute("login_done", {"uid": user["id"], "now": now}))
        csrf = secrets.token_urlsafe(24)  # a new token once signed in
        session.update(csrf=csrf, uid=user["id"], auth_time=now, email=email, name=user["name"])
        scopes = session["scope"].split()
        return page("consent.html", tx=tx, csrf=csrf, client_name=client.name, scopes=scopes)

    @app.post("/consent")
    def consent() -> Response:
        tx = session.get("tx")
        uid = session.get("uid")
        if not csrf_ok() or not tx or uid is None or request.form.get("tx") != tx:
            return refused("bad request")
        allow = request.form.get("decision") == "allow"
        now = int(time.time())
        code = secrets.token_urlsafe(32)
        sid = secrets.token_urlsafe(32)
        claims = json.dumps({"email": session["email"], "name": session["name"]})

        def finish(execute: Execute) -> Row | None:
            taken = execute("take_tx", {"tx": tx})
            if taken is None or taken["expires_at"] < now or not allow:
                return taken
            session_hash = sha256_hex(sid)
            execute(
                "insert_session",
                {
                    "id_hash": session_hash,
                    "user_id": uid,
                    "auth_time": session["auth_time"],
                    "amr": "pwd",
                    "expires_at": now + SESSION_TTL,
                },
            )
            execute(
                "insert_code",
                {
                    "code_hash": sha256_hex(code),
                    "client_id": taken["client_id"],
                    "redirect_uri": taken["redirect_uri"],
                    "scope": taken["scope"],
                    "nonce": taken["nonce"],
                    "code_challenge": taken["code_challenge"],
                    "user_id": uid,
                    "session_hash": session_hash,
                    "sid": sid,
                    "claims": claims,
                    "auth_time": session["auth_time"],
                    "expires_at": now + CODE_TTL,
                },
            )
            execute(
                "insert_audit",
                {
                    "at": now,
                    "kind": "signin",
                    "user_id": uid,
                    "client_id": taken["client_id"],
                    "ip": request.remote_addr,
                },
            )
            return taken

        taken = database.write(finish)
        if taken is None or taken["expires_at"] < now:
            return refused("this sign-in has expired; start again")
        answer = {"code": code} if allow else {"error": "access_denied"}
        if taken["state"]:
            answer["state"] = taken["state"]
        answer["iss"] = issuer
        session.clear()
        if allow:
            session["sid"] = sid
        location = f"{taken['redirect_uri']}?{urlencode(answer)}"
        return Response(status=302, headers={"Location": location, **PAGE_HEADERS})

    def token_error(error: str, status: int = 400) -> Response:
        headers = dict(TOKEN_HEADERS)
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="token"'
        return Response(json.dumps({"error": error}), status, headers, "application/json")

    @app.post("/token")
    def token() -> Response:
        kind, _, value = request.headers.get("Authorization", "").partition(" ")
        try:
            pair = base64.b64decode(value, validate=True).decode() if kind == "Basic" else ""
        except ValueError:
            pair = ""
        client_id, colon, secret = pair.partition(":")
        client = clients.get(unquote(client_id))
        if (
            client is None
            or not colon
            or not hmac.compare_digest(
                hashlib.sha256(unquote(secret).encode()).digest(), client.secret_sha256
            )
        ):
            return token_error("invalid_client", 401)
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return token_error("unsupported_grant_type")
        code = form.get("code", "")
        verifier = form.get("code_verifier", "")
        if not code or not VERIFIER_RE.fullmatch(verifier):
            return token_error("invalid_request")
        now = int(time.time())
        access = secrets.token_urlsafe(32)

        def exchange(execute: Execute) -> Row | None:
            taken = execute("take_code", {"h": sha256_hex(code)})  # used once, even if refused
            if (
                taken is None
                or taken["expires_at"] < now
                or taken["client_id"] != client.client_id
                or taken["redirect_uri"] != form.get("redirect_uri")
                or not hmac.compare_digest(
                    b64url(hashlib.sha256(verifier.encode()).digest()), taken["code_challenge"]
                )
            ):
                return None
            execute(
                "insert_token",
                {
                    "token_hash": sha256_hex(access),
                    "client_id": client.client_id,
                    "user_id": taken["user_id"],
                    "session_hash": taken["session_hash"],
                    "scope": taken["scope"],
                    "expires_at": now + TOKEN_TTL,
                },
            )
            return taken

        taken = database.write(exchange)
        if taken is None:
            return token_error("invalid_grant")
        scopes = taken["scope"].split()
        claims: dict[str, Any] = {
            "iss": issuer,
            "sub": str(taken["user_id"]),
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + TOKEN_TTL,
            "auth_time": taken["auth_time"],
            "amr": ["pwd"],
            "sid": taken["sid"],
            "at_hash": b64url(hashlib.sha256(access.encode()).digest()[:16]),
        }
        if taken["nonce"]:
            claims["nonce"] = taken["nonce"]
        released = json.loads(taken["claims"])
        if "email" in scopes:
            claims.update(email=released["email"], email_verified=True)
        if "profile" in scopes:
            claims["name"] = released["name"]
        answer = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "scope": taken["scope"],
            "id_token": jwt.encode(header, claims, keys, algorithms=[alg]),
        }
        return Response(json.dumps(answer), 200, TOKEN_HEADERS, "application/json")

    return app


# --- serving: gunicorn as ``idp serve`` runs it -----------------------------------------------

#: A worker's line at its exit: verifications, their CPU seconds and minor page faults.
HASH_STATS = "floor-hash-stats:"

#: idp.logs.ACCESS_LOG_FORMAT (the provider's access log line).
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rid=%({x-request-id}o)s'
)


def serve(port: int, workers: int, access_log: bool) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    class AccessLogger(Logger):
        """The provider's line, from the eight values it reads (as ``RedactingGunicornLogger
        .default_line`` builds it), not from gunicorn's sixty atoms."""

        def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
            if not self.access_log_enabled:
                return
            request_id = "-"
            for name, value in resp.headers:
                if name.lower() == "x-request-id":
                    request_id = value
            status = str(resp.status).split(None, 1)[0]
            sent = getattr(resp, "sent", None)
            self.access_log.info(
                '%s - - [%s] "%s %s %s" %s %s "%s" "%s" rid=%s',
                environ.get("REMOTE_ADDR", "-"),
                time.strftime("%d/%b/%Y:%H:%M:%S %z"),
                environ["REQUEST_METHOD"],
                environ["RAW_URI"],
                environ["SERVER_PROTOCOL"],
                status,
                "-" if sent is None else sent,
                environ.get("HTTP_REFERER", "-"),
                environ.get("HTTP_USER_AGENT", "-"),
                request_id,
            )

    def tune_worker(worker: Any) -> None:  # idp.cli.servers.tune_worker
        gc.freeze()
        sys.setswitchinterval(0.001)

    def worker_exit(_server: Any, worker: Any) -> None:
        count, cpu, faults = worker.wsgi.extensions["floor.hash_stats"]
        print(f"{HASH_STATS} {count:.0f} {cpu:.6f} {faults:.0f}", flush=True)

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("timeout", 120)
            if access_log:
                self.cfg.set("accesslog", "-")
                self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
                self.cfg.set("logger_class", AccessLogger)
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("post_worker_init", tune_worker)
            self.cfg.set("worker_exit", worker_exit)

        def load(self) -> Any:
            return create_app()

    Server().run()


# --- the runner --------------------------------------------------------------------------------


class FloorSignIn:
    """One whole sign-in per ``run_once`` (the interface of loginbench's ``run_phase``): the
    browser steps in a fresh ``requests`` cookie jar, the token request on this thread's
    keep-alive back channel; the answers checked as ``loginbench.flows.full_login`` does."""

    def __init__(self, url: str, secret: str, emails: list[str], start: int) -> None:
        self.url = url
        self.secret = secret
        self.emails = emails
        self.next = start
        self.backchannel = Backchannel(url)

    def setup(self) -> None:
        pass

    def run_once(self) -> None:
        email = self.emails[self.next % len(self.emails)]
        self.next += 1
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        nonce = secrets.token_urlsafe(16)
        with requests.Session() as browser:
            r = browser.get(
                self.url + "/authorize",
                params={
                    "response_type": "code",
                    "client_id": CLIENT_ID,
                    "redirect_uri": REDIRECT_URI,
                    "scope": "openid profile email",
                    "state": state,
                    "nonce": nonce,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            fields = form_fields("GET /authorize", r, "password-form")
            r = browser.post(
                self.url + "/login",
                data={**fields, "email": email, "password": DEFAULT_PASSWORD},
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            fields = form_fields("POST /login", r, action="/consent")
            r = browser.post(
                self.url + "/consent",
                data={**fields, "decision": "allow"},
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            location = r.headers.get("Location", "")
            if r.status_code != 302 or not location.startswith(REDIRECT_URI + "?"):
                raise unexpected("POST /consent", r)
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if answer.get("state") != state or answer.get("iss") != self.url or not answer["code"]:
            raise FlowError("redirect to the client", f"bad redirect {location}")
        exchanged = self.backchannel.post_form(
            "/token",
            {
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },
            (CLIENT_ID, self.secret),
        )
        token = exchanged.json() if exchanged.status_code == 200 else {}
        if "id_token" not in token:
            raise unexpected("POST /token (code)", exchanged)
        claims = jwt_claims(token["id_token"])
        if (
            claims.get("nonce") != nonce
            or claims.get("iss") != self.url
            or claims["amr"] != ["pwd"]
        ):
            raise FlowError("POST /token (code)", f"bad id_token claims {claims}")


def provision(directory: Path, users_count: int) -> tuple[Path, Path, list[str]]:
    """The database (schema, ``users_count`` users with the bench's password, hashed once)
    and the signing keys (RS256 2,048 bits, ES256 P-256) as JWKs."""
    from joserfc.jwk import ECKey
    from joserfc.jwk import RSAKey

    hashed = argon2_hasher(argon2_parameters()).hash(DEFAULT_PASSWORD)
    database = directory / "floor.sqlite"
    engine = core_engine(str(database))
    metadata.create_all(engine)
    emails = [f"floor-{n}@example.jp" for n in range(users_count)]
    with engine.begin() as connection:
        connection.execute(
            insert(users),
            [
                {"email": e, "name": f"Floor {n}", "password_hash": hashed}
                for n, e in enumerate(emails)
            ],
        )
    engine.dispose()
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rs-floor", "alg": "RS256"}, private=True)
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec-floor", "alg": "ES256"}, private=True)
    keys = directory / "keys.json"
    keys.write_text(
        json.dumps({"RS256": rsa.as_dict(private=True), "ES256": ec.as_dict(private=True)})
    )
    keys.chmod(0o600)
    return database, keys, emails


def main() -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds measured.")
    parser.add_argument("--concurrency", type=int, default=4, help="Client threads.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--db", choices=("core", "sqlite3"), default="core")
    parser.add_argument("--alg", choices=("RS256", "ES256"), default="RS256")
    parser.add_argument("--no-hash", action="store_true", help="Skip the verification.")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="floor-signin-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        background = background_cpu_cores()
        database, keys, emails = provision(directory, args.users)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        secret = secrets.token_urlsafe(32)
        env = {
            **os.environ,
            "FLOOR_DB": str(database),
            "FLOOR_DB_API": args.db,
            "FLOOR_KEYS": str(keys),
            "FLOOR_ALG": args.alg,
            "FLOOR_HASH": "off" if args.no_hash else "on",
            "FLOOR_ISSUER": url,
            "FLOOR_SECRET_KEY": secrets.token_urlsafe(32),
            "FLOOR_CLIENT_SECRET_SHA256": hashlib.sha256(secret.encode()).hexdigest(),
        }
        serve_argv = [sys.executable, __file__, "serve", str(port), str(args.workers)]
        serve_argv.append("off" if args.no_access_log else "on")
        with (directory / "server.log").open("wb") as log:
            server = subprocess.Popen(serve_argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((directory / "server.log").read_text()[-3000:])
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        wait_for_workers(server.pid, args.workers)
        variant = (
            f"{args.db}, {args.alg}, {'no hash' if args.no_hash else 'argon2id'}, "
            f"access log {'off' if args.no_access_log else 'on'}"
        )
        print(
            f"floor sign-in ({variant}): {args.duration:g} s, {args.concurrency} threads, "
            f"{args.workers} sync workers; background {background} cores ...",
            flush=True,
        )
        starts = iter(range(0, 10**6, 1000))
        result = run_phase(
            "floor_signin",
            lambda: FloorSignIn(url, secret, emails, next(starts)),
            args.concurrency,
            args.duration,
            server.pid,
        )
        summary = result.summary(cores)
        server.terminate()
        server.wait(30)
        log_lines = (directory / "server.log").read_text().splitlines()
        errors = [line for line in log_lines if "Traceback" in line or "Error" in line]
        inside = [0.0, 0.0, 0.0]  # verifications, CPU seconds, minor faults (whole run)
        for line in log_lines:
            if line.startswith(HASH_STATS):
                for n, value in enumerate(line.split()[1:]):
                    inside[n] += float(value)
        print(
            f"sign-ins: {summary['count']} in the window, {summary['errors']} errors "
            f"{result.error_samples[:2]}; client {summary['client_cpu_cores']} / server "
            f"{summary['server_cpu_cores']} / other {summary['other_cpu_cores']} cores",
            flush=True,
        )
        if errors:
            print("server log:", *errors[:10], sep="\n  ")
        print(
            f"measuring argon2id verify: {cores} processes x {args.argon2_seconds:g} s ...",
            flush=True,
        )
        ceiling = argon2_verify_ceiling(argon2_parameters(), cores, args.argon2_seconds)
        flow_ms = summary["server_cpu_ms_per_flow"]
        if not flow_ms:
            raise SystemExit("no sign-in completed in the window")
        print(f"server CPU per sign-in: {flow_ms:.2f} ms ({variant})")
        print(f"argon2id verify (bare, {cores} processes): {ceiling.cpu_ms:.2f} ms CPU")
        if inside[0]:
            print(
                f"argon2id verify inside the server: {inside[1] / inside[0] * 1000:.2f} ms CPU "
                f"({inside[1] / inside[0] * 1000 / ceiling.cpu_ms:.2f} bare ones), "
                f"{inside[2] / inside[0]:.0f} minor page faults each ({inside[0]:.0f}, "
                "whole run)"
            )
        print(f"floor: {flow_ms / ceiling.cpu_ms:.2f} verifications per sign-in (target <= 1.18)")
        if summary["errors"]:
            raise SystemExit(1)  # as login_bench.py: a figure with failed flows is not one
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(30)
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "on")
    else:
        main()
