"""O1, O2, L1, L2: the authorization code flow as a relying party sees it."""

from __future__ import annotations

import time

from tests.conftest import PASSWORD
from tests.helpers import Browser


def test_O1_L2_password_login_issues_tokens_with_claims(provider, rp, user):
    user_id, email = user
    browser = Browser(provider.url)
    started = time.time()
    tokens = rp.login_tokens(browser, email.upper(), PASSWORD)
    claims = rp.id_token_claims(tokens["id_token"], nonce=rp.nonce)
    assert claims["sub"] == user_id
    assert claims["email"] == email
    assert claims["email_verified"] is True
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:worksdrive:acr:1fa"
    # Between the start of the sign-in and now (whole seconds): an order, not a duration.
    assert int(started) <= claims["auth_time"] <= time.time()
    assert claims["login_method"] == "password"
    assert claims["role"] == "user"
    assert claims["contract_id"]
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["refresh_token"]
    info = rp.userinfo(tokens["access_token"])
    assert info.status_code == 200
    assert info.json()["sub"] == user_id
