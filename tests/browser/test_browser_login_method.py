"""M4, M6 in real Chromium: the account menu's change from Facebook to a password, and the
method-change mail's link page.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.models import User
from tests.conftest import build_provider
from tests.facebook_double import FacebookUser
from tests.facebook_double import app_scoped_id
from tests.facebook_double import run_facebook_double

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NEW_PASSWORD = "Sora-no-Iro-2027"


@pytest.fixture(scope="module")
def facebook() -> Iterator[Any]:
    with run_facebook_double() as double:
        yield double


@pytest.fixture(scope="module")
def fb_provider(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory, facebook) -> Any:
    """A provider with Facebook (the double has no login form: it signs ``next_user`` in)."""
    app = facebook.add_app()
    brokers = {
        "facebook": {
            "app_id": app.app_id,
            "app_secret": app.secret,
            "graph_version": "v21.0",
            "dialog_base": facebook.url,
            "graph_base": facebook.url,
        }
    }
    provider = build_provider(
        "sqlite+sqlstore",
        tmp_path_factory.mktemp("browser-method"),
        {"smtp": smtp_sink},
        brokers=brokers,
    )
    provider.facebook_app = app
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    server.server_close()
    provider.close()


def _next(page: Any, selector: str = "#submit") -> Any:
    with page.expect_navigation() as navigation:
        page.click(selector)
    return navigation.value


def test_M4_menu_facebook_to_password_then_the_login_page(page, fb_provider, facebook, shot):
    from idp.users.identities import link_identity

    person = FacebookUser("Chromium Keiyaku", "chromium-keiyaku@example.jp")
    contract_id = fb_provider.new_contract(two_factor=False)
    user_id, email = fb_provider.new_user(
        contract_id, password=None, method="facebook", role="contractor"
    )
    with fb_provider.app.app_context():
        issuer = f"facebook:{fb_provider.facebook_app.app_id}"
        subject = app_scoped_id(person, fb_provider.facebook_app.app_id)
        link_identity(Actor.cli(), user_id, "facebook", issuer, subject)
    facebook.next_user = person

    page.goto(fb_provider.url + "/account/login")
    page.locator("#broker-facebook").wait_for()
    shot(page, "menu-login")
    # Facebook appends "#_=_" to its redirect; the browser keeps the fragment.
    with page.expect_navigation(url=re.compile(re.escape(fb_provider.url) + r"/account(#_=_)?$")):
        page.click("#broker-facebook")
    shot(page, "menu")
    with page.expect_navigation(url=fb_provider.url + "/account/login-method"):
        page.click('a[data-item="login_method"]')
    shot(page, "login-method")
    assert page.locator("#current-method").get_attribute("data-method") == "facebook"
    assert page.locator("#broker-ad").count() == 0

    # P2: a weak password is refused with the rule's message, in Japanese.
    page.fill("#password", "weak")
    page.fill("#password_confirmation", "weak")
    page.evaluate("() => document.getElementById('password-form').noValidate = true")
    assert _next(page).status == 400
    shot(page, "weak-password")
    assert "8文字以上" in page.locator("#error").inner_text()

    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirmation", NEW_PASSWORD)
    assert _next(page).status == 200
    shot(page, "confirm")
    assert page.locator("#summary-email").inner_text() == email
    assert NEW_PASSWORD not in page.content()
    assert _next(page).status == 200
    shot(page, "done")
    assert page.locator("#new-method").get_attribute("data-method") == "password"

    # M4: then the login page; this browser was signed out with every other one.
    with page.expect_navigation(url=re.compile(re.escape(fb_provider.url) + r"/login\?")):
        page.click("#to-login")
    page.locator("#password-form").wait_for()
    shot(page, "login-page")
    page.fill("#email", email)
    page.fill("#password", NEW_PASSWORD)
    with page.expect_navigation(url=fb_provider.url + "/account"):
        page.click("#submit")
    shot(page, "menu-with-the-new-password")
    with fb_provider.app.app_context():
        assert fb_provider.db().session.get(User, user_id).login_method == "password"


def test_M6_link_page_changes_a_users_method(page, fb_provider, mailbox, shot):
    from idp.users.login_method import send_method_change_link

    user_id, email = fb_provider.new_user(password=None, method="google", name="Link Riyosha")
    with fb_provider.app.app_context():
        send_method_change_link(Actor.cli(), fb_provider.db().session.get(User, user_id))
    mail = mailbox.wait_for(to=email, subject_contains="ログイン方法の設定変更")
    (link,) = [u for u in mailbox.links_in(mail) if u.startswith(fb_provider.url + "/links/")]

    page.goto(link)
    page.locator("#password-form").wait_for()
    shot(page, "link-page")
    assert page.locator("#current-method").get_attribute("data-method") == "google"
    assert page.locator("#broker-facebook").count() == 1
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirmation", NEW_PASSWORD)
    assert _next(page).status == 200
    shot(page, "confirm")
    assert page.locator("#summary-password").inner_text() == "（表示しません）"
    assert _next(page).status == 200
    shot(page, "done")
    assert page.locator("#done").is_visible()

    page.goto(link)
    shot(page, "used-link")
    assert "すでに使用されています" in page.locator("#error").inner_text()
    with fb_provider.app.app_context():
        assert fb_provider.db().session.get(User, user_id).login_method == "password"
