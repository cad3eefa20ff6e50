"""O1: the ``claims`` request parameter (OIDC Core §5.5) releases nothing beyond the scopes the
user consented to (or, for a trusted first-party client, the scopes it registered and asked
for). The OP may leave requested claims out (§5.5); we leave out every claim no granted scope
covers, in the ID token and at userinfo alike."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import redirect_params

#: Everything an RP might name in ``claims``, none of it covered by ``scope=openid``.
PRIVATE_CLAIMS = ("email", "email_verified", "name", "contract_id", "role", "login_method")
CLAIMS_REQUEST = json.dumps(
    {
        "id_token": {name: {"essential": True} for name in PRIVATE_CLAIMS},
        "userinfo": {name: None for name in PRIVATE_CLAIMS},
    }
)


def _sign_in(provider, rp, email, scope):
    """The front channel like a browser: authorize, password, consent page when shown."""
    rp.scope = scope
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url(claims=CLAIMS_REQUEST))
    after_password = browser.submit(page, "password-form", email=email, password=PASSWORD)
    shown: list[str] = []
    if 'id="scopes"' in after_password.text:
        shown = re.findall(r'data-scope="([^"]*)"', after_password.text)
        after_password = browser.submit(after_password, decision="allow")
    callback = redirect_params(after_password)
    tokens = rp.exchange(callback["code"])
    assert tokens["_status"] == 200, tokens
    return shown, tokens


@pytest.mark.covers("O1")
@pytest.mark.parametrize("trusted", [False, True], ids=["consent-page", "trusted-client"])
def test_O1_claims_parameter_cannot_widen_the_consented_scopes(provider, trusted):
    user_id, email = provider.new_user(name="山田 太郎")
    rp = provider.new_client(trusted=trusted)
    shown, tokens = _sign_in(provider, rp, email, "openid")
    if not trusted:
        # The consent page asked for "your identity" only ...
        assert shown == ["openid"]
    # ... so neither the ID token nor userinfo carries anything else about the user.
    claims = rp.id_token_claims(tokens["id_token"], rp.nonce)
    assert claims["sub"] == user_id
    assert not set(PRIVATE_CLAIMS) & set(claims), claims
    userinfo = rp.userinfo(tokens["access_token"])
    assert userinfo.status_code == 200
    assert userinfo.json() == {"sub": user_id}


@pytest.mark.covers("O1")
@pytest.mark.parametrize("trusted", [False, True], ids=["consent-page", "trusted-client"])
def test_O1_claims_of_a_granted_scope_are_released_and_no_others(provider, trusted):
    user_id, email = provider.new_user()
    rp = provider.new_client(trusted=trusted)
    shown, tokens = _sign_in(provider, rp, email, "openid email")
    if not trusted:
        assert shown == ["openid", "email"]
    claims = rp.id_token_claims(tokens["id_token"], rp.nonce)
    assert claims["email"] == email and claims["email_verified"] in (True, False)
    assert not {"contract_id", "role", "login_method", "name"} & set(claims), claims
    userinfo = rp.userinfo(tokens["access_token"]).json()
    assert set(userinfo) == {"sub", "email", "email_verified"}, userinfo
    assert userinfo["sub"] == user_id


@pytest.mark.covers("O1")
def test_O1_the_consent_page_says_what_offline_access_means(provider):
    """Issue 14: `offline_access` is named by what it does (access kept without signing in
    again), in the user's language; "ログアウト中のアクセス" was not understood."""
    _user_id, email = provider.new_user()
    rp = provider.new_client(trusted=False)
    rp.scope = "openid offline_access"
    for lang, words in (
        ("ja", "ご利用中でないときも、再ログインなしでアクセスを維持"),
        ("en", "Keep access while you are not using it, without signing in again"),
    ):
        browser = Browser(provider.url)
        page = browser.get(rp.authorize_url(ui_locales=lang))
        consent = browser.submit(page, "password-form", email=email, password=PASSWORD)
        [item] = re.findall(r'<li data-scope="offline_access">([^<]*)</li>', consent.text)
        assert item == words
