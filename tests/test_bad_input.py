"""Bad input on every endpoint gets a clear error, never a 500 or a stack trace (O1, L2)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests

from tests.helpers import Browser
from tests.helpers import redirect_params

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


def test_oversized_form_gets_the_413_page_not_a_500(provider):
    """The error page does not read the body again (its language links once did: 500)."""
    response = requests.post(
        provider.url + "/password/forgot", data={"email": "a" * 200_000}, timeout=10
    )
    assert response.status_code == 413 and "<html" in response.text


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


# --- Malformed input that used to answer 500 (issue 9, defect 6) ---------------------------

NOT_UTF8_BASIC = "Basic " + base64.b64encode(b"\xff\xfe:\xc3\x28").decode()


@pytest.mark.covers("O1")
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
@pytest.mark.parametrize("authorization", [NOT_UTF8_BASIC, "Basic  ", "Basic \t"])
def test_O1_basic_credentials_that_cannot_be_read_are_invalid_client(provider, path, authorization):
    """RFC 6749 §5.2: failed Basic authentication is 401 invalid_client + WWW-Authenticate."""
    response = requests.post(
        provider.url + path,
        data={"grant_type": "authorization_code", "code": "x", "token": "x"},
        headers={"Authorization": authorization},
        timeout=10,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def _authorize_params(rp, **changes):
    params = {k: v[0] for k, v in parse_qs(urlsplit(rp.authorize_url()).query).items()}
    params.update(changes)
    return params


def _authorize(provider, params):
    return requests.get(
        provider.url + "/authorize", params=params, allow_redirects=False, timeout=10
    )


@pytest.mark.covers("O1")
def test_O1_deeply_nested_claims_parameter_is_invalid_request(provider, rp):
    deep = '{"id_token": ' + "[" * 5_000 + "]" * 5_000 + "}"
    response = requests.post(
        provider.url + "/authorize",
        data=_authorize_params(rp, claims=deep),
        timeout=10,
        allow_redirects=False,
    )
    assert redirect_params(response)["error"] == "invalid_request"


@pytest.mark.covers("O1")
@pytest.mark.parametrize("response_type", ['co"de', "co\\de", "co\tde", "コード", "code\x7f"])
def test_O1_unprintable_response_type_is_unsupported_not_500(provider, rp, response_type):
    """The client and redirect URI are valid, so the error goes to the client (RFC 6749
    §4.1.2.1) — without the value, whose characters error_description cannot hold."""
    got = redirect_params(_authorize(provider, _authorize_params(rp, response_type=response_type)))
    assert got["error"] == "unsupported_response_type"
    assert got["state"] == rp.state and got["iss"] == provider.url


@pytest.mark.covers("O1")
@pytest.mark.parametrize(
    "redirect_uri",
    [
        'https://rp.example/"callback',
        "https://rp.example\\callback",
        "https://rp.example/\tx",
        "https://例え.jp/callback",
    ],
)
def test_O1_unregistered_unprintable_redirect_uri_gets_a_page(provider, rp, redirect_uri):
    """RFC 6749 §4.1.2.1: an invalid redirect URI is never redirected to; the person sees
    the error page in their language."""
    response = _authorize(provider, _authorize_params(rp, redirect_uri=redirect_uri))
    assert response.status_code == 400 and "Location" not in response.headers
    assert 'data-error="invalid_request"' in response.text
    assert "サービス" in response.text  # the Japanese message, the default language


@pytest.mark.covers("O1")
@pytest.mark.parametrize("max_age", ["١٢", "²", "12 ", "-1", "1e3", "9" * 11])
def test_O1_max_age_takes_ascii_digits_only(provider, rp, max_age):
    got = redirect_params(_authorize(provider, _authorize_params(rp, max_age=max_age)))
    assert got["error"] == "invalid_request"


@pytest.mark.covers("O1")
@pytest.mark.parametrize(
    "host", ["a" * 64 + ".example", "a..b", ".", "a:b:c", "exa mple", "[::1", "a:0"]
)
@pytest.mark.parametrize("path", ["/healthz", "/no-such-page", "/login?tx=x", "/authorize"])
def test_O1_a_host_the_router_cannot_bind_is_400_with_a_page(provider, host, path):
    """RFC 9112 §3.2: an invalid Host is 400. The page still renders (its links come from
    the issuer, never from the Host header)."""
    response = requests.get(
        provider.url + path, headers={"Host": host}, timeout=10, allow_redirects=False
    )
    assert response.status_code == 400, response.text[:300]
    assert 'id="error"' in response.text and "Traceback" not in response.text
    assert 'href="/static/style.css' in response.text


@pytest.mark.covers("O1")
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect", "/userinfo"])
@pytest.mark.parametrize("host", ["a" * 64 + ".example", "a:b:c"])
def test_O1_machine_endpoints_answer_json_for_an_invalid_host(provider, path, host):
    """Not authlib's insecure_transport (it reads the request URL, Host included)."""
    response = requests.post(provider.url + path, headers={"Host": host}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
