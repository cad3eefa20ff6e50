"""Issue 14: every end page says where to go next with a real link (back to the service, the
account menu, or sign in again), and that link never leads off to a URL taken from the request:
only our own routes and the configured ``IDP_SERVICE_URL`` (unset: our home page)."""

from __future__ import annotations

import re
from types import SimpleNamespace as NS
from typing import Any

import pytest
from flask import render_template

from idp.config import PROJECT_ROOT
from idp.config import ConfigError
from idp.config import load_settings
from idp.models import User
from idp.users.links import create_link
from tests.conftest import PASSWORD
from tests.conftest import _serve
from tests.conftest import build_provider
from tests.helpers import Browser

TEMPLATES = PROJECT_ROOT / "templates"
SERVICE = "https://worksdrive.example/files"
TX = NS(id="tx-1", target="service")
USER = NS(id="u-1", email="taro@example.jp", name="Taro", login_method="password")
LABELS = {"password": "Password", "google": "Google"}
IDENTITY = NS(provider="google", email="taro@gmail.example")

#: Every end page and the contexts it is rendered with (each branch that changes the way on).
END_PAGES: dict[str, list[dict[str, Any]]] = {
    "login/logged_out.html": [{}],
    "login/error.html": [
        {"error": "login_expired"},
        {"error": "link_invalid", "reason": "expired", "purpose": "reset"},
        {"error": "link_invalid", "reason": "used", "purpose": "unlock"},
        {"error": "link_invalid", "reason": "void", "purpose": "invite"},
        {"error": "csrf"},
        {"error": "unavailable"},
        {"error": "http_404"},
        {"error": "server_error", "error_id": "abc"},
    ],
    "login/refused.html": [{"reason": "trial_ended"}, {"reason": "disabled"}],
    "login/too_many.html": [
        {"reason": "ip", "retry_after": 60, "minutes": 1},
        {"reason": "too_many_codes", "retry_after": 60, "minutes": 1, "back_url": "/login?tx=1"},
    ],
    "login/not_available.html": [{"tx": TX}],
    "login/not_registered.html": [{"tx": TX, "reason": "unknown"}],
    "login/upstream_error.html": [
        {"reason": "bad_state"},
        {"reason": "timeout", "tx": TX},
        {"reason": "access_denied", "tx": TX, "way_on": "mail_link"},
        {"reason": "access_denied", "tx": TX, "way_on": "account_menu"},
    ],
    "account/forgot_sent.html": [{}],
    "account/email_sent.html": [{"user": USER, "new_email": "new@example.jp", "days": 14}],
    "account/password_done.html": [{"user": USER}],
    "account/ad_setting_done.html": [
        {"user": USER, "connection": NS(kind="adfs", connection_id="c1"), "is_new": True}
    ],
    "account/login_method_done.html": [{"method": "google", "labels": LABELS}],
    "account/access_route_done.html": [{"new": "internet"}],
    "account/cancellation_done.html": [{"contract": NS(name="c"), "retention_days": 90}],
    "account/plan_done.html": [{"target": "basic"}],
    "account/two_factor_done.html": [{"new": "on"}],
    "account/forbidden.html": [{"reason": "not_permitted"}],
    "account/not_found.html": [{}],
    "admin/forbidden.html": [{"reason": "not_admin"}],
    "admin/not_found.html": [{}],
    "admin/refused.html": [{"target": USER, "message": "No."}],
    "links/reset_done.html": [{}],
    "links/unlock_done.html": [{}],
    "links/invite_done.html": [{}],
    "links/invite_taken.html": [{"user": USER, "identity": IDENTITY}],
    "links/method_change_done.html": [{"method": "google", "labels": LABELS}],
    "links/method_change_refused.html": [
        {"user": USER, "identity": IDENTITY, "reason": "identity_taken", "labels": LABELS},
        {
            "user": USER,
            "identity": IDENTITY,
            "reason": "facebook_rebind",
            "labels": LABELS,
            "retry_url": "/account/login-method",
        },
    ],
    "links/email_change_done.html": [{"new_email": "new@example.jp"}],
    "links/email_change_taken.html": [{"user": USER, "new_email": "new@example.jp"}],
    "links/not_me_done.html": [
        {"reverted": NS(is_email_restored=True, email="a@example.jp", reset_mailed_to="a@ex.jp")},
        {"reverted": NS(is_email_restored=False, email="a@example.jp", reset_mailed_to=None)},
    ],
}
#: Templates that are end pages by their name: a new one must be added above.
END_PAGE_NAMES = re.compile(r"(_done|_taken|_refused|_sent|forbidden|not_found|refused)\.html$")
MAIN = re.compile(r"<main\b[^>]*>(.*)</main>", re.S)
HREF = re.compile(r'<a\b[^>]*\bhref="([^"]+)"')


