"""X2, X7 in real Chromium: the account menu's "sessions and browsers" page, with a phone
signed in to the storage frontend and a laptop in the menu.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@pytest.mark.covers("X2", "X7", "U1")
def test_X2_X7_sessions_page_signs_out_the_phone_then_everywhere(
    context_factory, browser_provider, frontend, shot
):
    _user_id, email = browser_provider.new_user()
    phone = context_factory(user_agent=IPHONE, viewport={"width": 390, "height": 844}).new_page()
    open_login_from_frontend(phone, frontend, browser_provider, shot, "phone-frontend")
    submit_password(phone, email, PASSWORD)
    wait_signed_in(phone, frontend)

    laptop = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    laptop.goto(browser_provider.url + "/account/login")
    submit_password(laptop, email, PASSWORD)
    laptop.wait_for_url(browser_provider.url + "/account")
    shot(laptop, "menu")
    with laptop.expect_navigation():
        laptop.click("#item-sessions")
    laptop.locator("#sessions").wait_for()
    shot(laptop, "sessions-two-browsers")

    sessions = laptop.locator("li.session")
    assert sessions.count() == 2
    this = laptop.locator('li.session[data-this-browser="yes"]')
    assert this.count() == 1 and "このブラウザ" in this.inner_text()
    other = laptop.locator("li.session:not([data-this-browser])")
    assert "Mobile Safari / iOS" in other.inner_text()
    assert "127.0.0.x" in other.inner_text()

    with laptop.expect_navigation():
        other.locator("button").click()
    laptop.locator("#done").wait_for()
    shot(laptop, "phone-signed-out")
    assert laptop.locator("li.session").count() == 1
    # The phone's provider session is gone: the menu asks it to sign in.
    phone.goto(browser_provider.url + "/account")
    phone.locator("#password-form").wait_for()
    shot(phone, "phone-asked-to-sign-in")

    with laptop.expect_navigation(url=re.compile(r".*/login\?tx=.*")):
        laptop.click("#end-all")
    laptop.locator("#password-form").wait_for()
    shot(laptop, "signed-out-everywhere")
    laptop.goto(browser_provider.url + "/account")
    laptop.locator("#password-form").wait_for()
