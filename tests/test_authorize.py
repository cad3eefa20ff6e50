"""O1, O2, L1: the authorization endpoint — errors, prompt, max_age, hints, locales."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import time_machine

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import link_of
from tests.helpers import redirect_params
from tests.helpers import tx_of


def _authorize(browser, rp, **params):
    url = rp.authorize_url(**params)
    return browser.session.get(url, allow_redirects=False, timeout=10)


def _raw_authorize(browser, provider, params):
    return browser.session.get(
        f"{provider.url}/authorize?{urlencode(params)}", allow_redirects=False, timeout=10
    )


def _valid_params(rp):
    url = rp.authorize_url()
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(
    "change",
    [
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "https://rp.example/callback/"},
        {"redirect_uri": "https://rp.example/callback?x=1"},
        {"redirect_uri": None},
        {"client_id": "no-such-client"},
        {"client_id": None},
    ],
)
def test_O1_untrusted_redirect_shows_error_page_and_never_redirects(provider, rp, change):
    params = {**_valid_params(rp), **change}
    params = {k: v for k, v in params.items() if v is not None}
    response = _raw_authorize(Browser(provider.url), provider, params)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert 'id="error"' in response.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),  # missing: RFC 6749 §4.1.2.1
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
        ({"claims": "{not json"}, "invalid_request"),
        ({"claims": '["id_token"]'}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"request_uri": "https://rp.example/req"}, "request_uri_not_supported"),
        ({"scope": "profile email"}, None),
    ],
)
def test_O1_bad_parameters_redirect_the_named_error_with_state_and_iss(provider, rp, change, error):
    params = {**_valid_params(rp), **change}
    params = {k: v for k, v in params.items() if v is not None}
    response = _raw_authorize(Browser(provider.url), provider, params)
    if error is None:
        # Without openid this is plain OAuth 2.0: still a valid request, sent to login.
        assert response.status_code == 200 and 'id="password-form"' in response.text
        return
    got = redirect_params(response)
    assert response.headers["Location"].startswith(rp.redirect_uri + "?")
    assert got["error"] == error
    assert got["state"] == params["state"]
    assert got["iss"] == provider.url


def test_O1_pkce_opt_out_for_a_legacy_confidential_client(provider, user):
    _user_id, email = user
    legacy = provider.new_client(require_pkce=False)
    params = {
        k: v
        for k, v in _valid_params(legacy).items()
        if k not in ("code_challenge", "code_challenge_method")
    }
    browser = Browser(provider.url)
    page = browser.follow(_raw_authorize(browser, provider, params))
    callback = redirect_params(
        browser.submit(page, "password-form", email=email, password=PASSWORD)
    )
    tokens = legacy.token_request(
        {
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": legacy.redirect_uri,
        }
    )
    assert tokens["_status"] == 200, tokens


def test_O1_prompt_none_without_session_is_login_required(provider, rp):
    got = redirect_params(_authorize(Browser(provider.url), rp, prompt="none"))
    assert got["error"] == "login_required" and got["iss"] == provider.url


def test_O1_session_answers_next_request_silently_and_prompt_login_forces_password(
    provider, rp, user
):
    user_id, email = user
    browser = Browser(provider.url)
    first = rp.login_tokens(browser, email, PASSWORD)
    auth_time = rp.id_token_claims(first["id_token"])["auth_time"]

    silent = redirect_params(_authorize(browser, rp, prompt="none"))
    assert "code" in silent
    again = rp.exchange(silent["code"])
    assert rp.id_token_claims(again["id_token"])["auth_time"] == auth_time

    plain = redirect_params(_authorize(browser, rp))
    assert "code" in plain

    forced = browser.follow(_authorize(browser, rp, prompt="login"))
    assert forced.status_code == 200 and 'id="password-form"' in forced.text
    # auth_time counts whole seconds: the new sign-in happens a few seconds later.
    with time_machine.travel(timedelta(seconds=5), tick=True):
        callback = redirect_params(
            browser.submit(forced, "password-form", email=email, password=PASSWORD)
        )
        later = rp.exchange(callback["code"])
        assert rp.id_token_claims(later["id_token"])["auth_time"] > auth_time


def test_O1_max_age(provider, rp, user):
    _user_id, email = user
    browser = Browser(provider.url)
    rp.login_tokens(browser, email, PASSWORD)
    assert "code" in redirect_params(_authorize(browser, rp, prompt="none", max_age="3600"))
    # max_age=0: any earlier sign-in is too old, once a second has passed (whole seconds).
    with time_machine.travel(timedelta(seconds=5), tick=True):
        got = redirect_params(_authorize(browser, rp, prompt="none", max_age="0"))
        assert got["error"] == "login_required"
        page = browser.follow(_authorize(browser, rp, max_age="0"))
        assert 'id="password-form"' in page.text


def test_O1_id_token_hint_for_another_user_needs_a_new_login(provider, rp):
    _a, email_a = provider.new_user()
    _b, email_b = provider.new_user()
    tokens_b = rp.login_tokens(Browser(provider.url), email_b, PASSWORD)
    browser = Browser(provider.url)
    tokens_a = rp.login_tokens(browser, email_a, PASSWORD)
    same = redirect_params(
        _authorize(browser, rp, prompt="none", id_token_hint=tokens_a["id_token"])
    )
    assert "code" in same
    other = redirect_params(
        _authorize(browser, rp, prompt="none", id_token_hint=tokens_b["id_token"])
    )
    assert other["error"] == "login_required"


def test_L1_login_hint_prefills_and_ui_locales_picks_english(provider, rp):
    browser = Browser(provider.url)
    page = browser.follow(_authorize(browser, rp, login_hint="someone@example.jp"))
    assert 'value="someone@example.jp"' in page.text
    assert '<html lang="ja">' in page.text and "ログイン" in page.text
    english = Browser(provider.url).follow(
        _authorize(Browser(provider.url), rp, ui_locales="fr en-GB")
    )
    english = Browser(provider.url)
    page = english.follow(_authorize(english, rp, ui_locales="fr en-GB"))
    assert '<html lang="en">' in page.text and "Forgot your password?" in page.text


def test_L1_login_page_has_every_entry_point(provider, rp):
    browser = Browser(provider.url)
    page = browser.follow(_authorize(browser, rp))
    for element in (
        'id="email"',
        'id="password"',
        'id="forgot"',
        'id="account-menu"',
        'id="broker-google"',
        'id="broker-facebook"',
        'id="broker-microsoft"',
        'id="broker-daccount"',
        'id="broker-ad"',
        'name="viewport"',
    ):
        assert element in page.text, element
    broker = browser.get(link_of(page, "broker-google"))
    assert broker.status_code == 200 and 'id="not-available"' in broker.text


def test_O2_later_step_cannot_be_requested_directly(provider, rp, user):
    browser = Browser(provider.url)
    page = browser.follow(_authorize(browser, rp))
    tx = tx_of(page)
    finish = browser.session.get(
        f"{provider.url}/login/finish?tx={tx}", allow_redirects=False, timeout=10
    )
    assert finish.status_code == 303
    assert "/login?tx=" in finish.headers["Location"]
    # Another browser cannot use this transaction at all.
    stranger = Browser(provider.url).session.get(f"{provider.url}/login?tx={tx}", timeout=10)
    assert stranger.status_code == 400 and "login_expired" in stranger.text


def test_O2_a_double_submitted_password_form_issues_one_code(provider, rp, user):
    """The password POST finishes the sign-in itself when nothing else is due; of parallel
    submissions of one form (a double click), one takes the transaction and gets the code,
    the others are told the sign-in is over (the transaction is single-use)."""
    _user_id, email = user
    browser = Browser(provider.url)
    page = browser.follow(_authorize(browser, rp))
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    data = {**form.fields, "email": email, "password": PASSWORD}
    _assert_one_code_of_parallel_posts(browser, f"{provider.url}/login", data)


def _assert_one_code_of_parallel_posts(browser: Browser, url: str, data: dict) -> None:
    """Four submissions of one form at once: one gets the code, the others are told the
    sign-in is over (the transaction is single-use)."""
    start = threading.Barrier(4)

    def submit(_: int):
        start.wait(10)
        return browser.session.post(url, data=data, allow_redirects=False, timeout=30)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(submit, range(4)))
    coded = [a for a in answers if "code=" in a.headers.get("Location", "")]
    assert len(coded) == 1 and coded[0].status_code == 302
    others = [a for a in answers if a is not coded[0]]
    assert all(a.status_code == 400 and "login_expired" in a.text for a in others)


def test_O1_untrusted_client_asks_consent_and_deny_is_access_denied(provider, user):
    _user_id, email = user
    rp = provider.new_client(trusted=False)
    browser = Browser(provider.url)
    page = browser.follow(_authorize(browser, rp))
    consent = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert consent.status_code == 200 and 'id="scopes"' in consent.text
    denied = redirect_params(browser.submit(consent, decision="deny"))
    assert denied["error"] == "access_denied" and denied["iss"] == provider.url
    # Denying signs nobody in.
    got = redirect_params(_authorize(browser, rp, prompt="none"))
    assert got["error"] == "login_required"
    page = browser.follow(_authorize(browser, rp))
    consent = browser.submit(page, "password-form", email=email, password=PASSWORD)
    allowed = redirect_params(browser.submit(consent, decision="allow"))
    assert rp.exchange(allowed["code"])["_status"] == 200
    # Signed in now, but prompt=none cannot consent silently for an untrusted client.
    got = redirect_params(_authorize(browser, rp, prompt="none"))
    assert got["error"] == "consent_required"
    # Without prompt=none the consent page comes back without a new password, in answer to
    # the authorization request itself.
    consent = _authorize(browser, rp)
    assert consent.status_code == 200 and 'id="scopes"' in consent.text
    assert 'action="/login/consent"' in consent.text
    allowed = redirect_params(browser.submit(consent, decision="allow"))
    assert rp.exchange(allowed["code"])["_status"] == 200


#: What idp/web.py sets on every page (and HSTS with secure cookies).
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cache-Control",
    "Strict-Transport-Security",
)


def test_O1_L1_the_authorization_request_answers_with_the_password_page(provider, rp, user):
    """No redirect to /login (one round trip less, issue 13): the authorization request
    answers with the password page of its transaction, whose form posts to the login step;
    the page carries the same security headers as that step's own URL, binds the browser as
    the redirect did, and a wrong password is shown again at /login, from where the sign-in
    goes on."""
    _user_id, email = user
    browser = Browser(provider.url)
    page = _authorize(browser, rp)
    assert page.status_code == 200, page.headers.get("Location")
    assert urlsplit(page.url).path == "/authorize"
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    assert form.method == "post" and form.action == "/login"
    assert form.fields["csrf_token"] and form.fields["tx"]
    assert "idp_browser" in page.cookies
    # The same page at the login step's own URL: the same headers.
    step = browser.session.get(
        f"{provider.url}/login?tx={form.fields['tx']}", allow_redirects=False, timeout=10
    )
    assert step.status_code == 200 and 'id="password-form"' in step.text
    for name in SECURITY_HEADERS:
        assert page.headers.get(name) == step.headers.get(name), name
    assert page.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    # The form without its CSRF token is refused.
    forged = browser.session.post(
        f"{provider.url}/login",
        data={"tx": form.fields["tx"], "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert forged.status_code == 400
    wrong = browser.submit(page, "password-form", email=email, password="Not-The-Password-1")
    assert wrong.status_code == 401 and urlsplit(wrong.url).path == "/login"
    assert 'action="/login"' in wrong.text
    callback = redirect_params(
        browser.submit(wrong, "password-form", email=email, password=PASSWORD)
    )
    assert callback["state"] == rp.state and callback["iss"] == provider.url
    assert rp.exchange(callback["code"])["_status"] == 200


def test_O1_L1_the_language_switch_of_the_password_page_at_authorize_goes_on_in_that_language(
    provider, user
):
    """The switch links to the authorization request with ``lang``: a new transaction in the
    language chosen (over the client's ``ui_locales``), whose sign-in goes on in it (the
    consent page too)."""
    _user_id, email = user
    rp = provider.new_client(trusted=False)
    browser = Browser(provider.url)
    page = _authorize(browser, rp, ui_locales="ja")
    assert page.status_code == 200 and '<html lang="ja">' in page.text
    switch = link_of(page, "lang-en")
    assert urlsplit(switch).path == "/authorize" and "lang=en" in switch
    english = browser.session.get(switch, allow_redirects=False, timeout=10)
    assert english.status_code == 200 and '<html lang="en">' in english.text
    assert 'action="/login"' in english.text and "Forgot your password?" in english.text
    assert tx_of(english) != tx_of(page)
    consent = browser.submit(english, "password-form", email=email, password=PASSWORD)
    assert consent.status_code == 200 and "Allow access" in consent.text
    callback = redirect_params(browser.submit(consent, decision="allow"))
    assert callback["state"] == rp.state and rp.exchange(callback["code"])["_status"] == 200


def test_O1_an_authorization_request_sent_by_post_is_redirected_to_the_login_step(provider, rp):
    """A POSTed authorization request (OIDC Core §3.1.2.1) has no query for the page's
    language switch to keep: it is sent on to the login step's own URL, as before."""
    response = Browser(provider.url).session.post(
        f"{provider.url}/authorize", data=_valid_params(rp), allow_redirects=False, timeout=10
    )
    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/login"


