"""O1: every protocol error answers the code its RFC names — a table, one row per missing,
repeated or malformed parameter and per failed client authentication, naming the section.

Endpoints: token (RFC 6749 §5.2, RFC 7636 §4.6, OIDC Core §3.1.3.4), authorization (RFC 6749
§4.1.2.1, OIDC Core §3.1.2.6 — including when *not* to redirect), revocation (RFC 7009
§2.2.1), introspection (RFC 7662 §2.3) and userinfo (RFC 6750 §3.1, OIDC Core §5.3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import redirect_params

TIMEOUT = 10
#: Placeholders the test replaces with real values of a fresh sign-in.
CODE = "<code>"
REFRESH = "<refresh_token>"
ACCESS = "<access_token>"
OTHER_CLIENTS_TOKEN = "<other client's refresh token>"
#: ``Row.params`` value meaning "leave this parameter out".
MISSING = None


@dataclass(frozen=True)
class Row:
    """One request and the answer its RFC names."""

    section: str
    endpoint: str
    #: Parameters over the endpoint's valid request; a list value sends it repeatedly.
    params: dict[str, Any]
    status: int
    error: str | None
    #: How the client authenticates: basic, post, none (client_id only), bad-basic
    #: (wrong secret), unknown-basic (unknown client), bad-post, public (a public client).
    auth: str = "basic"
    #: For /authorize: "redirect" (error to the client) or "page" (never redirect).
    answer: str = "json"
    extra: dict[str, Any] = field(default_factory=dict)


TOKEN_ROWS = [
    Row(
        "RFC 6749 §5.2 missing grant_type",
        "/token",
        {"grant_type": MISSING},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 6749 §3.2 repeated grant_type",
        "/token",
        {"grant_type": ["authorization_code", "authorization_code"]},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 6749 §5.2 unsupported grant_type",
        "/token",
        {"grant_type": "password"},
        400,
        "unsupported_grant_type",
    ),
    Row(
        "RFC 6749 §5.2 client_credentials asked by a relying party",
        "/token",
        {"grant_type": "client_credentials", "code": MISSING},
        400,
        "unauthorized_client",
    ),
    Row("RFC 6749 §4.1.3/§5.2 missing code", "/token", {"code": MISSING}, 400, "invalid_request"),
    Row("RFC 6749 §3.2 repeated code", "/token", {"code": [CODE, CODE]}, 400, "invalid_request"),
    Row("RFC 6749 §5.2 unknown code", "/token", {"code": "no-such-code"}, 400, "invalid_grant"),
    Row(
        "RFC 6749 §4.1.3 redirect_uri differs from the authorization request",
        "/token",
        {"redirect_uri": "https://rp.example/other"},
        400,
        "invalid_grant",
    ),
    Row(
        "RFC 6749 §3.2 repeated redirect_uri",
        "/token",
        {"redirect_uri": ["https://rp.example/callback"] * 2},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 7636 §4.6 wrong code_verifier",
        "/token",
        {"code_verifier": "x" * 43},
        400,
        "invalid_grant",
    ),
    Row(
        "RFC 7636 §4.5/RFC 6749 §5.2 missing code_verifier",
        "/token",
        {"code_verifier": MISSING},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 7636 §4.1 malformed code_verifier (too short)",
        "/token",
        {"code_verifier": "short"},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 6749 §5.2 refresh: missing refresh_token",
        "/token",
        {"grant_type": "refresh_token", "code": MISSING},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 6749 §5.2 refresh: unknown refresh_token",
        "/token",
        {"grant_type": "refresh_token", "code": MISSING, "refresh_token": "nope"},
        400,
        "invalid_grant",
    ),
    Row(
        "RFC 6749 §6 refresh: scope beyond the original grant",
        "/token",
        {
            "grant_type": "refresh_token",
            "code": MISSING,
            "refresh_token": REFRESH,
            "scope": "openid offline_access email profile contract bogus",
        },
        400,
        "invalid_scope",
    ),
    Row(
        "RFC 6749 §5.2 Basic with a wrong secret: 401 + WWW-Authenticate",
        "/token",
        {},
        401,
        "invalid_client",
        auth="bad-basic",
    ),
    Row(
        "RFC 6749 §5.2 Basic for an unknown client: 401 + WWW-Authenticate",
        "/token",
        {},
        401,
        "invalid_client",
        auth="unknown-basic",
    ),
    Row(
        "RFC 6749 §5.2 client_secret_post with a wrong secret",
        "/token",
        {},
        401,
        "invalid_client",
        auth="bad-post",
    ),
    Row(
        "RFC 6749 §3.2.1 confidential client without authentication",
        "/token",
        {},
        401,
        "invalid_client",
        auth="none",
    ),
    Row(
        "RFC 6749 §3.2 repeated client_id in client_secret_post",
        "/token",
        {"client_id": ["<client_id>", "<client_id>"]},
        400,
        "invalid_request",
        auth="post",
    ),
]

AUTHORIZE_ROWS = [
    # RFC 6749 §4.1.2.1: "If the request fails due to a missing, invalid, or mismatching
    # redirection URI, or if the client identifier is missing or invalid, the authorization
    # server SHOULD inform the resource owner of the error and MUST NOT automatically
    # redirect the user-agent to the invalid redirection URI."
    Row(
        "RFC 6749 §4.1.2.1 missing client_id: page",
        "/authorize",
        {"client_id": MISSING},
        400,
        None,
        answer="page",
    ),
    Row(
        "RFC 6749 §4.1.2.1 unknown client_id: page",
        "/authorize",
        {"client_id": "no-such-client"},
        400,
        None,
        answer="page",
    ),
    Row(
        "RFC 6749 §3.1 repeated client_id: page",
        "/authorize",
        {"client_id": ["<client_id>", "<client_id>"]},
        400,
        "invalid_request",
        answer="page",
    ),
    Row(
        "OIDC Core §3.1.2.1 missing redirect_uri: page",
        "/authorize",
        {"redirect_uri": MISSING},
        400,
        "invalid_request",
        answer="page",
    ),
    Row(
        "RFC 6749 §4.1.2.1 unregistered redirect_uri: page",
        "/authorize",
        {"redirect_uri": "https://evil.example/callback"},
        400,
        "invalid_request",
        answer="page",
    ),
    Row(
        "RFC 6749 §3.1 repeated redirect_uri: page",
        "/authorize",
        {"redirect_uri": ["https://rp.example/callback", "https://evil.example/cb"]},
        400,
        "invalid_request",
        answer="page",
    ),
    # Everything else goes back to the (verified) redirect URI with state and iss.
    Row(
        "RFC 6749 §4.1.2.1 missing response_type",
        "/authorize",
        {"response_type": MISSING},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 6749 §4.1.2.1 unsupported response_type",
        "/authorize",
        {"response_type": "token"},
        302,
        "unsupported_response_type",
        answer="redirect",
    ),
    Row(
        "RFC 6749 §3.1 repeated response_type",
        "/authorize",
        {"response_type": ["code", "code"]},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 6749 §3.1 repeated scope",
        "/authorize",
        {"scope": ["openid", "openid email"]},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 6749 §3.1 repeated state",
        "/authorize",
        {"state": ["a", "a"]},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 6749 §3.1 repeated nonce",
        "/authorize",
        {"nonce": ["n1", "n2"]},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 6749 §3.1 repeated code_challenge",
        "/authorize",
        {"code_challenge": ["A" * 43, "B" * 43]},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 6749 §4.1.2.1 unknown scope value",
        "/authorize",
        {"scope": "openid bogus"},
        302,
        "invalid_scope",
        answer="redirect",
    ),
    Row(
        "RFC 7636 §4.4.1 missing code_challenge (PKCE required)",
        "/authorize",
        {"code_challenge": MISSING, "code_challenge_method": MISSING},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 7636 §4.4.1 code_challenge_method plain refused",
        "/authorize",
        {"code_challenge_method": "plain"},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "RFC 7636 §4.2 malformed code_challenge",
        "/authorize",
        {"code_challenge": "short"},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "OIDC Core §3.1.2.6 prompt=none without a session",
        "/authorize",
        {"prompt": "none"},
        302,
        "login_required",
        answer="redirect",
    ),
    Row(
        "OIDC Core §3.1.2.1 prompt none with another value",
        "/authorize",
        {"prompt": "none login"},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "OIDC Core §3.1.2.1 unknown prompt value",
        "/authorize",
        {"prompt": "bogus"},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "OIDC Core §3.1.2.1 malformed max_age",
        "/authorize",
        {"max_age": "-1"},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "OIDC Core §5.5 malformed claims",
        "/authorize",
        {"claims": "{not json"},
        302,
        "invalid_request",
        answer="redirect",
    ),
    Row(
        "OIDC Core §3.1.2.6 request object",
        "/authorize",
        {"request": "eyJhbGciOiJub25lIn0.e30."},
        302,
        "request_not_supported",
        answer="redirect",
    ),
    Row(
        "OIDC Core §3.1.2.6 request_uri",
        "/authorize",
        {"request_uri": "https://rp.example/r"},
        302,
        "request_uri_not_supported",
        answer="redirect",
    ),
]

REVOKE_ROWS = [
    Row(
        "RFC 7009 §2.1/RFC 6749 §5.2 missing token",
        "/revoke",
        {"token": MISSING},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 7009 §2.1/RFC 6749 §3.2 repeated token",
        "/revoke",
        {"token": [REFRESH, REFRESH]},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 7009 §2.2.1 unsupported token type: 400 (RFC 6749 §5.2)",
        "/revoke",
        {"token_type_hint": "id_token"},
        400,
        "unsupported_token_type",
    ),
    Row("RFC 7009 §2.2 an unknown token is not an error", "/revoke", {"token": "nope"}, 200, None),
    Row(
        "RFC 7009 §2.1 a token of another client is refused",
        "/revoke",
        {"token": OTHER_CLIENTS_TOKEN},
        400,
        "invalid_grant",
    ),
    Row(
        "RFC 7009 §2.1/RFC 6749 §5.2 Basic with a wrong secret",
        "/revoke",
        {},
        401,
        "invalid_client",
        auth="bad-basic",
    ),
    Row(
        "RFC 7009 §2.1/RFC 6749 §5.2 no client authentication",
        "/revoke",
        {},
        401,
        "invalid_client",
        auth="none",
    ),
]

INTROSPECT_ROWS = [
    Row(
        "RFC 7662 §2.1/§2.3 missing token",
        "/introspect",
        {"token": MISSING},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 7662 §2.1/RFC 6749 §3.2 repeated token",
        "/introspect",
        {"token": [ACCESS, ACCESS]},
        400,
        "invalid_request",
    ),
    Row(
        "RFC 7662 §2.3 Basic with a wrong secret",
        "/introspect",
        {},
        401,
        "invalid_client",
        auth="bad-basic",
    ),
    Row(
        "RFC 7662 §2.3 no client authentication",
        "/introspect",
        {},
        401,
        "invalid_client",
        auth="none",
    ),
    Row(
        "RFC 7662 §2.3 a public client cannot introspect",
        "/introspect",
        {},
        401,
        "invalid_client",
        auth="public",
    ),
    Row(
        "RFC 7662 §2.1 an unknown token_type_hint only widens the search",
        "/introspect",
        {"token_type_hint": "id_token"},
        200,
        None,
    ),
    Row(
        "RFC 7662 §2.2 an unknown token is inactive, not an error",
        "/introspect",
        {"token": "nope"},
        200,
        None,
    ),
    Row(
        "RFC 7662 §2.2 another client's token is inactive to us",
        "/introspect",
        {"token": OTHER_CLIENTS_TOKEN},
        200,
        None,
    ),
]

USERINFO_ROWS = [
    Row(
        "RFC 6750 §3.1 no token: 401 without an error code",
        "/userinfo",
        {},
        401,
        None,
        auth="no-bearer",
    ),
    Row(
        "RFC 6750 §3.1 another scheme than Bearer: 401 without an error code",
        "/userinfo",
        {},
        401,
        None,
        auth="basic",
    ),
    Row(
        "RFC 6750 §3.1 unknown token: invalid_token",
        "/userinfo",
        {},
        401,
        "invalid_token",
        auth="bad-bearer",
    ),
    Row(
        "RFC 6750 §2/§3.1 token in the header and the body: invalid_request",
        "/userinfo",
        {"access_token": ACCESS},
        400,
        "invalid_request",
        auth="bearer",
    ),
]

ROWS = TOKEN_ROWS + AUTHORIZE_ROWS + REVOKE_ROWS + INTROSPECT_ROWS + USERINFO_ROWS


class RealValues(dict):  # type: ignore[type-arg]
    """The placeholders' real values, each made on first use (a sign-in costs time)."""

    def __init__(self, provider, rp) -> None:
        super().__init__({"<client_id>": rp.client_id})
        self.provider = provider
        self.rp = rp
        self.email = provider.new_user()[1]

    def __missing__(self, key: str) -> str:
        provider, rp = self.provider, self.rp
        rp.scope = "openid offline_access"
        if key == CODE:
            value = rp.sign_in(Browser(provider.url), self.email, PASSWORD)["code"]
        elif key in (REFRESH, ACCESS):
            tokens = rp.login_tokens(Browser(provider.url), self.email, PASSWORD)
            self[REFRESH], self[ACCESS] = tokens["refresh_token"], tokens["access_token"]
            return str(self[key])
        elif key == OTHER_CLIENTS_TOKEN:
            other = provider.new_client(refresh_tokens=True)
            other.scope = "openid offline_access"
            value = other.login_tokens(Browser(provider.url), self.email, PASSWORD)["refresh_token"]
        else:
            raise KeyError(key)
        self[key] = value
        return value

    def get(self, key, default=None):  # type: ignore[override]
        try:
            return self[key]
        except KeyError:
            return default


