"""The hooks every request passes (idp/web.py, idp/factory.py), made cheaper for issue 13
("Speed"): what a browser or relying party sees of them must not change. DESIGN.md,
Security defaults: strict CSP and ``frame-ancestors 'none'`` on every response, pages and
machine answers never cached, HSTS where cookies are secure; a view's own header wins."""

from __future__ import annotations

import hashlib
import os

import requests
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from idp.factory import create_app
from tests.helpers import Browser
from tests.helpers import forms_in

SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _assert_security_headers(response: requests.Response) -> None:
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    for name, value in SECURITY.items():
        assert response.headers[name] == value, name
    # Each once: a view's header and the default never both.
    assert response.raw.headers.getlist("X-Frame-Options") == ["DENY"]


def test_O1_every_answer_carries_the_security_headers(provider, rp):
    """A page, a page's 404, a machine endpoint's error and its success, the health check."""
    page = Browser(provider.url).get(rp.authorize_url())
    assert page.headers["Content-Type"].startswith("text/html")
    missing = requests.get(provider.url + "/no/such/page", timeout=10)
    refused = requests.post(
        provider.url + "/token", data={"grant_type": "client_credentials"}, timeout=10
    )
    assert missing.status_code == 404 and refused.status_code == 401
    for response in (page, missing, refused):
        _assert_security_headers(response)
        assert response.headers["Cache-Control"] == "no-store"
    health = requests.get(provider.url + "/healthz", timeout=10)
    _assert_security_headers(health)


def test_O1_a_views_own_cache_control_is_kept(provider):
    """The JWKS may be cached by relying parties (the view says so): not replaced by no-store."""
    jwks = requests.get(provider.url + "/jwks.json", timeout=10)
    assert jwks.status_code == 200
    assert jwks.raw.headers.getlist("Cache-Control") == ["public, max-age=300"]
    _assert_security_headers(jwks)


def test_hsts_only_where_cookies_are_secure(tmp_path):
    """Strict-Transport-Security on an https issuer's answers, none on a local http one."""
    secure = create_app(
        {"dev": True, "instance_dir": str(tmp_path / "s"), "issuer": "https://idp.example"}
    )
    local = create_app({"dev": True, "instance_dir": str(tmp_path / "l")})
    answer = secure.test_client().get("/no/such/page", base_url="https://idp.example")
    assert answer.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]
    assert "Strict-Transport-Security" not in local.test_client().get("/no/such/page").headers


def test_O1_token_endpoint_refuses_plain_http_off_the_loopback(provider, rp):
    """authlib's transport check reads the URL the provider builds of the request (scheme and
    host): plain http is refused for a host that is not the loopback (RFC 6749 §3.2: TLS)."""
    form = {"grant_type": "client_credentials", "scope": "admin:read"}
    auth = (rp.client_id, rp.secret)
    remote = requests.post(
        provider.url + "/token", data=form, auth=auth, headers={"Host": "idp.example"}, timeout=10
    )
    assert remote.status_code == 400 and remote.json()["error"] == "insecure_transport"
    local = requests.post(provider.url + "/token", data=form, auth=auth, timeout=10)
    assert local.json().get("error") != "insecure_transport"


def test_csrf_token_and_its_session_cookie_keep_flask_wtf_and_flask_formats(provider):
    """The CSRF token and its cookie session are signed with signers built once per secret
    key (idp/csrf.py), in Flask-WTF's and Flask's formats: a form opened before an upgrade
    still posts, and what a page gives now is read by the stock code."""
    app = provider.app
    stock_session = SecureCookieSessionInterface().get_signing_serializer(app)
    stock_tokens = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
    assert stock_session is not None

    # Made now: Flask loads the cookie, Flask-WTF's serializer the page's token.
    browser = Browser(provider.url)
    token = forms_in(browser.get("/password/forgot").text)[0].fields["csrf_token"]
    raw = stock_session.loads(browser.session.cookies["idp_csrf"])["csrf_token"]
    assert stock_tokens.loads(token) == raw

    # Made by the stock code (a browser's form from before): accepted; another raw token's
    # signed form is refused.
    raw = hashlib.sha1(os.urandom(64)).hexdigest()
    for signed, accepted in ((raw, True), (hashlib.sha1(b"other").hexdigest(), False)):
        old = requests.Session()
        old.cookies.set("idp_csrf", stock_session.dumps({"csrf_token": raw}))
        answer = old.post(
            provider.url + "/password/forgot",
            data={"csrf_token": stock_tokens.dumps(signed), "email": "nobody@example.invalid"},
            allow_redirects=False,
            timeout=10,
        )
        refused = answer.status_code == 400 and 'data-error="csrf"' in answer.text
        assert refused != accepted, (accepted, answer.status_code, answer.text[-300:])
