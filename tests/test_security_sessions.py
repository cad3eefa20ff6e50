"""O1, U1: the SSO session cookie is a secret only the browser holds.

The ID token's ``sid`` goes to every relying party (and, through ``id_token_hint``, into
logout URLs); it must name the session without being able to open it. Each test plays the
attacker who holds what a relying party holds and shows that it gets a login page."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import redirect_params

SSO_COOKIE = "idp_sso"


def _with_sso_cookie(provider_url: str, value: str) -> Browser:
    """A fresh browser whose only cookie is ``idp_sso=value`` (what an attacker would set)."""
    browser = Browser(provider_url)
    browser.session.cookies.set(SSO_COOKIE, value)
    return browser


def _silent(browser: Browser, rp: RelyingParty) -> dict[str, str]:
    """``prompt=none``: a code if the browser has a session, ``login_required`` if not."""
    response = browser.session.get(rp.authorize_url(prompt="none"), allow_redirects=False)
    return redirect_params(response)


def _asks_for_login(browser: Browser, rp: RelyingParty) -> bool:
    page = browser.get(rp.authorize_url())
    return page.status_code == 200 and 'id="password-form"' in page.text


def _sign_in(provider: Any, rp: RelyingParty, email: str) -> tuple[Browser, dict[str, Any]]:
    browser = Browser(provider.url)
    tokens = rp.login_tokens(browser, email, PASSWORD)
    return browser, tokens


@pytest.mark.covers("O1")
def test_O1_sid_in_the_id_token_does_not_open_the_session(provider, rp, user):
    _user_id, email = user
    browser, tokens = _sign_in(provider, rp, email)
    sid = rp.id_token_claims(tokens["id_token"])["sid"]
    # What a relying party (or a log of logout URLs) holds opens nothing: a login page.
    attacker = _with_sso_cookie(provider.url, sid)
    assert _asks_for_login(attacker, rp)
    assert _silent(attacker, rp) == {"error": "login_required", "state": rp.state, "iss": rp.issuer}
    # The browser's own cookie is a working session (so the checks above mean something).
    cookie = browser.session.cookies.get(SSO_COOKIE)
    assert cookie and cookie != sid
    assert "code" in _silent(_with_sso_cookie(provider.url, cookie), rp)


@pytest.mark.covers("O1")
def test_O1_no_token_or_endpoint_answer_carries_the_session_cookie(provider, rp, user):
    _user_id, email = user
    browser, tokens = _sign_in(provider, rp, email)
    cookie = browser.session.cookies.get(SSO_COOKIE)
    sid = rp.id_token_claims(tokens["id_token"])["sid"]
    refreshed = rp.refresh(tokens["refresh_token"], scope=tokens["scope"])
    assert refreshed["_status"] == 200
    # OIDC Core §12.2: the refreshed ID token names the same session.
    assert rp.id_token_claims(refreshed["id_token"])["sid"] == sid
    seen = [
        tokens["id_token"],
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed["id_token"],
        rp.userinfo(tokens["access_token"]).text,
        str(rp.introspect(tokens["access_token"])),
        str(rp.id_token_claims(tokens["id_token"])),
    ]
    for text in seen:
        assert cookie not in text
    # Not even the store's keys are the cookie: they are its SHA-256.
    store = provider.app.extensions["idp.store"]
    assert store.get("sso:" + cookie) is None
    assert store.get("sso:" + hashlib.sha256(cookie.encode()).hexdigest()) is not None


@pytest.mark.covers("O1")
def test_O1_logout_by_hint_ends_the_session_behind_the_cookie(provider, rp, user):
    """RP-initiated logout finds the session through its sid: the old cookie is dead."""
    _user_id, email = user
    browser, tokens = _sign_in(provider, rp, email)
    cookie = browser.session.cookies.get(SSO_COOKIE)
    response = requests.get(
        rp.metadata["end_session_endpoint"],
        params={"id_token_hint": tokens["id_token"]},
        cookies={SSO_COOKIE: cookie},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 200 and 'id="logged-out"' in response.text
    # A copy of the cookie kept elsewhere (the logout response cleared the browser's) is void.
    assert _silent(_with_sso_cookie(provider.url, cookie), rp)["error"] == "login_required"


@pytest.mark.covers("O1")
def test_O1_a_second_sign_in_gets_its_own_sid_and_cookie(provider, rp, user):
    _user_id, email = user
    first_browser, first = _sign_in(provider, rp, email)
    second_browser, second = _sign_in(provider, rp, email)
    first_sid = rp.id_token_claims(first["id_token"])["sid"]
    second_sid = rp.id_token_claims(second["id_token"])["sid"]
    assert first_sid != second_sid
    assert first_browser.session.cookies.get(SSO_COOKIE) != second_browser.session.cookies.get(
        SSO_COOKIE
    )
    # SSO in the same browser reuses the session: same sid, no new cookie needed.
    again = _silent(first_browser, rp)
    tokens = rp.exchange(again["code"])
    assert rp.id_token_claims(tokens["id_token"])["sid"] == first_sid


@pytest.mark.covers("U1", "O1")
def test_U1_account_menu_sign_in_is_a_session_the_frontend_can_reuse(provider, rp, user):
    _user_id, email = user
    browser = Browser(provider.url)
    page = browser.get("/account/login")
    menu = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert menu.url == f"{provider.url}/account" and email in menu.text
    callback = _silent(browser, rp)
    tokens = rp.exchange(callback["code"])
    sid = rp.id_token_claims(tokens["id_token"])["sid"]
    assert _asks_for_login(_with_sso_cookie(provider.url, sid), rp)
    assert sid != browser.session.cookies.get(SSO_COOKIE)
