"""O1: property-based fuzzing of every route — no 5xx, no traceback, and the machine endpoints
answer every error as JSON with an ``error`` from their RFC's list.

The routes come from ``app.url_map``, so a new route is fuzzed without touching this file.
Requests go through Flask's test client in-process (fast enough for ``make test``); the app
is the real one (SQLite with the SQL-backed store), with CSRF checks off so that form bodies
reach the views instead of stopping at the CSRF error. Hypothesis is derandomized with a
fixed ``max_examples``: CI sees the same examples every run.
"""

from __future__ import annotations

import atexit
import base64
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from idp.actor import Actor
from idp.clients import add_client
from idp.contracts.contract import add_contract
from idp.factory import create_app
from idp.maintenance import init_database
from idp.users.add import add_user

EXAMPLES_PER_ROUTE = 20
CLIENT_ID = "fuzz-rp"
REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "Tsuki-no-Usagi-42"
EMAIL = "fuzz@example.jp"

#: The error codes each machine endpoint may answer (RFC 6749 §5.2, RFC 7009 §2.2.1,
#: RFC 7662 §2.3, RFC 6750 §3.1).
TOKEN_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
}
MACHINE_ERRORS = {
    "/token": TOKEN_ERRORS,
    "/revoke": TOKEN_ERRORS | {"unsupported_token_type"},
    "/introspect": TOKEN_ERRORS,
    "/userinfo": {"invalid_request", "invalid_token", "insufficient_scope"},
}

PARAMETER_NAMES = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "ui_locales",
    "login_hint",
    "id_token_hint",
    "claims",
    "acr_values",
    "request",
    "request_uri",
    "response_mode",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "token",
    "token_type_hint",
    "client_secret",
    "access_token",
    "tx",
    "email",
    "password",
    "decision",
    "lang",
    "post_logout_redirect_uri",
    "confirm",
    "code_sms",
    "phone",
    "otp",
    "connection_id",
]
INTERESTING_VALUES = [
    "",
    "code",
    "openid",
    "openid profile email contract offline_access",
    CLIENT_ID,
    REDIRECT_URI,
    "authorization_code",
    "refresh_token",
    "S256",
    "none",
    "login consent",
    "0",
    "١٢",
    "²",
    "-1",
    "99999999999999999999",
    EMAIL,
    PASSWORD,
    "allow",
    "yes",
    "ja",
    "en",
    "access_token",
    '{"id_token": {"acr": {"values": ["urn:worksdrive:acr:2fa"]}}}',
    "[" * 3000,
    '{"userinfo": {"email": null}}',
    'a"b\\c\td',
    "コード",
    "\x00",
    "%ff",
    "A" * 2000,
]
text = st.text(max_size=40)
values = st.one_of(st.sampled_from(INTERESTING_VALUES), text)
names = st.one_of(st.sampled_from(PARAMETER_NAMES), text)
pairs = st.lists(st.tuples(names, values), max_size=8)
#: Header values a client can send: latin-1 without CR/LF (the HTTP layer refuses those).
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=80,
)
basic = st.binary(max_size=40).map(lambda raw: "Basic " + base64.b64encode(raw).decode())
authorization = st.one_of(
    basic,
    st.just("Basic " + base64.b64encode(b"fuzz-rp:wrong").decode()),
    header_text.map(lambda t: "Bearer " + t),
    header_text,
)
hosts = st.one_of(
    st.sampled_from(["localhost", "a" * 64 + ".example", "a..b", ".", "a:b:c", "[::1", ""]),
    header_text,
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=latin-1",
            "multipart/form-data; boundary=x",
            "application/json",
            "text/plain",
            "",
        ]
    ),
    header_text,
)
cookies = st.lists(
    st.tuples(
        st.sampled_from(["idp_sso", "idp_browser", "idp_rb", "idp_ad", "lang", "idp_csrf"]),
        header_text.filter(lambda t: ";" not in t),
    ),
    max_size=3,
).map(lambda items: "; ".join(f"{k}={v}" for k, v in items))
headers = st.fixed_dictionaries(
    {},
    optional={
        "Host": hosts,
        "Authorization": authorization,
        "Cookie": cookies,
        "Content-Type": content_types,
        "Accept-Language": header_text,
        "X-Forwarded-For": header_text,
        "X-Line-Number": header_text,
        "X-Line-Area": header_text,
        "X-Line-Timestamp": header_text,
        "X-Line-Signature": header_text,
    },
)
bodies = st.one_of(
    pairs.map(lambda p: urlencode(p).encode()),
    st.binary(max_size=300),
    pairs.map(lambda p: json.dumps(dict(p)).encode()),
)
path_values = st.one_of(
    st.sampled_from(["google", "microsoft", "facebook", "daccount", "style.css", "x" * 43]),
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="/"),
        min_size=1,
        max_size=30,
    ),
)


