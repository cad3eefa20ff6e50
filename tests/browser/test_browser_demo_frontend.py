"""O1, X2, X7 in real Chromium (issue 14): the demo storage frontend's signed-in page on a
phone (375 px) and a desktop, in Japanese and English — claims readable, ``amr``/``acr`` in
words, the line-authentication fact — and "sign out everywhere" ending the provider's
sessions.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from idp import extensions
from tests.browser.conftest import Frontend
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import served_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
#: A claim value may take this many lines at 375 px (a 43-character sid takes two).
MOST_LINES = 3
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

#: Each claim value cell: its width, height and line height, as Chromium laid it out.
MEASURE_VALUES = """() => [...document.querySelectorAll('#claims td.value')].map(cell => {
  const box = cell.getBoundingClientRect();
  return {claim: cell.parentElement.dataset.claim, width: box.width, height: box.height,
          line: parseFloat(getComputedStyle(cell).lineHeight)};
})"""
HAS_HORIZONTAL_SCROLL = (
    "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
)


@pytest.fixture(scope="module")
def demo_frontend(browser_provider: Any) -> Iterator[Frontend]:
    """The frontend registered as ``idp demo`` registers it: with a back-channel logout URI
    (X7), so that the provider's "sign out everywhere" reaches it."""
    name = "WORKSDRIVE demo storage frontend"
    with served_frontend(browser_provider, name, backchannel_logout=True) as frontend:
        yield frontend


def sign_in(
    context_factory: Any, viewport: dict[str, int], frontend: Any, provider: Any, shot: Any
):
    _user_id, email = provider.new_user()
    page = context_factory(viewport=viewport).new_page()
    open_login_from_frontend(page, frontend, provider, shot)
    submit_password(page, email, PASSWORD)
    wait_signed_in(page, frontend)
    return page, email


def assert_readable(page: Any, width: int) -> None:
    """No horizontal scroll; every claim value wide enough to read, on one or a few lines."""
    assert not page.evaluate(HAS_HORIZONTAL_SCROLL)
    cells = page.evaluate(MEASURE_VALUES)
    assert {cell["claim"] for cell in cells} >= {"sub", "sid", "amr", "acr", "email", "exp"}
    for cell in cells:
        assert cell["width"] >= width * 0.6, cell
        assert round(cell["height"] / cell["line"]) <= MOST_LINES, cell


@pytest.mark.covers("O1", "X5")
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["375px", "1280px"])
def test_O1_signed_in_page_reads_well_in_both_languages(
    context_factory, browser_provider, frontend, shot, viewport
):
    page, email = sign_in(context_factory, viewport, frontend, browser_provider, shot)
    shot(page, "signed-in-ja")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert_readable(page, viewport["width"] if viewport is PHONE else 300)
    assert page.locator("#user-email").inner_text() == email
    assert page.locator('#amr li[data-amr="pwd"]').inner_text() == "pwd: パスワード"
    assert page.locator("#acr").get_attribute("data-value") == "urn:worksdrive:acr:1fa"
    assert "1要素" in page.locator("#acr").inner_text()
    # The line fact from the ID token: this sign-in came from the internet.
    assert page.locator("#line-auth").get_attribute("data-value") == "false"
    assert "インターネット" in page.locator("#line-auth").inner_text()

    with page.expect_navigation():
        page.click("#lang-en")
    page.locator("#claims").wait_for()
    shot(page, "signed-in-en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert_readable(page, viewport["width"] if viewport is PHONE else 300)
    assert page.locator('#amr li[data-amr="pwd"]').inner_text() == "pwd: Password"
    assert "One factor" in page.locator("#acr").inner_text()
    assert "from the internet" in page.locator("#line-auth").inner_text()
    # In English, the only Japanese left is the user's own name and the language switch.
    text = page.locator("main").inner_text()
    text = text.replace("日本語", "")
    for name in page.locator(".value").all_inner_texts():
        text = text.replace(name, "")
    assert not JAPANESE.search(text), JAPANESE.findall(text)


@pytest.mark.covers("O1", "X2", "X7")
def test_X7_sign_out_everywhere_from_the_frontend_ends_the_provider_sessions(
    context_factory, browser_provider, demo_frontend, shot
):
    frontend = demo_frontend
    page, email = sign_in(context_factory, PHONE, frontend, browser_provider, shot)
    # A second browser of the same person, in the account menu.
    laptop = context_factory(viewport=DESKTOP).new_page()
    laptop.goto(browser_provider.url + "/account/login")
    submit_password(laptop, email, PASSWORD)
    laptop.wait_for_url(browser_provider.url + "/account")

    with page.expect_navigation(url=re.compile(r".*/account/sessions\?lang=ja#end-all-form$")):
        page.click("#sign-out-everywhere")
    page.locator("#end-all").wait_for()
    shot(page, "provider-sessions-page")
    assert page.locator("li.session").count() == 2
    with page.expect_navigation(url=re.compile(r".*/login\?tx=.*")):
        page.click("#end-all")
    shot(page, "signed-out-everywhere")

    # The frontend was told (back-channel logout, delivered off the request thread): it
    # shows the sign-in button again. Both provider sessions are gone: the next sign-in
    # from the frontend asks for the password, and so does the laptop's account menu.
    extensions.backchannel.of(browser_provider.app).wait_idle()
    open_login_from_frontend(page, frontend, browser_provider, shot, "frontend-after")
    assert page.locator("#password").is_visible()
    laptop.goto(browser_provider.url + "/account")
    laptop.locator("#password-form").wait_for()
    shot(laptop, "laptop-asked-to-sign-in")