@pytest.fixture()
def signed_in(provider, rp):
    return RealValues(provider, rp)


def _fill(value: Any, real: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_fill(v, real) for v in value]
    if isinstance(value, str) and value.startswith("<"):
        return real[value]
    return value


def _pairs(base: dict[str, Any], row: Row, real: dict[str, str]) -> list[tuple[str, str]]:
    merged = {**base, **row.params}
    pairs: list[tuple[str, str]] = []
    for name, value in merged.items():
        value = _fill(value, real)
        if callable(value):
            value = value()
        if value is MISSING:
            continue
        for one in value if isinstance(value, list) else [value]:
            pairs.append((name, one))
    return pairs


def _base(row: Row, rp, real) -> dict[str, Any]:
    if row.endpoint == "/token":
        return {
            "grant_type": "authorization_code",
            "code": CODE,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": lambda: rp.code_verifier,  # the verifier of the code's sign-in
        }
    if row.endpoint in ("/revoke", "/introspect"):
        return {"token": REFRESH if row.endpoint == "/revoke" else ACCESS}
    return {}


def _auth(row: Row, provider, rp, pairs, real):
    """(requests auth, extra headers, pairs) for the row's way of authenticating."""
    headers: dict[str, str] = {}
    if row.auth == "basic":
        return (rp.client_id, rp.secret), headers, pairs
    if row.auth == "post":
        extra = [] if any(k == "client_id" for k, _ in pairs) else [("client_id", rp.client_id)]
        return None, headers, pairs + extra + [("client_secret", rp.secret)]
    if row.auth == "bad-basic":
        return (rp.client_id, "wrong-secret-0123456789"), headers, pairs
    if row.auth == "unknown-basic":
        return ("no-such-client", "wrong-secret-0123456789"), headers, pairs
    if row.auth == "bad-post":
        return None, headers, [*pairs, ("client_id", rp.client_id), ("client_secret", "wrong")]
    if row.auth == "none":
        return None, headers, [*pairs, ("client_id", rp.client_id)]
    if row.auth == "public":
        public = provider.new_client(public=True)
        return None, headers, [*pairs, ("client_id", public.client_id)]
    if row.auth == "bearer":
        headers["Authorization"] = f"Bearer {real[ACCESS]}"
    if row.auth == "bad-bearer":
        headers["Authorization"] = "Bearer no-such-token"
    return None, headers, pairs


