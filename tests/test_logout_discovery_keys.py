"""O1: discovery, JWKS and key rotation, RP-initiated logout."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode

import requests

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import redirect_params

REQUIRED_DISCOVERY = (
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "response_types_supported",
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "scopes_supported",
    "token_endpoint_auth_methods_supported",
    "claims_supported",
    "end_session_endpoint",
    "revocation_endpoint",
    "introspection_endpoint",
    "code_challenge_methods_supported",
    "grant_types_supported",
    "authorization_response_iss_parameter_supported",
)


def test_O1_discovery_is_complete_and_true(provider):
    meta = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=10).json()
    for name in REQUIRED_DISCOVERY:
        assert name in meta, name
    assert meta["issuer"] == provider.url
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    for endpoint in (
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ):
        assert meta[endpoint].startswith(provider.url + "/")
    jwks = requests.get(meta["jwks_uri"], timeout=10).json()
    kinds = {(k["kty"], k["alg"]) for k in jwks["keys"]}
    assert {("RSA", "RS256"), ("EC", "ES256")} <= kinds
    assert all("d" not in k for k in jwks["keys"]), "private key material published"


def _kid(token):
    return json.loads(urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


def test_O1_key_rotation_keeps_old_tokens_verifiable(provider, rp, user):
    _user_id, email = user
    before = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    new_kid = provider.app.extensions["idp.keys"].rotate()
    after = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert _kid(after["id_token"]) == new_kid != _kid(before["id_token"])
    kids = {k["kid"] for k in requests.get(rp.metadata["jwks_uri"], timeout=10).json()["keys"]}
    assert {_kid(before["id_token"]), new_kid} <= kids
    rp.id_token_claims(before["id_token"])
    rp.id_token_claims(after["id_token"])


def test_O1_logout_with_id_token_hint_ends_session_and_redirects_with_state(provider, rp, user):
    _user_id, email = user
    browser = Browser(provider.url)
    tokens = rp.login_tokens(browser, email, PASSWORD)
    response = browser.session.get(
        rp.metadata["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
            "state": "bye-state",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://rp.example/bye?state=bye-state"
    got = redirect_params(
        browser.session.get(rp.authorize_url(prompt="none"), allow_redirects=False, timeout=10)
    )
    assert got["error"] == "login_required"


def test_O1_logout_unregistered_redirect_is_not_followed(provider, rp, user):
    _user_id, email = user
    browser = Browser(provider.url)
    tokens = rp.login_tokens(browser, email, PASSWORD)
    response = browser.session.get(
        rp.metadata["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 200 and 'id="logged-out"' in response.text


def test_O1_logout_without_hint_asks_for_confirmation(provider, rp, user):
    _user_id, email = user
    browser = Browser(provider.url)
    rp.login_tokens(browser, email, PASSWORD)
    page = browser.get("/logout")
    assert page.status_code == 200 and 'id="confirm-logout"' in page.text
    # Still signed in until confirmed.
    assert "code" in redirect_params(
        browser.session.get(rp.authorize_url(prompt="none"), allow_redirects=False, timeout=10)
    )
    done = browser.submit(page, confirm="yes")
    assert done.status_code == 200 and 'id="logged-out"' in done.text
    got = redirect_params(
        browser.session.get(rp.authorize_url(prompt="none"), allow_redirects=False, timeout=10)
    )
    assert got["error"] == "login_required"


def test_O1_logout_with_forged_hint_is_an_error_page(provider, rp):
    response = Browser(provider.url).session.get(
        rp.metadata["end_session_endpoint"],
        params={
            "id_token_hint": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
            "post_logout_redirect_uri": "https://rp.example/bye",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400 and "Location" not in response.headers
