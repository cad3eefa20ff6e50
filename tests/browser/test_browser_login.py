"""L1, L2, K1, O1 in real Chromium: the storage frontend, the hosted login pages, the lock mail.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.browser.flows import claim
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.conftest import PASSWORD

#: One xdist worker runs the whole browser suite: one Chromium, one provider, one frontend.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

WRONG_PASSWORD = "Not-The-Right-One-7"
#: K1: this many wrong passwords in a row lock the account.
LOCK_AFTER = 10
LOCKED_JA = "このアカウントはロックされています"
WRONG_JA = "メールアドレスまたはパスワードが正しくありません"


def assert_password_claims(page: Any, user_id: str, email: str, started: float) -> None:
    assert page.locator("#user-email").inner_text() == email
    assert claim(page, "sub") == user_id
    assert claim(page, "email") == email
    assert claim(page, "amr") == ["pwd"]
    assert claim(page, "acr") == "urn:worksdrive:acr:1fa"
    # Between the start of the sign-in and now (whole seconds): an order, not a duration.
    assert int(started) <= claim(page, "auth_time") <= time.time()
    assert isinstance(claim(page, "contract_id"), str) and claim(page, "contract_id")


def test_L1_L2_O1_frontend_login_shows_claims_then_rp_logout(
    page, browser_provider, frontend, shot
):
    user_id, email = browser_provider.new_user()
    open_login_from_frontend(page, frontend, browser_provider, shot)

    # L1: Japanese by default.
    shot(page, "login-ja")
    assert page.get_attribute("html", "lang") == "ja"
    assert page.locator("#submit").inner_text().strip() == "ログイン"
    assert page.locator("#forgot").is_visible()
    assert page.locator("#account-menu").is_visible()
    for broker in ("google", "facebook", "microsoft", "daccount", "ad"):
        assert page.locator(f"#broker-{broker}").is_visible()

    # L2: email matched case-insensitively.
    started = time.time()
    submit_password(page, email.upper(), PASSWORD)
    wait_signed_in(page, frontend)
    shot(page, "frontend-claims")
    assert_password_claims(page, user_id, email, started)
    assert claim(page, "contract_id") == _contract_of(browser_provider, user_id)

    # O1: RP-initiated logout through the frontend's button (id_token_hint: no confirm page).
    page.click("#logout")
    page.wait_for_url(re.compile("^" + re.escape(frontend.url) + r"/(\?.*)?$"))
    page.locator("#signed-out").wait_for()
    shot(page, "frontend-signed-out-after-logout")
    assert page.locator("#signin").is_visible()
    assert page.locator("#claims").count() == 0

    # The provider session ended too: a new sign-in asks for the password again.
    page.click("#signin")
    page.wait_for_url(re.compile("^" + re.escape(browser_provider.url) + r"/authorize\b"))
    page.locator("#password-form").wait_for()
    shot(page, "login-again")
    assert page.locator("#password").is_visible()


def _contract_of(provider: Any, user_id: str) -> str:
    from idp.models import User
    from idp.models import db

    with provider.app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return str(user.contract_id)


def test_L1_language_switch_to_english(page, browser_provider, frontend, shot):
    user_id, email = browser_provider.new_user()
    open_login_from_frontend(page, frontend, browser_provider, shot)
    shot(page, "login-ja")
    assert page.locator("#lang-ja").count() == 0  # the current language is not a link

    page.click("#lang-en")
    page.locator("#password-form").wait_for()
    shot(page, "login-en")
    assert page.get_attribute("html", "lang") == "en"
    assert page.locator("h1").inner_text().strip() == "Sign in"
    assert page.locator("#submit").inner_text().strip() == "Sign in"
    assert page.locator("label[for=email]").inner_text().strip() == "Email address"
    assert page.locator("#lang-ja").is_visible()

    # The chosen language stays for the rest of the login (errors in English too) ...
    submit_password(page, email, WRONG_PASSWORD)
    shot(page, "login-en-error")
    assert page.get_attribute("html", "lang") == "en"
    assert "not correct" in page.locator("#error").inner_text()
    # ... and the login still completes.
    submit_password(page, email, PASSWORD)
    wait_signed_in(page, frontend)
    shot(page, "frontend-claims")
    assert claim(page, "sub") == user_id


def test_K1_lockout_unlock_mail_then_sign_in(page, browser_provider, frontend, mailbox, shot):
    user_id, email = browser_provider.new_user()
    open_login_from_frontend(page, frontend, browser_provider, shot)

    for attempt in range(1, LOCK_AFTER + 1):
        submit_password(page, email, WRONG_PASSWORD)
        error = page.locator("#error")
        assert error.is_visible(), f"attempt {attempt}: no error shown"
        shot(page, f"wrong-password-{attempt}")
        # Attempts 1-9: the usual message; the 10th locks and says so at once.
        expected = WRONG_JA if attempt < LOCK_AFTER else LOCKED_JA
        assert expected in error.inner_text(), f"attempt {attempt}"
        # The form keeps the email, never the password.
        assert page.input_value("#email") == email
        assert page.input_value("#password") == ""

    # Locked: the right password is refused too.
    submit_password(page, email, PASSWORD)
    shot(page, "right-password-while-locked")
    assert LOCKED_JA in page.locator("#error").inner_text()
    assert page.url.startswith(browser_provider.url)

    mail = mailbox.wait_for(to=email, subject_contains="アカウントロック")
    links = [
        link for link in mailbox.links_in(mail) if link.startswith(browser_provider.url + "/links/")
    ]
    assert len(links) == 1, mailbox.links_in(mail)

    # Opening the link only shows a confirm page; the POST unlocks.
    page.goto(links[0])
    page.locator("#submit").wait_for()
    shot(page, "unlock-confirm")
    assert email in page.locator("main").inner_text()
    assert _still_locked(browser_provider, user_id), "opening the link alone must not unlock"
    with page.expect_navigation():
        page.click("#submit")
    page.locator("#done").wait_for()
    shot(page, "unlock-done")
    assert "ロックを解除しました" in page.locator("#done").inner_text()
    assert not _still_locked(browser_provider, user_id)

    # Signing in through the frontend works again.
    open_login_from_frontend(page, frontend, browser_provider, shot, "frontend-after-unlock")
    shot(page, "login-after-unlock")
    started = time.time()
    submit_password(page, email, PASSWORD)
    wait_signed_in(page, frontend)
    shot(page, "frontend-claims")
    assert_password_claims(page, user_id, email, started)


def _still_locked(provider: Any, user_id: str) -> bool:
    from idp.models import User
    from idp.models import db

    with provider.app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return user.locked_at is not None


def test_L1_phone_viewport_login_page_has_no_horizontal_scroll(
    context_factory, browser_provider, frontend, shot
):
    context = context_factory(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    open_login_from_frontend(page, frontend, browser_provider, shot)
    shot(page, "login-phone")
    sizes = page.evaluate(
        "() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})"
    )
    assert sizes["inner"] == 390
    assert sizes["scroll"] <= sizes["inner"], sizes
    box = page.locator("#submit").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= sizes["inner"]