def _consent_page(provider, browser, email):
    """The consent page of an untrusted client's sign-in (after the password), and the
    client."""
    rp = provider.new_client(trusted=False)
    page = _authorize(browser, rp)
    consent = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert consent.status_code == 200 and 'action="/login/consent"' in consent.text
    return rp, consent


def test_O2_a_double_submitted_consent_form_issues_one_code(provider, user):
    """The consent POST takes the transaction out of the store at once (its every answer
    ends it): of parallel submissions of one form, one gets the code, the others are told
    the sign-in is over (the transaction is single-use)."""
    _user_id, email = user
    browser = Browser(provider.url)
    _rp, consent = _consent_page(provider, browser, email)
    form = next(f for f in forms_in(consent.text) if f.action == "/login/consent")
    data = {**form.fields, "decision": "allow"}
    _assert_one_code_of_parallel_posts(browser, f"{provider.url}/login/consent", data)


def test_O2_a_consent_form_posted_by_another_browser_leaves_the_sign_in_to_its_own(provider, user):
    """Another browser that posts the consent form with this transaction's id is refused,
    and the transaction stays this browser's: its Allow still signs it in."""
    _user_id, email = user
    browser = Browser(provider.url)
    rp, consent = _consent_page(provider, browser, email)
    tx = tx_of(consent)
    stranger = Browser(provider.url)
    # The stranger's own sign-in page (at another client), for a CSRF token.
    own = stranger.get(provider.new_client().authorize_url())
    token = next(f for f in forms_in(own.text) if f.id == "password-form").fields["csrf_token"]
    refused = stranger.session.post(
        f"{provider.url}/login/consent",
        data={"csrf_token": token, "tx": tx, "decision": "deny"},
        allow_redirects=False,
        timeout=10,
    )
    assert refused.status_code == 400 and "login_expired" in refused.text
    callback = redirect_params(browser.submit(consent, decision="allow"))
    assert callback["state"] == rp.state and rp.exchange(callback["code"])["_status"] == 200


def test_O2_a_consent_form_posted_out_of_turn_leaves_the_sign_in_going_on(provider, user):
    """The consent form posted before the password (the step guard sends the browser to the
    password page) neither consents nor ends the transaction: the sign-in goes on from the
    password to the consent page."""
    _user_id, email = user
    rp = provider.new_client(trusted=False)
    browser = Browser(provider.url)
    page = _authorize(browser, rp)
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    early = browser.session.post(
        f"{provider.url}/login/consent",
        data={"csrf_token": form.fields["csrf_token"], "tx": tx_of(page), "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    assert early.status_code == 303
    assert urlsplit(early.headers["Location"]).path == "/login"
    consent = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert consent.status_code == 200 and 'id="scopes"' in consent.text
    callback = redirect_params(browser.submit(consent, decision="allow"))
    assert callback["state"] == rp.state and rp.exchange(callback["code"])["_status"] == 200
