"""L10 (with P2, X4) in real Chromium: an invited user follows the link of the mail the SMTP
sink caught, registers a password (a weak one first), confirms, signs in at the storage
frontend with it; a used and an expired link each show the page that says how to ask for a
new invitation.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``; each test fails on
a console error, a script error, a failed request, an axe violation or untranslated text
(``watched``, tests/browser/conftest.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.browser.flows import LINK_DAYS
from tests.browser.flows import assert_fits_width
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import fill_password
from tests.browser.flows import heading
from tests.browser.flows import invite
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.clock import moved_clock

#: The same xdist group as the other browser tests: one Chromium, one provider, one frontend.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NEW_PASSWORD = "Welcome-Aboard-2026"
WEAK_PASSWORD = "short1A"
#: What the page of a link that can no longer be used tells an invited person to do.
ADVICE = "ご契約者または管理者に招待の再送を依頼してください"


def configured_upstreams(provider: Any) -> list[str]:
    """The upstreams the provider is configured for (Google, Facebook, ...), in the login
    page's order: those the registration page must offer."""
    from idp.links.invite import upstreams

    with provider.app.app_context():
        return [upstream.name for upstream in upstreams()]


def assert_dead_link_page(page: Any, reason_ja: str) -> None:
    """The page of a link that can no longer be used: why, and how to get a new one."""
    assert heading(page) == "エラーが発生しました"
    error = page.locator("#error")
    assert error.get_attribute("data-error") == "link_invalid"
    assert reason_ja in error.inner_text()
    assert ADVICE in page.locator("#link-advice").inner_text()
    assert page.locator("#password-form").count() == 0


@pytest.mark.covers("L10", "P2", "X4")
def test_L10_mail_link_registration_weak_then_good_password_confirm_done_then_sign_in(
    page, browser_provider, frontend, mailbox, snap
):
    user_id, email, owner, link = invite(browser_provider, mailbox)

    response = page.goto(link)
    assert response is not None and response.status == 200
    page.locator("#password-form").wait_for()
    snap("registration")
    assert page.get_attribute("html", "lang") == "ja"
    assert heading(page) == "WORKSDRIVE 利用者登録"
    assert email in page.locator("#invitee").inner_text()
    assert owner in page.locator("main").inner_text()
    assert "3種類以上" in page.locator("#password-rule").inner_text()
    assert page.locator("label[for=password_confirmation]").is_visible()
    # The methods: a password, and every upstream this provider has configured (none in the
    # browser suite's provider); no AD (the contract has no AD FS connection).
    buttons = page.locator("[id^=broker-]")
    shown = [buttons.nth(i).get_attribute("id") for i in range(buttons.count())]
    assert shown == [f"broker-{name}" for name in configured_upstreams(browser_provider)]
    assert page.locator("#broker-ad").count() == 0
    assert "先にログアウト" in page.locator("#upstream-advice").inner_text()

    # P2: a weak password is refused with the rule it breaks, right by the password fields.
    fill_password(page, WEAK_PASSWORD, WEAK_PASSWORD)
    click_and_wait(page, "#submit")
    snap("registration-weak-password")
    error = page.locator("#password-form #error")
    assert error.is_visible(), "no message in the password form"
    assert "8文字以上" in error.inner_text()
    confirmation_box = page.locator("#password_confirmation").bounding_box()
    error_box = error.bounding_box()
    assert confirmation_box and error_box
    assert 0 <= error_box["y"] - (confirmation_box["y"] + confirmation_box["height"]) < 40
    assert page.input_value("#password") == ""  # a password is never sent back

    fill_password(page, NEW_PASSWORD, NEW_PASSWORD)
    click_and_wait(page, "#submit")
    page.locator("#confirm-form").wait_for()
    snap("registration-confirm")
    assert heading(page) == "登録内容の確認"
    assert page.locator("#summary-email").inner_text().strip() == email
    assert page.locator("#summary-method").inner_text().strip() == "パスワード"
    assert page.locator("#summary-password").inner_text().strip() == "（表示しません）"
    assert NEW_PASSWORD not in page.content()

    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("registration-done")
    assert heading(page) == "利用者登録が完了しました。"
    assert NEW_PASSWORD not in page.content()

    # Normal sign-in at the storage frontend with the password just chosen.
    open_login_from_frontend(page, frontend, browser_provider, lambda _page, what: snap(what))
    snap("frontend-login")
    submit_password(page, email, NEW_PASSWORD)
    wait_signed_in(page, frontend)
    snap("frontend-claims")
    assert page.locator("#user-email").inner_text() == email
    assert claim(page, "sub") == user_id
    assert claim(page, "email") == email
    assert claim(page, "amr") == ["pwd"]

    # X4: the link was used; opened again, it says so and how to get a new one.
    response = page.goto(link)
    assert response is not None and response.status == 400
    snap("link-used")
    assert_dead_link_page(page, "このリンクはすでに使用されています。")


@pytest.mark.covers("L10", "X4")
def test_L10_X4_an_expired_registration_link_says_how_to_ask_for_a_new_one(
    page, browser_provider, mailbox, snap
):
    _user_id, _email, _owner, link = invite(browser_provider, mailbox)
    store = browser_provider.app.extensions["idp.store"]
    with moved_clock(store) as clock:
        clock.advance(timedelta(days=LINK_DAYS, seconds=1).total_seconds())
        response = page.goto(link)
        assert response is not None and response.status == 400
        snap("link-expired")
        assert_dead_link_page(page, "有効期限（14日間）が切れています")
        # The same page on a phone: the advice fits the screen.
        page.set_viewport_size({"width": 375, "height": 812})
        assert_fits_width(page)
        snap("link-expired-phone")
    assert re.search(r"/links/[^/]+$", page.url)
