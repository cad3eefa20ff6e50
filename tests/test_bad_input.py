"""Bad input on every endpoint gets a clear error, never a 500 or a stack trace (O1, L2)."""

from __future__ import annotations

import pytest
import requests

from tests.helpers import Browser

ENDPOINTS = [
    "/token",
    "/revoke",
    "/introspect",
    "/userinfo",
    "/authorize",
    "/login",
    "/login/consent",
    "/login/finish",
    "/password/forgot",
    "/links/abc",
    "/logout",
    "/login/broker/google",
]


def _ok(response):
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe\xfa=\xc3\x28&grant_type=\xff",
        b"grant_type=authorization_code&code=" + b"A" * 5000,
        b'{"grant_type": "refresh_token"}',
        b"%%%%&&&==",
    ],
)
@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "application/json", "text/plain; charset=latin-1"],
)
def test_garbage_posts_get_clear_errors(provider, path, body, content_type):
    response = requests.post(
        provider.url + path,
        data=body,
        headers={"Content-Type": content_type},
        timeout=10,
        allow_redirects=False,
    )
    _ok(response)


@pytest.mark.parametrize("path", ENDPOINTS)
def test_garbage_query_strings(provider, path):
    for query in (
        "?tx=%ff%fe",
        "?tx=" + "x" * 3000,
        "?client_id=%00&redirect_uri=%ff",
        "?response_type=code&client_id=a&client_id=b",
    ):
        _ok(requests.get(provider.url + path + query, timeout=10, allow_redirects=False))


def test_oversized_body_is_refused(provider):
    response = requests.post(
        provider.url + "/token",
        data=b"a=" + b"b" * 200_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"grant_type": "password", "username": "a", "password": "b"},
        {"grant_type": "client_credentials"},
        {"grant_type": "authorization_code"},
        {"grant_type": "refresh_token"},
        {
            "grant_type": "authorization_code",
            "code": "nope",
            "redirect_uri": "https://rp.example/callback",
        },
    ],
)
def test_token_endpoint_names_the_oauth_error(provider, rp, data):
    response = requests.post(
        rp.metadata["token_endpoint"], data=data, auth=(rp.client_id, rp.secret), timeout=10
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"] in (
        "invalid_request",
        "unsupported_grant_type",
        "invalid_grant",
        "unauthorized_client",
    )


def test_login_post_with_missing_fields_and_bad_csrf(provider, rp):
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    empty = browser.submit(page, "password-form", email="", password="")
    assert empty.status_code == 400 and 'id="error"' in empty.text
    forged = browser.submit(page, "password-form", csrf_token="forged", email="a@b.c", password="x")
    assert forged.status_code == 400 and 'data-error="csrf"' in forged.text
    huge = browser.submit(page, "password-form", email="a" * 400 + "@x.jp", password="p")
    assert huge.status_code == 400


def test_unknown_and_expired_transactions_explain_themselves(provider):
    response = Browser(provider.url).get("/login?tx=does-not-exist")
    assert response.status_code == 400 and "login_expired" in response.text


def test_unknown_link(provider):
    response = Browser(provider.url).get("/links/" + "x" * 43)
    assert response.status_code == 400 and 'data-error="link_invalid"' in response.text


def test_security_headers(provider, rp):
    response = Browser(provider.url).get(rp.authorize_url())
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"].startswith("text/html")