def _build_app() -> Flask:
    tmp = Path(tempfile.mkdtemp(prefix="idp-fuzz-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    app = create_app(
        {
            "issuer": "https://localhost",
            "instance_dir": str(tmp / "instance"),
            "keys_dir": str(tmp / "keys"),
            "secret_key": "fuzz-secret-key-0123456789abcdef",
            "encryption_key": Fernet.generate_key().decode(),
            "dev": True,
            "line_gateway_secret": "fuzz-line-secret",
            "argon2_memory_kib": 1024,
            "argon2_time_cost": 1,
            "argon2_parallelism": 1,
        }
    )
    # Fuzz the views, not the CSRF check in front of them (tests/test_bad_input.py and the
    # flow tests cover CSRF).
    app.config["WTF_CSRF_ENABLED"] = False
    init_database(app)
    with app.app_context():
        add_client(
            Actor.cli(), "Fuzz RP", [REDIRECT_URI], ["https://rp.example/bye"], client_id=CLIENT_ID
        )
        add_user(Actor.cli(), add_contract(Actor.cli(), "fuzz", plan="basic").id, EMAIL, PASSWORD)
    return app


APP = _build_app()
ROUTES = [
    (rule, method)
    for rule in sorted(APP.url_map.iter_rules(), key=lambda r: r.rule)
    for method in ("GET", "POST")
    if method in (rule.methods or ())
]


def _machine_path(path: str) -> str | None:
    return path if path in MACHINE_ERRORS else None


def check_response(path: str, response: Any) -> None:
    """The properties every answer has."""
    body = response.get_data()
    assert response.status_code < 500, (response.status_code, body[:500])
    assert b"Traceback" not in body and b'File "' not in body, body[:500]
    machine = _machine_path(path)
    if machine is None or response.status_code < 400:
        return
    assert response.mimetype == "application/json", (response.status_code, body[:300])
    payload = json.loads(body)
    error = payload.get("error")
    if machine == "/userinfo" and error is None:
        # RFC 6750 §3.1: no credentials, no error code — a bare Bearer challenge.
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer ")
        return
    assert error in MACHINE_ERRORS[machine], (response.status_code, payload)


def _path_for(rule: Rule, path_args: list[str]) -> str:
    arguments = dict(zip(sorted(rule.arguments), path_args, strict=False))
    adapter = APP.url_map.bind("localhost")
    return str(adapter.build(rule.endpoint, arguments, append_unknown=False))


#: Inputs that once answered 500 or a code outside the RFC's list; run on every route on
#: every run, on top of the generated examples.
NOT_UTF8_BASIC = "Basic " + base64.b64encode(b"\xff\xfe:\xc3\x28").decode()
CODE_REQUEST = [("grant_type", "authorization_code"), ("code", "x"), ("token", "x")]
AUTHORIZE_REQUEST = [
    ("response_type", "code"),
    ("client_id", CLIENT_ID),
    ("redirect_uri", REDIRECT_URI),
    ("scope", "openid"),
    ("code_challenge", "A" * 43),
    ("code_challenge_method", "S256"),
]
REGRESSIONS = [
    (CODE_REQUEST, {"Authorization": NOT_UTF8_BASIC}, b""),
    (CODE_REQUEST, {"Authorization": "Basic  "}, b""),
    ([], {"Host": "a" * 64 + ".example"}, b""),
    ([], {"Host": "a:b:c"}, b""),
    ([*AUTHORIZE_REQUEST, ("claims", '{"id_token": ' + "[" * 5000)], {}, b""),
    ([*AUTHORIZE_REQUEST[1:], ("response_type", 'co"de')], {}, b""),
    ([*AUTHORIZE_REQUEST[:2], ("redirect_uri", "https://e\tvil/")], {}, b""),
    ([*AUTHORIZE_REQUEST, ("max_age", "²")], {}, b""),
    ([("access_token", "x")], {"Authorization": "Basic eDp5"}, b""),
]


def _with_regressions(test: Any) -> Any:
    for query, request_headers, body in REGRESSIONS:
        test = example(query=query, request_headers=request_headers, body=body, path_args=["x"])(
            test
        )
    return test


@pytest.mark.covers("O1")
@pytest.mark.parametrize(
    ("rule", "method"), ROUTES, ids=[f"{method} {rule.rule}" for rule, method in ROUTES]
)
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@_with_regressions
@given(
    query=pairs,
    request_headers=headers,
    body=bodies,
    path_args=st.lists(path_values, min_size=1, max_size=2),
)
def test_O1_every_route_survives_fuzzed_input(
    rule, method, query, request_headers, body, path_args
):
    path = _path_for(rule, path_args)
    if method == "POST" and not body and query:
        # A POST with only parameters sends them as a form, as a client would.
        body, query = urlencode(query).encode(), []
        request_headers = {"Content-Type": "application/x-www-form-urlencoded", **request_headers}
    response = APP.test_client().open(
        path,
        base_url="https://localhost",  # as in production (authlib refuses plain http)
        method=method,
        query_string=query,
        data=body if method == "POST" else None,
        headers=request_headers,
    )
    check_response(rule.rule, response)