def _authorize_base(rp) -> dict[str, Any]:
    return {k: v[0] for k, v in parse_qs(urlsplit(rp.authorize_url()).query).items()}


@pytest.mark.covers("O1")
@pytest.mark.parametrize("row", ROWS, ids=[row.section for row in ROWS])
def test_O1_each_error_answers_the_code_its_rfc_names(provider, rp, signed_in, row):
    real = signed_in
    if row.endpoint == "/authorize":
        base = _authorize_base(rp)
        response = requests.get(
            provider.url + "/authorize",
            params=_pairs(base, row, real),
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if row.answer == "page":
            assert response.status_code == 400, (response.status_code, response.text[:300])
            assert "Location" not in response.headers
            assert 'id="error"' in response.text
            if row.error:
                assert f'data-error="{row.error}"' in response.text
            return
        assert response.status_code in (302, 303)
        assert response.headers["Location"].startswith(rp.redirect_uri + "?")
        got = redirect_params(response)
        assert got["error"] == row.error, got
        assert got["iss"] == provider.url
        assert got.get("state") == (row.params.get("state") or [base["state"]])[0]
        return

    auth, headers, pairs = _auth(row, provider, rp, _pairs(_base(row, rp, real), row, real), real)
    response = requests.post(
        provider.url + row.endpoint, data=pairs, auth=auth, headers=headers, timeout=TIMEOUT
    )
    assert response.status_code == row.status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers.get("Cache-Control") == "no-store"
    body = response.json()
    if row.error is None:
        if row.endpoint == "/introspect":
            inactive = row.params.get("token") in ("nope", OTHER_CLIENTS_TOKEN)
            assert body["active"] is not inactive, body
            if inactive:
                assert body == {"active": False}
        if row.endpoint == "/userinfo":
            # RFC 6750 §3.1: the Bearer challenge, without an error code.
            challenge = response.headers["WWW-Authenticate"]
            assert challenge.startswith("Bearer ") and "error=" not in challenge
            assert "error" not in body
        return
    assert body["error"] == row.error, body
    if row.endpoint == "/userinfo":
        if row.status == 401:  # RFC 6750 §3: the challenge names the error
            assert f'error="{row.error}"' in response.headers["WWW-Authenticate"]
        return
    if row.status == 401 and auth is not None:
        # RFC 6749 §5.2: Basic was used, so the 401 names the Basic scheme.
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