def _links_in_main(html: str) -> list[str]:
    main = MAIN.search(html)
    assert main, html[:300]
    return HREF.findall(main.group(1))


def _is_ours_or_service(href: str, service: str) -> bool:
    """Our own route (a path, not ``//host``) or the configured service: no open redirect."""
    href = href.replace("&amp;", "&")
    return href == service or (href.startswith("/") and not href.startswith(("//", "/\\")))


def test_every_end_page_template_is_checked():
    named = {
        p.relative_to(TEMPLATES).as_posix()
        for p in TEMPLATES.rglob("*.html")
        if END_PAGE_NAMES.search(p.name) and not p.name.startswith("_")
    }
    assert named - set(END_PAGES) == set()
    for page in END_PAGES:
        assert (TEMPLATES / page).exists(), page


@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize("page", sorted(END_PAGES))
def test_every_end_page_has_a_link_on(provider, page, locale):
    """Each variant of each end page has at least one link in its content, and every link
    there is one of our routes or the service's configured home page."""
    for context in END_PAGES[page]:
        with provider.app.test_request_context(f"/?lang={locale}"):
            provider.app.preprocess_request()
            html = render_template(page, **context)
        links = _links_in_main(html)
        assert links, (page, context)
        assert all(_is_ours_or_service(href, "/") for href in links), (page, links)


@pytest.mark.covers("O1")
def test_O1_signed_out_page_leads_back_to_the_service(provider, rp, user):
    _user_id, email = user
    browser = Browser(provider.url)
    rp.login_tokens(browser, email, PASSWORD)
    done = browser.submit(browser.get("/logout"), confirm="yes")
    assert 'id="logged-out"' in done.text
    assert 'id="to-service" class="button" href="/"' in done.text
    home = browser.get("/")
    assert home.status_code == 200 and 'id="account-menu"' in home.text


@pytest.mark.covers("K3", "K1")
@pytest.mark.parametrize("purpose", ["reset", "unlock"])
def test_K3_K1_password_changed_and_unlocked_lead_back_to_the_service(provider, purpose):
    user_id, _email = provider.new_user()
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        user.locked_at = user.created_at
        provider.db().session.commit()
        link = create_link(user, purpose)
    browser = Browser(provider.url)
    page = browser.get(link)
    fields = {"password": "Fresh-Start-2026", "password_confirmation": "Fresh-Start-2026"}
    done = browser.submit(page, **(fields if purpose == "reset" else {}))
    assert done.status_code == 200 and 'id="done"' in done.text
    assert 'id="to-service" class="button" href="/"' in done.text


@pytest.mark.covers("K3")
def test_K3_check_your_mail_says_what_to_do_and_offers_to_send_again(provider):
    browser = Browser(provider.url)
    sent = browser.submit(browser.get("/password/forgot"), email="nobody@example.jp")
    assert 'id="no-mail"' in sent.text and "迷惑メール" in sent.text
    assert 'id="send-again" href="/password/forgot"' in sent.text
    assert 'id="to-service"' in sent.text


def test_the_service_link_is_the_configured_service_url(services, tmp_path):
    node = build_provider("sqlite+sqlstore", tmp_path, services, service_url=SERVICE)
    server, thread = _serve(node.app)
    try:
        browser = Browser(node.url)
        for path in ("/password/forgot", "/links/no-such-token"):
            page = browser.get(path)
            if path == "/password/forgot":
                page = browser.submit(page, email="nobody@example.jp")
            assert f'id="to-service" class="button" href="{SERVICE}"' in page.text, path
        # A Host or query cannot move it: only the setting names the service.
        page = browser.get("/links/no-such-token?next=https://evil.example/")
        assert not [href for href in _links_in_main(page.text) if "evil" in href]
    finally:
        server.shutdown()
        thread.join(5)
        node.close()


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "//evil.example", "worksdrive.example"])
def test_the_service_url_must_be_an_http_url(bad):
    with pytest.raises(ConfigError, match="IDP_SERVICE_URL"):
        load_settings({"dev": True, "service_url": bad})


@pytest.mark.covers("U1")
@pytest.mark.parametrize(
    ("lang", "heading"),
    [("ja", "アカウント設定にログイン"), ("en", "Sign in to manage your account")],
)
def test_U1_the_menu_sign_in_has_its_own_heading_purpose_and_a_way_to_the_service(
    provider, rp, lang, heading
):
    menu_login = Browser(provider.url).get(f"/account/login?lang={lang}")
    assert f"<h1>{heading}</h1>" in menu_login.text
    assert 'id="account-login-purpose"' in menu_login.text
    assert 'id="to-service" href="/"' in menu_login.text
    assert 'href="/account/login"' not in menu_login.text  # not a link to itself
    service_login = Browser(provider.url).get(rp.authorize_url(ui_locales=lang))
    assert (
        heading not in service_login.text and 'id="account-login-purpose"' not in service_login.text
    )
